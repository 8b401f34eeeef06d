#pragma once
// Shared helpers for the kafka integration tests (real broker at $SLUICE_KAFKA_BROKERS).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/producer.hpp"

namespace sluice::kafka::testing {

using namespace std::chrono_literals;

// Upper bound for every wait; a test hitting it fails with a message, it never passes.
inline constexpr std::chrono::milliseconds kWaitBound = 60s;

inline std::string Brokers() {
  const char* brokers = std::getenv("SLUICE_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    FAIL("SLUICE_KAFKA_BROKERS is not set: start the stack (deploy/local/stack up) and run "
         "eval \"$(deploy/local/stack env)\"");
  }
  return brokers;
}

// Unique per run and per call, so concurrent and repeated runs never share topics or groups.
inline std::string UniqueName(const std::string& what) {
  static std::mt19937_64 rng(std::random_device{}() ^
                             static_cast<std::uint64_t>(
                                 std::chrono::system_clock::now().time_since_epoch().count()));
  static const char* kDigits = "0123456789abcdef";
  std::string suffix;
  std::uint64_t r = rng();
  for (int i = 0; i < 12; ++i, r >>= 4) suffix += kDigits[r & 0xf];
  return "sluice-test-" + what + "-" + suffix;
}

inline Config BaseConfig() { return Config{{"bootstrap.servers", Brokers()}}; }

inline Config ConsumerConfig(const std::string& group) {
  Config c = BaseConfig();
  c.Set("group.id", group);
  c.Set("session.timeout.ms", "10000");
  return c;
}

// Creates topics on construction and deletes them (best effort) at the end of the test.
class TopicsGuard {
 public:
  explicit TopicsGuard(std::vector<TopicSpec> specs)
      : admin_(BaseConfig()), specs_(std::move(specs)) {
    admin_.CreateTopics(specs_, kWaitBound);
  }
  ~TopicsGuard() {
    std::vector<std::string> names;
    for (const auto& s : specs_) names.push_back(s.name);
    try {
      admin_.DeleteTopics(names, 30s);
    } catch (const std::exception& e) {
      WARN("could not delete test topics: " << e.what());
    }
  }
  Admin& admin() { return admin_; }

 private:
  Admin admin_;
  std::vector<TopicSpec> specs_;
};

// Polls until `count` records arrived; fails the test with what it got when the bound is hit.
inline std::vector<Message> ConsumeN(Consumer& consumer, std::size_t count,
                                     std::chrono::milliseconds bound = kWaitBound) {
  std::vector<Message> got;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (got.size() < count) {
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("waited " << bound.count() << " ms for " << count << " records, got " << got.size());
    }
    if (auto m = consumer.Poll(200ms)) got.push_back(std::move(*m));
  }
  return got;
}

inline Message Record(const std::string& topic, std::string key, std::string value) {
  Message m;
  m.topic = topic;
  m.partition = 0;
  m.key = std::move(key);
  m.value = std::move(value);
  return m;
}

inline void ProduceAll(const std::string& topic, int count, const std::string& prefix) {
  Producer producer(BaseConfig());
  for (int i = 0; i < count; ++i) {
    producer.Produce(Record(topic, "k" + std::to_string(i), prefix + std::to_string(i)));
  }
  producer.Flush(kWaitBound);
  REQUIRE(producer.TakeDeliveryFailures().empty());
  REQUIRE(producer.Stats().delivered == static_cast<std::uint64_t>(count));
}

}  // namespace sluice::kafka::testing

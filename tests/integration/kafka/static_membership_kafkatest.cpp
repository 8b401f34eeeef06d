// Static group membership (KIP-345, group.instance.id) through kafka::Consumer on the real
// broker: what a second process with the same instance id does to the first. (A restart after
// kill -9 getting its partitions back at once is tests/e2e/loans/static_membership_test.sh.)
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "kafka_test_support.hpp"

using namespace sluice::kafka;
using namespace sluice::kafka::testing;

namespace {

class CountingListener : public RebalanceListener {
 public:
  void OnAssigned(std::vector<TopicPartitionOffset>& partitions) override {
    owned += static_cast<int>(partitions.size());
  }
  void OnRevoked(const std::vector<TopicPartition>& partitions) override {
    owned -= static_cast<int>(partitions.size());
    ++revocations;
  }
  void OnLost(const std::vector<TopicPartition>& partitions) override {
    owned -= static_cast<int>(partitions.size());
    ++losses;
  }
  int owned = 0;
  int revocations = 0;
  int losses = 0;
};

void PollUntilOwns(Consumer& consumer, const CountingListener& listener, int partitions) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  while (listener.owned != partitions) {
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("timed out waiting to own " << partitions << " partitions (owns " << listener.owned << ")");
    }
    (void)consumer.Poll(50ms);
  }
}

}  // namespace

TEST_CASE("a second consumer with the same group.instance.id takes over and the first is fenced with one fatal error") {
  const std::string topic = UniqueName("static");
  TopicsGuard topics({{topic, 2, 1, {}}});
  Config config = ConsumerConfig(UniqueName("static-group"));
  config.Set("group.instance.id", "replica-0");

  CountingListener first_listener;
  Consumer first(config);
  first.Subscribe({topic}, &first_listener);
  PollUntilOwns(first, first_listener, 2);

  CountingListener second_listener;
  Consumer second(config);
  second.Subscribe({topic}, &second_listener);
  PollUntilOwns(second, second_listener, 2);

  // The first learns it was replaced at its next heartbeat: Poll throws, once, fatal.
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  bool fenced = false;
  while (!fenced) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("the first consumer was never fenced");
    try {
      (void)first.Poll(50ms);
    } catch (const KafkaError& e) {
      fenced = true;
      CHECK(e.IsFatal());
      CHECK(e.Code() == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID);
      CHECK_THAT(e.what(), Catch::Contains("two running processes share one instance id"));
    }
    (void)second.Poll(0ms);
  }
  // Closing the fenced consumer neither throws the same error again nor calls the listener:
  // its partitions are the second consumer's now.
  CHECK_NOTHROW(first.Close());
  CHECK(first_listener.revocations == 0);
  CHECK(first_listener.losses == 0);
  CHECK(second_listener.owned == 2);
  second.Close();
}

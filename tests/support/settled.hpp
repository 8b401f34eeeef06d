#pragma once
// Waits until no transaction is in doubt on a set of topics. A transactional commit returns to
// the producer once the coordinator has logged it; the commit markers reach the partitions a
// moment later. Until they do, a partition's last stable offset (the end a read_committed
// reader sees) is short of its high watermark, and a reader started right after the writer
// stopped can end before records that are committed. Call it once the writers have stopped:
// every partition then settles with its last stable offset equal to its high watermark.
// Header-only: the tests that use it link the kafka library.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"

namespace sluice::testing {

// True once every partition of `topics` has settled; false if `limit` passed first.
inline bool AwaitSettled(const kafka::Config& base, const std::vector<std::string>& topics,
                         std::chrono::seconds limit) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto with = [&](const char* isolation) {
    kafka::Config c = base;
    c.Set("group.id", "sluice-test-settled");
    c.Set("isolation.level", isolation);
    return c;
  };
  kafka::Consumer committed(with("read_committed"));
  kafka::Consumer uncommitted(with("read_uncommitted"));
  kafka::Admin admin(base);
  std::vector<kafka::TopicPartition> parts;
  for (const std::string& topic : topics) {
    const int count = admin.PartitionCount(topic, 30s);
    for (int p = 0; p < count; ++p) parts.push_back({topic, p});
  }
  for (const kafka::TopicPartition& p : parts) {
    while (committed.Watermarks(p, 10s).second != uncommitted.Watermarks(p, 10s).second) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
  }
  return true;
}

}  // namespace sluice::testing

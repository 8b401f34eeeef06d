// Produce/consume round trip: keys, values, headers and timestamps come back as sent.
#include <chrono>
#include <map>

#include "kafka_test_support.hpp"

using namespace sluice::kafka;
using namespace sluice::kafka::testing;

namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("a produce/consume round trip keeps keys, values, headers and timestamps") {
  const std::string topic = UniqueName("roundtrip");
  TopicsGuard topics({{topic, 1, 1, {}}});

  Message full;
  full.topic = topic;
  full.partition = 0;
  full.key = std::string("key-\0-1", 7);
  full.value = std::string("value \xff\x00 binary", 15);
  full.headers = {{"trace-id", std::string("t-1")},
                  {"nullable", std::nullopt},
                  {"dup", std::string("first")},
                  {"empty", std::string()},
                  {"dup", std::string("second")}};
  full.timestamp = {1'700'000'000'123, TimestampType::kCreateTime};

  Message tombstone;  // null key, null value, no headers, timestamp chosen by librdkafka
  tombstone.topic = topic;
  tombstone.partition = 0;

  Message empty_value;  // an empty value is not a tombstone
  empty_value.topic = topic;
  empty_value.partition = 0;
  empty_value.key = std::string("k3");
  empty_value.value = std::string();

  std::vector<DeliveryReport> reports;
  Producer producer(BaseConfig(), [&](const DeliveryReport& r) { reports.push_back(r); });
  const std::int64_t before = NowMs();
  producer.Produce(full);
  producer.Produce(tombstone);
  producer.Produce(empty_value);
  producer.Flush(kWaitBound);
  const std::int64_t after = NowMs();
  CHECK(producer.TakeDeliveryFailures().empty());
  CHECK(producer.Stats().delivered == 3);
  REQUIRE(reports.size() == 3);
  for (size_t i = 0; i < reports.size(); ++i) {
    CHECK(reports[i].Ok());
    CHECK(reports[i].offset == static_cast<std::int64_t>(i));
  }

  Consumer consumer(ConsumerConfig(UniqueName("roundtrip-group")));
  consumer.Subscribe({topic});
  const std::vector<Message> got = ConsumeN(consumer, 3);

  CHECK(got[0].topic == topic);
  CHECK(got[0].partition == 0);
  CHECK(got[0].offset == 0);
  CHECK(got[0].key == full.key);
  CHECK(got[0].value == full.value);
  CHECK(got[0].headers == full.headers);  // order, duplicates and the null value preserved
  CHECK(got[0].timestamp == full.timestamp);

  CHECK(got[1].offset == 1);
  CHECK_FALSE(got[1].key.has_value());
  CHECK_FALSE(got[1].value.has_value());
  CHECK(got[1].headers.empty());
  CHECK(got[1].timestamp.type == TimestampType::kCreateTime);
  CHECK(got[1].timestamp.ms >= before);
  CHECK(got[1].timestamp.ms <= after);

  CHECK(got[2].key == std::string("k3"));
  REQUIRE(got[2].value.has_value());
  CHECK(got[2].value->empty());
  consumer.Close();
}

TEST_CASE("records to several partitions come back per partition in order") {
  const std::string topic = UniqueName("partitions");
  TopicsGuard topics({{topic, 3, 1, {}}});
  Producer producer(BaseConfig());
  for (int i = 0; i < 30; ++i) {
    Message m = Record(topic, "key-" + std::to_string(i % 7), std::to_string(i));
    m.partition = kPartitionAny;  // partitioner hashes the key
    producer.Produce(m);
  }
  producer.Flush(kWaitBound);
  REQUIRE(producer.TakeDeliveryFailures().empty());

  Consumer consumer(ConsumerConfig(UniqueName("partitions-group")));
  consumer.Subscribe({topic});
  const std::vector<Message> got = ConsumeN(consumer, 30);
  std::map<std::string, int> partition_of_key;
  std::map<int, std::int64_t> last_offset;
  for (const Message& m : got) {
    // The same key always lands in the same partition, and offsets only grow per partition.
    auto [it, inserted] = partition_of_key.emplace(*m.key, m.partition);
    CHECK(it->second == m.partition);
    auto prev = last_offset.find(m.partition);
    if (prev != last_offset.end()) CHECK(m.offset > prev->second);
    last_offset[m.partition] = m.offset;
  }
  CHECK(last_offset.size() > 1);  // 7 keys over 3 partitions use more than one
  consumer.Close();
}

TEST_CASE("Produce waits out a full local queue instead of failing") {
  const std::string topic = UniqueName("queue-full");
  TopicsGuard topics({{topic, 1, 1, {}}});
  Config config = BaseConfig();
  config.Set("queue.buffering.max.messages", "5");  // tiny queue: QUEUE_FULL after 5 records
  config.Set("linger.ms", "5");
  Producer producer(config);
  for (int i = 0; i < 500; ++i) producer.Produce(Record(topic, "k", std::to_string(i)));
  producer.Flush(kWaitBound);
  CHECK(producer.TakeDeliveryFailures().empty());
  CHECK(producer.Stats().delivered == 500);

  // With no time to wait, a full queue is a retriable error.
  Producer blocked(config);
  bool queue_full = false;
  for (int i = 0; i < 100 && !queue_full; ++i) {
    try {
      blocked.Produce(Record(topic, "k", "x"), 0ms);
    } catch (const KafkaError& e) {
      CHECK(e.Code() == RD_KAFKA_RESP_ERR__QUEUE_FULL);
      CHECK(e.IsRetriable());
      queue_full = true;
    }
  }
  CHECK(queue_full);
  blocked.Flush(kWaitBound);
}

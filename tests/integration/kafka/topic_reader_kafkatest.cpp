// TopicReader against the real broker: every record of a plain multi-partition topic and
// nothing written after the reader started; read_committed through committed and aborted
// transactions, ending on commit/abort markers (whose offsets are never delivered) and in front
// of a transaction still open; empty topics and partitions; explicit start offsets and range
// ends (on markers too); following a partition with no end; the deadline; Consumer::Assign.
#include <algorithm>
#include <map>
#include <set>

#include "kafka_test_support.hpp"
#include "sluice/kafka/topic_reader.hpp"

using namespace sluice::kafka;
using namespace sluice::kafka::testing;

namespace {

using Clock = std::chrono::steady_clock;

// Everything a reader hands out, with the end reached (or not) within `bound`.
struct ReadResult {
  std::vector<Message> records;
  bool at_end = false;
};

ReadResult ReadAll(TopicReader& reader, std::chrono::milliseconds bound = kWaitBound) {
  ReadResult out;
  out.at_end = reader.ReadToEnd([&](const Message& m) { out.records.push_back(m); },
                                Clock::now() + bound);
  return out;
}

std::vector<std::string> Values(const std::vector<Message>& records) {
  std::vector<std::string> out;
  for (const auto& m : records) out.push_back(m.value.value_or("<null>"));
  return out;
}

std::vector<std::int64_t> Offsets(const std::vector<Message>& records) {
  std::vector<std::int64_t> out;
  for (const auto& m : records) out.push_back(m.offset);
  return out;
}

Message To(const std::string& topic, std::int32_t partition, std::string key,
           std::optional<std::string> value) {
  Message m;
  m.topic = topic;
  m.partition = partition;
  m.key = std::move(key);
  m.value = std::move(value);
  return m;
}

Config ReaderConfig(const std::string& isolation = "") {
  Config c = BaseConfig();
  if (!isolation.empty()) c.Set("isolation.level", isolation);
  return c;
}

Config TransactionalConfig() {
  Config c = BaseConfig();
  c.Set("transactional.id", UniqueName("reader-txn"));
  return c;
}

// One transaction of `values` on partition 0 of `topic`, committed or aborted.
void Transaction(Producer& producer, const std::string& topic,
                 const std::vector<std::string>& values, bool commit) {
  producer.BeginTransaction();
  for (const auto& v : values) producer.Produce(To(topic, 0, "k-" + v, v));
  if (commit) {
    producer.CommitTransaction(kWaitBound);
  } else {
    producer.Flush(kWaitBound);  // the records are in the log before the abort marker
    producer.AbortTransaction(kWaitBound);
  }
}

// Writes the layout the transactional tests rely on, to partition 0:
//   0-4 a0..a4 committed, 5 commit marker, 6-10 b0..b4 aborted, 11 abort marker,
//   12-14 c0..c2 committed, 15 commit marker, 16 d0 aborted, 17 abort marker (end 18).
// Checked with a read_uncommitted reader, which sees aborted records but no markers.
void WriteTransactions(const std::string& topic) {
  Producer producer(TransactionalConfig());
  producer.InitTransactions(kWaitBound);
  Transaction(producer, topic, {"a0", "a1", "a2", "a3", "a4"}, true);
  Transaction(producer, topic, {"b0", "b1", "b2", "b3", "b4"}, false);
  Transaction(producer, topic, {"c0", "c1", "c2"}, true);
  Transaction(producer, topic, {"d0"}, false);

  TopicReader uncommitted(ReaderConfig("read_uncommitted"), topic);
  const ReadResult all = ReadAll(uncommitted);
  REQUIRE(all.at_end);
  REQUIRE(Values(all.records) == std::vector<std::string>{"a0", "a1", "a2", "a3", "a4", "b0",
                                                          "b1", "b2", "b3", "b4", "c0", "c1",
                                                          "c2", "d0"});
  REQUIRE(Offsets(all.records) ==
          std::vector<std::int64_t>{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 16});
  REQUIRE(uncommitted.Ends().front().offset == 18);
}

}  // namespace

TEST_CASE("topic reader: every record of every partition, in order, and nothing written later") {
  const std::string topic = UniqueName("reader-plain");
  TopicsGuard topics({{topic, 3, 1, {}}});
  // Partition 0: 40 records, partition 1: 7, partition 2: none.
  {
    Producer producer(BaseConfig());
    for (int i = 0; i < 40; ++i) {
      Message m = To(topic, 0, "k" + std::to_string(i), "v" + std::to_string(i));
      m.headers = {{"h", std::string("x\0y", 3)}, {"null", std::nullopt}, {"h", "2"}};
      m.timestamp.ms = 1'600'000'000'000 + i;
      producer.Produce(m);
    }
    for (int i = 0; i < 7; ++i) {
      producer.Produce(To(topic, 1, "p1-" + std::to_string(i), std::nullopt));
    }
    producer.Flush(kWaitBound);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  }

  TopicReader reader(ReaderConfig(), topic);
  CHECK_FALSE(reader.AtEnd());
  CHECK(reader.Ends() == std::vector<TopicPartitionOffset>{{topic, 0, 40}, {topic, 1, 7},
                                                           {topic, 2, 0}});
  // Written after the reader started: past its end, never handed out.
  {
    Producer producer(BaseConfig());
    for (int p = 0; p < 3; ++p) producer.Produce(To(topic, p, "late", "late"));
    producer.Flush(kWaitBound);
  }
  const ReadResult got = ReadAll(reader);
  REQUIRE(got.at_end);
  CHECK(reader.AtEnd());
  REQUIRE(got.records.size() == 47);
  std::map<std::int32_t, std::vector<std::int64_t>> offsets;
  for (const Message& m : got.records) {
    CHECK(m.topic == topic);
    CHECK(m.value != std::optional<std::string>("late"));
    offsets[m.partition].push_back(m.offset);
    if (m.partition == 0) {
      CHECK(m.key == "k" + std::to_string(m.offset));
      CHECK(m.value == "v" + std::to_string(m.offset));
      CHECK(m.headers ==
            Headers{{"h", std::string("x\0y", 3)}, {"null", std::nullopt}, {"h", "2"}});
      CHECK(m.timestamp.ms == 1'600'000'000'000 + m.offset);
      CHECK(m.timestamp.type == TimestampType::kCreateTime);
    } else {
      CHECK_FALSE(m.value.has_value());  // a null value stays null
    }
  }
  std::vector<std::int64_t> expect0(40), expect1(7);
  for (int i = 0; i < 40; ++i) expect0[static_cast<std::size_t>(i)] = i;
  for (int i = 0; i < 7; ++i) expect1[static_cast<std::size_t>(i)] = i;
  CHECK(offsets[0] == expect0);
  CHECK(offsets[1] == expect1);
  CHECK(offsets.count(2) == 0);
  CHECK(reader.Positions() == std::vector<TopicPartitionOffset>{{topic, 0, 40}, {topic, 1, 7},
                                                                {topic, 2, 0}});
  // At its end, Read hands out nothing and returns at once.
  const auto t0 = Clock::now();
  CHECK(reader.Read([](const Message&) { FAIL("a record after the end"); }, 100, 5s) == 0);
  CHECK(Clock::now() - t0 < 1s);

  // A new reader sees the late records too: its end is taken when it starts.
  TopicReader later(ReaderConfig(), topic);
  CHECK(ReadAll(later).records.size() == 50);
}

TEST_CASE("topic reader: read_committed skips aborted records and reaches the end behind markers") {
  const std::string topic = UniqueName("reader-txn");
  TopicsGuard topics({{topic, 1, 1, {}}});
  WriteTransactions(topic);

  TopicReader reader(ReaderConfig(), topic);  // read_committed by default
  CHECK(reader.Ends().front().offset == 18);
  // The last delivered record is at 14; offsets 15-17 (marker, aborted, marker) never arrive,
  // so only end of partition can tell the reader it is done.
  const ReadResult got = ReadAll(reader, 20s);
  REQUIRE(got.at_end);
  CHECK(Values(got.records) ==
        std::vector<std::string>{"a0", "a1", "a2", "a3", "a4", "c0", "c1", "c2"});
  CHECK(Offsets(got.records) == std::vector<std::int64_t>{0, 1, 2, 3, 4, 12, 13, 14});
  CHECK(reader.Positions().front().offset == 18);
}

TEST_CASE("topic reader: a topic ending in a committed transaction is read to its end") {
  const std::string topic = UniqueName("reader-commit-end");
  TopicsGuard topics({{topic, 1, 1, {}}});
  Producer producer(TransactionalConfig());
  producer.InitTransactions(kWaitBound);
  Transaction(producer, topic, {"x0", "x1", "x2"}, true);  // 0-2, commit marker at 3

  TopicReader reader(ReaderConfig(), topic);
  CHECK(reader.Ends().front().offset == 4);
  const ReadResult got = ReadAll(reader, 20s);
  REQUIRE(got.at_end);
  CHECK(Values(got.records) == std::vector<std::string>{"x0", "x1", "x2"});
}

TEST_CASE("topic reader: a topic of aborted transactions only reads as empty and ends") {
  const std::string topic = UniqueName("reader-aborted-only");
  TopicsGuard topics({{topic, 1, 1, {}}});
  Producer producer(TransactionalConfig());
  producer.InitTransactions(kWaitBound);
  Transaction(producer, topic, {"gone0", "gone1"}, false);
  Transaction(producer, topic, {"gone2"}, false);

  TopicReader reader(ReaderConfig(), topic);
  CHECK(reader.Ends().front().offset == 5);
  const ReadResult got = ReadAll(reader, 20s);
  REQUIRE(got.at_end);
  CHECK(got.records.empty());
}

TEST_CASE("topic reader: the end under read_committed is the last stable offset") {
  const std::string topic = UniqueName("reader-open-txn");
  TopicsGuard topics({{topic, 1, 1, {}}});
  Producer producer(TransactionalConfig());
  producer.InitTransactions(kWaitBound);
  Transaction(producer, topic, {"a0", "a1"}, true);  // 0-1, marker 2
  producer.BeginTransaction();
  producer.Produce(To(topic, 0, "open", "open0"));  // 3, in a transaction left open
  producer.Produce(To(topic, 0, "open", "open1"));  // 4
  producer.Flush(kWaitBound);

  // The open transaction is not part of the topic yet: the reader ends in front of it at once,
  // it does not wait for the transaction (which would take transaction.timeout.ms).
  TopicReader reader(ReaderConfig(), topic);
  CHECK(reader.Ends().front().offset == 3);
  CHECK(reader.QueryEnd({topic, 0}, 10s) == 3);
  const ReadResult got = ReadAll(reader, 20s);
  REQUIRE(got.at_end);
  CHECK(Values(got.records) == std::vector<std::string>{"a0", "a1"});

  // read_uncommitted: the end is the high watermark and the open records are read.
  TopicReader uncommitted(ReaderConfig("read_uncommitted"), topic);
  CHECK(uncommitted.Ends().front().offset == 5);
  CHECK(Values(ReadAll(uncommitted, 20s).records) ==
        std::vector<std::string>{"a0", "a1", "open0", "open1"});

  // A range end past the last stable offset cannot be reached while the transaction is open:
  // the deadline ends the read with a retriable error naming the partition.
  TopicReader stuck(ReaderConfig(), std::vector<PartitionRange>{{{topic, 0}, kOffsetBeginning, 5}});
  std::vector<std::string> seen;
  const auto t0 = Clock::now();
  try {
    stuck.ReadToEnd([&](const Message& m) { seen.push_back(*m.value); }, Clock::now() + 3s);
    FAIL("ReadToEnd returned although the range end is behind an open transaction");
  } catch (const ReadDeadlineError& e) {
    CHECK(e.IsRetriable());
    CHECK(std::string(e.what()).find(topic + "[0]") != std::string::npos);
  }
  CHECK(Clock::now() - t0 >= 3s);
  CHECK(seen == std::vector<std::string>{"a0", "a1"});
  CHECK_FALSE(stuck.AtEnd());
  // `stop` ends the read without an error.
  CHECK_FALSE(stuck.ReadToEnd([](const Message&) {}, Clock::now() + 60s, [] { return true; }));

  // Once the transaction commits, the same reader goes on to the end.
  producer.CommitTransaction(kWaitBound);
  REQUIRE(stuck.ReadToEnd([&](const Message& m) { seen.push_back(*m.value); }, Clock::now() + 20s));
  CHECK(seen == std::vector<std::string>{"a0", "a1", "open0", "open1"});
}

TEST_CASE("topic reader: an empty topic is at its end at once") {
  const std::string topic = UniqueName("reader-empty");
  TopicsGuard topics({{topic, 2, 1, {}}});
  const auto t0 = Clock::now();
  TopicReader reader(ReaderConfig(), topic);
  CHECK(reader.AtEnd());
  const ReadResult got = ReadAll(reader, 5s);
  CHECK(got.at_end);
  CHECK(got.records.empty());
  CHECK(reader.Ends() == std::vector<TopicPartitionOffset>{{topic, 0, 0}, {topic, 1, 0}});
  CHECK(Clock::now() - t0 < 10s);
}

TEST_CASE("topic reader: a topic that does not exist is a permanent error") {
  try {
    TopicReader reader(ReaderConfig(), UniqueName("reader-missing"));
    FAIL("no error for a missing topic");
  } catch (const KafkaError& e) {
    CHECK(e.Kind() == ErrorKind::kPermanent);
    CHECK(e.Code() == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  }
}

TEST_CASE("topic reader: explicit start offsets and range ends") {
  const std::string topic = UniqueName("reader-ranges");
  TopicsGuard topics({{topic, 3, 1, {}}});
  {
    Producer producer(BaseConfig());
    for (int p = 0; p < 3; ++p) {
      for (int i = 0; i < 10; ++i) {
        producer.Produce(To(topic, p, "k", "p" + std::to_string(p) + "-" + std::to_string(i)));
      }
    }
    producer.Flush(kWaitBound);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  }
  TopicReader reader(ReaderConfig(), std::vector<PartitionRange>{
                                         {{topic, 0}, 3, 7},                  // 3..6
                                         {{topic, 1}, kOffsetBeginning, 2},   // 0..1
                                         {{topic, 2}, 8, kOffsetEnd},         // 8..9
                                     });
  CHECK(reader.Ends() == std::vector<TopicPartitionOffset>{{topic, 0, 7}, {topic, 1, 2},
                                                           {topic, 2, 10}});
  const ReadResult got = ReadAll(reader, 20s);
  REQUIRE(got.at_end);
  std::multiset<std::string> values;
  for (const auto& m : got.records) values.insert(*m.value);
  CHECK(values == std::multiset<std::string>{"p0-3", "p0-4", "p0-5", "p0-6", "p1-0", "p1-1",
                                             "p2-8", "p2-9"});
  CHECK(reader.Positions() == std::vector<TopicPartitionOffset>{{topic, 0, 7}, {topic, 1, 2},
                                                                {topic, 2, 10}});

  // Empty ranges are at their end without fetching anything.
  TopicReader empty(ReaderConfig(), std::vector<PartitionRange>{
                                        {{topic, 0}, 5, 5},
                                        {{topic, 1}, 9, 4},
                                        {{topic, 2}, kOffsetEnd, kOffsetEnd},
                                    });
  CHECK(empty.AtEnd());
  CHECK(ReadAll(empty, 5s).records.empty());

  // A partition given twice, or a start the reader cannot resolve, is a programmer error.
  CHECK_THROWS_AS(TopicReader(ReaderConfig(), std::vector<PartitionRange>{
                                                  {{topic, 0}, 0, 1}, {{topic, 0}, 2, 3}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(TopicReader(ReaderConfig(),
                              std::vector<PartitionRange>{{{topic, 0}, kOffsetStored, 3}}),
                  std::invalid_argument);
}

TEST_CASE("topic reader: range ends on transaction markers and aborted records") {
  const std::string topic = UniqueName("reader-txn-ranges");
  TopicsGuard topics({{topic, 1, 1, {}}});
  WriteTransactions(topic);
  auto read_range = [&](std::int64_t start, std::int64_t end) {
    TopicReader reader(ReaderConfig(),
                       std::vector<PartitionRange>{{{topic, 0}, start, end}});
    const ReadResult got = ReadAll(reader, 20s);
    REQUIRE(got.at_end);
    return Values(got.records);
  };
  // end - 1 = 11 is the abort marker: the next record delivered (c0 at 12) shows the end.
  CHECK(read_range(kOffsetBeginning, 12) == std::vector<std::string>{"a0", "a1", "a2", "a3", "a4"});
  // Nothing committed in 5..11.
  CHECK(read_range(5, 12).empty());
  // end - 1 = 15 is a commit marker followed only by aborted records and a marker: end of
  // partition (at 18) shows the end.
  CHECK(read_range(13, 16) == std::vector<std::string>{"c1", "c2"});
  // A start inside an aborted transaction.
  CHECK(read_range(8, kOffsetEnd) == std::vector<std::string>{"c0", "c1", "c2"});
}

TEST_CASE("topic reader: a partition with no end is followed as it grows") {
  const std::string topic = UniqueName("reader-follow");
  TopicsGuard topics({{topic, 1, 1, {}}});
  ProduceAll(topic, 3, "first");
  TopicReader reader(ReaderConfig(),
                     std::vector<PartitionRange>{{{topic, 0}, kOffsetBeginning, kNoEnd}});
  CHECK(reader.Ends().front().offset == kNoEnd);
  std::vector<std::string> seen;
  auto collect = [&](const Message& m) { seen.push_back(*m.value); };
  const auto deadline = Clock::now() + kWaitBound;
  while (seen.size() < 3 && Clock::now() < deadline) reader.Read(collect, 100, 200ms);
  REQUIRE(seen == std::vector<std::string>{"first0", "first1", "first2"});
  CHECK_FALSE(reader.AtEnd());
  CHECK(reader.Positions().front().offset == 3);

  ProduceAll(topic, 2, "second");
  while (seen.size() < 5 && Clock::now() < deadline) reader.Read(collect, 100, 200ms);
  CHECK(seen.size() == 5);
  CHECK(seen.back() == "second1");
  CHECK(reader.Positions().front().offset == 5);
  CHECK(reader.QueryEnd({topic, 0}, 10s) == 5);
  CHECK_FALSE(reader.AtEnd());
  // ReadToEnd never returns true for a followed partition: only the deadline ends it.
  CHECK_THROWS_AS(reader.ReadToEnd(collect, Clock::now() + 1s), ReadDeadlineError);
}

TEST_CASE("consumer: Assign reads the given partitions from the given offsets without a group") {
  const std::string topic = UniqueName("assign");
  TopicsGuard topics({{topic, 2, 1, {}}});
  {
    Producer producer(BaseConfig());
    for (int p = 0; p < 2; ++p) {
      for (int i = 0; i < 5; ++i) {
        producer.Produce(To(topic, p, "k", std::to_string(p) + std::to_string(i)));
      }
    }
    producer.Flush(kWaitBound);
  }
  Consumer consumer(ConsumerConfig(UniqueName("assign-group")));
  consumer.Assign({{topic, 0, 3}, {topic, 1, kOffsetBeginning}});
  CHECK(consumer.Assignment() == std::vector<TopicPartition>{{topic, 0}, {topic, 1}});
  std::multiset<std::string> values;
  for (const Message& m : ConsumeN(consumer, 7)) values.insert(*m.value);
  CHECK(values == std::multiset<std::string>{"03", "04", "10", "11", "12", "13", "14"});
  CHECK_FALSE(consumer.Poll(1s).has_value());
  consumer.Unassign();
  CHECK(consumer.Assignment().empty());
  // Nothing was committed for the group.
  const auto committed = consumer.Committed({{topic, 0}, {topic, 1}}, 10s);
  for (const auto& c : committed) CHECK(c.offset == kOffsetInvalid);
  consumer.Close();
}

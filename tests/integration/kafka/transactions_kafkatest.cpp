// Transactions: aborted records stay invisible to read_committed consumers, and consumer
// offsets sent to a transaction move only when it commits.
#include <algorithm>
#include <optional>

#include "kafka_test_support.hpp"

using namespace sluice::kafka;
using namespace sluice::kafka::testing;

namespace {

Config TransactionalConfig() {
  Config c = BaseConfig();
  c.Set("transactional.id", UniqueName("txn"));
  return c;
}

Config IsolatedConsumer(const std::string& isolation) {
  Config c = ConsumerConfig(UniqueName("txn-reader"));
  c.Set("isolation.level", isolation);
  return c;
}

// Reads the single-partition topic until `committed_count` records whose value starts with
// "committed" have arrived. Everything the transactions wrote before them (the aborted
// records) sits at lower offsets of the same partition, so it has been delivered by then if
// the consumer delivers it at all.
std::vector<Message> ReadThroughCommitted(Consumer& consumer, std::size_t committed_count) {
  std::vector<Message> got;
  std::size_t committed = 0;
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  while (committed < committed_count) {
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("waited for " << committed_count << " committed records, got " << committed << " of "
                         << got.size());
    }
    if (auto m = consumer.Poll(200ms)) {
      if (m->value && m->value->rfind("committed", 0) == 0) ++committed;
      got.push_back(std::move(*m));
    }
  }
  return got;
}

std::size_t CountPrefix(const std::vector<Message>& messages, const std::string& prefix) {
  return static_cast<std::size_t>(
      std::count_if(messages.begin(), messages.end(), [&](const Message& m) {
        return m.value && m.value->rfind(prefix, 0) == 0;
      }));
}

// Reads `topic` with read_committed through its `committed_count` committed records and counts
// the records seen whose value starts with `prefix`.
std::size_t CountCommittedPrefix(const std::string& topic, std::size_t committed_count,
                                 const std::string& prefix) {
  Consumer reader(IsolatedConsumer("read_committed"));
  reader.Subscribe({topic});
  const std::size_t count = CountPrefix(ReadThroughCommitted(reader, committed_count), prefix);
  reader.Close();
  return count;
}

}  // namespace

TEST_CASE("an aborted transaction is invisible to read_committed and visible to read_uncommitted") {
  const std::string topic = UniqueName("txn-visibility");
  TopicsGuard topics({{topic, 1, 1, {}}});

  Producer producer(TransactionalConfig());
  REQUIRE(producer.Transactional());
  producer.InitTransactions(kWaitBound);

  producer.BeginTransaction();
  for (int i = 0; i < 3; ++i) producer.Produce(Record(topic, "a", "aborted-" + std::to_string(i)));
  producer.Flush(kWaitBound);  // the records really reach the log before the abort
  producer.AbortTransaction(kWaitBound);

  producer.BeginTransaction();
  for (int i = 0; i < 3; ++i) {
    producer.Produce(Record(topic, "c", "committed-" + std::to_string(i)));
  }
  producer.CommitTransaction(kWaitBound);
  CHECK(producer.Stats().delivered == 6);

  SECTION("read_committed sees only the committed records") {
    Consumer consumer(IsolatedConsumer("read_committed"));
    consumer.Subscribe({topic});
    const std::vector<Message> got = ReadThroughCommitted(consumer, 3);
    CHECK(CountPrefix(got, "aborted") == 0);
    CHECK(CountPrefix(got, "committed") == 3);
    consumer.Close();
  }
  SECTION("read_uncommitted also sees the aborted ones (so the check above can fail)") {
    Consumer consumer(IsolatedConsumer("read_uncommitted"));
    consumer.Subscribe({topic});
    const std::vector<Message> got = ReadThroughCommitted(consumer, 3);
    CHECK(CountPrefix(got, "aborted") == 3);
    CHECK(CountPrefix(got, "committed") == 3);
    consumer.Close();
  }
}

TEST_CASE("consume-transform-produce: offsets sent to an aborted transaction are not committed") {
  const std::string input = UniqueName("ctp-in");
  const std::string output = UniqueName("ctp-out");
  TopicsGuard topics({{input, 1, 1, {}}, {output, 1, 1, {}}});
  ProduceAll(input, 10, "in-");

  const std::string group = UniqueName("ctp-group");
  Consumer consumer(ConsumerConfig(group));
  consumer.Subscribe({input});
  Producer producer(TransactionalConfig());
  producer.InitTransactions(kWaitBound);
  const TopicPartition in0{input, 0};

  // Transforms the first five input records inside a transaction.
  auto transform_five = [&](const std::string& attempt) {
    const std::vector<Message> batch = ConsumeN(consumer, 5);
    REQUIRE(batch.front().offset == 0);
    REQUIRE(batch.back().offset == 4);
    producer.BeginTransaction();
    for (const Message& m : batch) {
      producer.Produce(Record(output, *m.key, attempt + "-" + *m.value));
    }
    producer.SendOffsetsToTransaction(NextOffsets(batch), consumer.ConsumerGroupMetadata(),
                                      kWaitBound);
  };

  transform_five("aborted");
  producer.AbortTransaction(kWaitBound);
  // The group has no committed offset: the abort discarded the offsets with the records.
  CHECK(consumer.Committed({in0}, kWaitBound).at(0).offset == kOffsetInvalid);

  // As in librdkafka's transactions example: after an abort, rewind to the last committed
  // position (none yet, so auto.offset.reset=earliest: the beginning) and redo the work.
  consumer.RewindToCommitted(kWaitBound);
  transform_five("committed");
  producer.CommitTransaction(kWaitBound);
  CHECK(consumer.Committed({in0}, kWaitBound).at(0).offset == 5);
  consumer.Close();

  // A new member of the group resumes right after the committed transaction.
  Consumer restarted(ConsumerConfig(group));
  restarted.Subscribe({input});
  CHECK(ConsumeN(restarted, 1).at(0).offset == 5);
  restarted.Close();

  // The output holds the committed attempt only (aborted records precede it in the partition).
  Consumer reader(IsolatedConsumer("read_committed"));
  reader.Subscribe({output});
  const std::vector<Message> out = ReadThroughCommitted(reader, 5);
  CHECK(CountPrefix(out, "aborted") == 0);
  CHECK(out.size() == 5);
  CHECK(out.front().value == "committed-in-0");
  reader.Close();
}

TEST_CASE("a fenced transactional producer gets a fatal error") {
  const std::string topic = UniqueName("txn-fenced");
  TopicsGuard topics({{topic, 1, 1, {}}});
  Config config = TransactionalConfig();  // both producers share one transactional.id
  Producer old_instance(config);
  old_instance.InitTransactions(kWaitBound);
  Producer new_instance(config);
  new_instance.InitTransactions(kWaitBound);  // bumps the epoch: the old instance is a zombie

  bool fatal = false;
  try {
    old_instance.BeginTransaction();
    old_instance.Produce(Record(topic, "k", "zombie"));
    old_instance.CommitTransaction(kWaitBound);
  } catch (const KafkaError& e) {
    INFO(e.what());
    CHECK(e.IsFatal());
    CHECK_FALSE(e.Retryable());
    fatal = true;
  }
  CHECK(fatal);
  // Once fatal, every later call fails fatally too.
  CHECK_THROWS_MATCHES(
      old_instance.Produce(Record(topic, "k", "again")), KafkaError,
      Catch::Predicate<KafkaError>([](const KafkaError& e) { return e.IsFatal(); }));

  // A best-effort abort hands the fatal error back instead of throwing it.
  const std::optional<KafkaError> abort_error = old_instance.AbortTransactionBestEffort(kWaitBound);
  REQUIRE(abort_error.has_value());
  CHECK(abort_error->IsFatal());

  // The new instance works, and the zombie's record never became visible.
  new_instance.BeginTransaction();
  new_instance.Produce(Record(topic, "k", "committed-0"));
  new_instance.CommitTransaction(kWaitBound);
  CHECK(CountCommittedPrefix(topic, 1, "zombie") == 0);
}

TEST_CASE("AbortTransactionBestEffort aborts, and returns a failed abort's error instead of throwing it") {
  const std::string topic = UniqueName("txn-best-effort");
  TopicsGuard topics({{topic, 1, 1, {}}});

  SECTION("the open transaction is aborted: its records stay invisible") {
    Producer producer(TransactionalConfig());
    producer.InitTransactions(kWaitBound);
    producer.BeginTransaction();
    producer.Produce(Record(topic, "a", "aborted-0"));
    producer.Flush(kWaitBound);  // the record really reaches the log before the abort
    const std::optional<KafkaError> abort_error = producer.AbortTransactionBestEffort(kWaitBound);
    CHECK_FALSE(abort_error.has_value());
    producer.BeginTransaction();  // throws if the previous transaction were still open
    producer.Produce(Record(topic, "c", "committed-0"));
    producer.CommitTransaction(kWaitBound);
    CHECK(CountCommittedPrefix(topic, 1, "aborted") == 0);
  }
  SECTION("a producer without transactions gets the error back, not thrown") {
    Producer producer(BaseConfig());
    std::optional<KafkaError> abort_error;
    REQUIRE_NOTHROW(abort_error = producer.AbortTransactionBestEffort(kWaitBound));
    REQUIRE(abort_error.has_value());
    CHECK(abort_error->Kind() == ErrorKind::kPermanent);
  }
}

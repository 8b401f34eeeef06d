// Manual offset storage, commits across consumer restarts, rebalance listeners, lag.
#include <functional>
#include <set>

#include "kafka_test_support.hpp"

using namespace sluice::kafka;
using namespace sluice::kafka::testing;

TEST_CASE("committed offsets survive a consumer restart but stored-and-uncommitted ones do not") {
  const std::string topic = UniqueName("offsets");
  TopicsGuard topics({{topic, 1, 1, {}}});
  ProduceAll(topic, 10, "v");
  const std::string group = UniqueName("offsets-group");

  {
    Consumer first(ConsumerConfig(group));
    first.Subscribe({topic});
    for (const Message& m : ConsumeN(first, 4)) first.StoreOffset(m);
    first.Commit();  // commits what was stored: offset 4
    CHECK(first.Committed({{topic, 0}}, kWaitBound).at(0).offset == 4);
    first.Close();
  }
  {
    Consumer second(ConsumerConfig(group));
    second.Subscribe({topic});
    const std::vector<Message> got = ConsumeN(second, 3);
    CHECK(got.at(0).offset == 4);
    // Stored but never committed: auto commit is off, so closing must not commit these.
    for (const Message& m : got) second.StoreOffset(m);
    second.Close();
  }
  {
    Consumer third(ConsumerConfig(group));
    third.Subscribe({topic});
    CHECK(ConsumeN(third, 1).at(0).offset == 4);
    CHECK(third.Committed({{topic, 0}}, kWaitBound).at(0).offset == 4);
    third.Close();
  }
}

namespace {

// Starts every assigned partition at a fixed offset, as the pg-sink does with the offsets it
// keeps in PostgreSQL, and records what it was told.
class FixedStartListener : public RebalanceListener {
 public:
  explicit FixedStartListener(std::int64_t start) : start_(start) {}
  void OnAssigned(std::vector<TopicPartitionOffset>& partitions) override {
    for (auto& p : partitions) {
      seen_initial.push_back(p.offset);
      p.offset = start_;
      assigned.push_back({p.topic, p.partition});
    }
  }
  void OnRevoked(const std::vector<TopicPartition>& partitions) override {
    revoked.insert(revoked.end(), partitions.begin(), partitions.end());
  }
  std::vector<TopicPartition> assigned;
  std::vector<TopicPartition> revoked;
  std::vector<std::int64_t> seen_initial;

 private:
  std::int64_t start_;
};

class ThrowingListener : public RebalanceListener {
 public:
  void OnAssigned(std::vector<TopicPartitionOffset>&) override {
    throw std::runtime_error("offset store unavailable");
  }
};

}  // namespace

TEST_CASE("a rebalance listener chooses start offsets, for cooperative and eager assignment") {
  const std::string strategy = GENERATE(std::string("cooperative-sticky"), std::string("range"));
  INFO("partition.assignment.strategy=" << strategy);
  const std::string topic = UniqueName("rebalance");
  TopicsGuard topics({{topic, 2, 1, {}}});
  {
    Producer producer(BaseConfig());
    for (int p = 0; p < 2; ++p) {
      for (int i = 0; i < 10; ++i) {
        Message m = Record(topic, "k", std::to_string(i));
        m.partition = p;
        producer.Produce(m);
      }
    }
    producer.Flush(kWaitBound);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  }

  Config config = ConsumerConfig(UniqueName("rebalance-group"));
  config.Set("partition.assignment.strategy", strategy);
  FixedStartListener listener(7);
  Consumer consumer(config);
  consumer.Subscribe({topic}, &listener);
  const std::vector<Message> got = ConsumeN(consumer, 6);  // offsets 7, 8, 9 of both partitions
  for (const Message& m : got) CHECK(m.offset >= 7);
  CHECK(listener.assigned.size() == 2);
  for (std::int64_t initial : listener.seen_initial) CHECK(initial == kOffsetStored);
  CHECK(consumer.RebalanceProtocol() == (strategy == "range" ? "EAGER" : "COOPERATIVE"));

  // Everything read: lag is zero, positions and high watermarks are at 10.
  const std::vector<PartitionLag> lag = consumer.Lag(kWaitBound);
  REQUIRE(lag.size() == 2);
  for (const PartitionLag& l : lag) {
    CHECK(l.high == 10);
    CHECK(l.position == 10);
    CHECK(l.lag == 0);
  }
  CHECK(consumer.Watermarks({topic, 1}, kWaitBound) ==
        std::make_pair<std::int64_t, std::int64_t>(0, 10));

  // Seek back on an assigned partition and read again from there.
  consumer.Seek({{topic, 1, 3}}, kWaitBound);
  const Message again = ConsumeN(consumer, 1).at(0);
  CHECK(again.partition == 1);
  CHECK(again.offset == 3);

  consumer.Close();
  CHECK(listener.revoked.size() == 2);  // close gives the partitions back through the listener
}

TEST_CASE("a failing assignment listener surfaces from Poll and nothing is consumed") {
  const std::string topic = UniqueName("listener-error");
  TopicsGuard topics({{topic, 1, 1, {}}});
  ProduceAll(topic, 3, "v");
  ThrowingListener listener;
  Consumer consumer(ConsumerConfig(UniqueName("listener-error-group")));
  consumer.Subscribe({topic}, &listener);
  bool thrown = false;
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  while (!thrown) {
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("the listener's exception never surfaced");
    }
    try {
      auto m = consumer.Poll(200ms);
      CHECK_FALSE(m.has_value());  // nothing may be read from unassigned partitions
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "offset store unavailable");
      thrown = true;
    }
  }
  CHECK(consumer.Assignment().empty());
}

TEST_CASE("PollBatch returns up to max records and stops at the timeout") {
  const std::string topic = UniqueName("batch");
  TopicsGuard topics({{topic, 1, 1, {}}});
  ProduceAll(topic, 25, "v");
  Consumer consumer(ConsumerConfig(UniqueName("batch-group")));
  consumer.Subscribe({topic});
  std::vector<Message> all;
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  while (all.size() < 25) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("got only " << all.size() << " of 25");
    std::vector<Message> batch = consumer.PollBatch(10, 500ms);
    CHECK(batch.size() <= 10);
    for (auto& m : batch) all.push_back(std::move(m));
  }
  CHECK(all.size() == 25);
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].offset == static_cast<std::int64_t>(i));
  // Nothing left: a batch poll comes back empty once its timeout passes.
  CHECK(consumer.PollBatch(10, 300ms).empty());
  consumer.Close();
}

namespace {

// Keeps the set of partitions a member currently owns, from the listener's point of view.
class OwnershipListener : public RebalanceListener {
 public:
  void OnAssigned(std::vector<TopicPartitionOffset>& partitions) override {
    for (const auto& p : partitions) owned.insert({p.topic, p.partition});
  }
  void OnRevoked(const std::vector<TopicPartition>& partitions) override {
    ++revocations;
    for (const auto& p : partitions) owned.erase(p);
  }
  std::set<TopicPartition> owned;
  int revocations = 0;
};

}  // namespace

TEST_CASE("a second member joining splits the partitions through the listeners") {
  const std::string strategy = GENERATE(std::string("cooperative-sticky"), std::string("range"));
  INFO("partition.assignment.strategy=" << strategy);
  const std::string topic = UniqueName("rebalance-join");
  TopicsGuard topics({{topic, 4, 1, {}}});
  Config config = ConsumerConfig(UniqueName("rebalance-join-group"));
  config.Set("partition.assignment.strategy", strategy);

  OwnershipListener first_listener;
  Consumer first(config);
  first.Subscribe({topic}, &first_listener);
  auto wait_until = [&](const char* what, const std::function<bool()>& done,
                        std::vector<Consumer*> members) {
    const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) FAIL("timed out waiting until " << what);
      for (Consumer* c : members) (void)c->Poll(50ms);
    }
  };
  wait_until("the first member owns all 4 partitions",
             [&] { return first_listener.owned.size() == 4; }, {&first});

  OwnershipListener second_listener;
  Consumer second(config);
  second.Subscribe({topic}, &second_listener);
  wait_until("both members own 2 partitions each",
             [&] { return first_listener.owned.size() == 2 && second_listener.owned.size() == 2; },
             {&first, &second});
  CHECK(first_listener.revocations >= 1);
  for (const auto& p : second_listener.owned) CHECK(first_listener.owned.count(p) == 0);
  // The listener's view matches librdkafka's.
  const std::vector<TopicPartition> assigned = second.Assignment();
  CHECK(std::set<TopicPartition>(assigned.begin(), assigned.end()) == second_listener.owned);

  // The second member leaves: the first gets everything back.
  second.Close();
  wait_until("the first member owns all 4 partitions again",
             [&] { return first_listener.owned.size() == 4; }, {&first});
  first.Close();
  CHECK(first_listener.owned.empty());
}

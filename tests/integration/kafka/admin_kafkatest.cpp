// Topic administration against the real broker: partitions and configs really applied.
#include <algorithm>
#include <thread>

#include "kafka_test_support.hpp"

using namespace sluice::kafka;
using namespace sluice::kafka::testing;

namespace {

bool Listed(Admin& admin, const std::string& name) {
  const std::vector<std::string> topics = admin.ListTopics(kWaitBound);
  return std::find(topics.begin(), topics.end(), name) != topics.end();
}

}  // namespace

TEST_CASE("topic creation applies partitions and configs, and is idempotent when matching") {
  Admin admin(BaseConfig());
  const std::string name = UniqueName("admin-compact");
  const TopicSpec spec{
      name, 3, 1, {{"cleanup.policy", "compact"}, {"min.compaction.lag.ms", "60000"}}};
  REQUIRE_FALSE(Listed(admin, name));
  admin.CreateTopics({spec}, kWaitBound);

  CHECK(Listed(admin, name));
  CHECK(admin.PartitionCount(name, kWaitBound) == 3);
  const TopicDescription d = admin.DescribeTopic(name, kWaitBound);
  CHECK(d.partitions == 3);
  CHECK(d.replication == 1);
  const auto configs = admin.DescribeTopicConfigs(name, kWaitBound);
  CHECK(configs.at("cleanup.policy") == "compact");
  CHECK(configs.at("min.compaction.lag.ms") == "60000");
  CHECK(configs.at("retention.ms") != "");  // broker defaults are reported too

  // Same spec again: fine.
  CHECK_NOTHROW(admin.CreateTopics({spec}, kWaitBound));

  // Same name, different shape: an error that says what differs.
  TopicSpec more_partitions = spec;
  more_partitions.partitions = 4;
  CHECK_THROWS_WITH(admin.CreateTopics({more_partitions}, kWaitBound),
                    Catch::Contains("has 3 partitions, wanted 4"));
  TopicSpec other_policy = spec;
  other_policy.configs["cleanup.policy"] = "delete";
  CHECK_THROWS_WITH(admin.CreateTopics({other_policy}, kWaitBound),
                    Catch::Contains("has cleanup.policy=compact, wanted delete"));

  admin.DeleteTopics({name}, kWaitBound);
  // Deletion reaches every broker's metadata asynchronously: wait for it, bounded.
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  while (Listed(admin, name)) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("topic " << name << " still listed");
    std::this_thread::sleep_for(100ms);
  }
  CHECK_NOTHROW(admin.DeleteTopics({name}, kWaitBound));  // deleting a missing topic is fine
}

TEST_CASE("describing a missing topic and invalid specs are clear errors") {
  Admin admin(BaseConfig());
  const std::string missing = UniqueName("admin-missing");
  try {
    admin.DescribeTopic(missing, kWaitBound);
    FAIL("DescribeTopic of a missing topic should throw");
  } catch (const KafkaError& e) {
    CHECK(e.Code() == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    CHECK_THAT(e.what(), Catch::Contains(missing));
  }
  // The broker rejects an unknown topic config; the error names the topic.
  const std::string bad = UniqueName("admin-bad");
  CHECK_THROWS_WITH(admin.CreateTopics({{bad, 1, 1, {{"no.such.topic.config", "1"}}}}, kWaitBound),
                    Catch::Contains(bad));
  // Replication above the broker count cannot be satisfied by a single-broker stack.
  CHECK_THROWS_AS(admin.CreateTopics({{bad, 1, 3, {}}}, kWaitBound), KafkaError);
  CHECK_FALSE(Listed(admin, bad));
}

TEST_CASE("WaitForTopic fails with a clear message when the topic never appears") {
  Admin admin(BaseConfig());
  const std::string missing = UniqueName("admin-never");
  CHECK_THROWS_WITH(admin.WaitForTopic(missing, 1s),
                    Catch::Contains("'" + missing + "' not ready"));
}

// Daemons started together on fresh volumes create overlapping topics in the same second: the
// losers see "already exists" for a topic whose metadata may not have reached them yet. Every
// creator must succeed (issue #16). Eight creators, three rounds of fresh names.
TEST_CASE("concurrent creators of the same topics all succeed") {
  for (int round = 0; round < 3; ++round) {
    const std::string base = UniqueName("admin-race");
    const std::vector<TopicSpec> specs{{base + ".raw", 3, 1, {{"max.message.bytes", "2097152"}}},
                                       {base + ".clean", 3, 1, {{"max.message.bytes", "2097152"}}},
                                       {base + ".dlq", 3, 1, {{"max.message.bytes", "2097152"}}}};
    std::vector<std::string> errors(8);
    std::vector<std::thread> creators;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      creators.emplace_back([&, i] {
        try {
          Admin(BaseConfig()).CreateTopics(specs, kWaitBound);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (auto& t : creators) t.join();
    for (const std::string& e : errors) CHECK(e.empty());
    Admin admin(BaseConfig());
    for (const TopicSpec& s : specs) CHECK(admin.PartitionCount(s.name, kWaitBound) == 3);
    admin.DeleteTopics({specs[0].name, specs[1].name, specs[2].name}, kWaitBound);
  }
}

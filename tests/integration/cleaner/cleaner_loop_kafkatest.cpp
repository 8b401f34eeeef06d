// The real loans file through the cleaner as the daemon runs it: CsvSource rows encoded to a
// raw topic, the TransformLoop with CleanerStage built from pipelines/loans/pipeline.yaml, real broker.
// Every raw record ends in the clean topic or the DLQ exactly once, and the split matches the
// pure rules engine run over the same rows without Kafka.
#include <catch2/catch.hpp>

#include <map>

#include <yaml-cpp/yaml.h>

#include "../kafka/kafka_test_support.hpp"
#include "cleaner_stage.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/transform_loop.hpp"
#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/csv_reader.hpp"
#include "sluice/stages/csv_source.hpp"
#include "support/run_loop.hpp"
#include "support/settled.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using kafka::testing::UniqueName;

TEST_CASE("cleaner loop: the loans file, every record once in clean or DLQ, as the rules say") {
  const std::string src = SLUICE_SOURCE_DIR;
  config::Environment env{{"SLUICE_KAFKA_BROKERS", kafka::testing::Brokers()},
                          {"SLUICE_REGISTRY_URL", "http://127.0.0.1:1"}};
  auto cfg = pipeline::PipelineConfig::Load(src + "/pipelines/loans/pipeline.yaml", env);
  auto options = runtime::OptionsFromConfig(cfg, config::Stage::kCleaner);
  options.input_topic = UniqueName("loans-raw");
  options.output_topic = UniqueName("loans-clean");
  options.dlq_topic = UniqueName("loans-dlq");
  options.group_id = UniqueName("cleaner-group");
  options.transactional_id = options.group_id + "-0";
  options.partitions = 3;
  options.batch_size = 500;

  // Producer logic: the CSV rows as raw records (keys = derived loan ids).
  const YAML::Node pipeline = YAML::LoadFile(src + "/pipelines/loans/pipeline.yaml");
  const auto raw_spec = stages::LoadRecordSpec(cfg.SchemaPath("raw").string());
  const std::string csv = src + "/tests/data/loans/lending_club.csv";
  runtime::InMemorySchemaSource schemas;
  runtime::RowSerde serde(schemas);
  serde.RegisterOutput(options.input_topic, options.input_schema);
  kafka::Admin admin(kafka::testing::BaseConfig());
  admin.CreateTopics({{options.input_topic, 3, 1, {}}}, 60s);
  kafka::Producer producer(kafka::testing::BaseConfig());

  stages::Cleaner reference(pipeline["cleaner"]["rules"],
                            stages::LoadRecordSpec(cfg.SchemaPath("clean").string()), "ref");
  std::map<std::string, int> expected_rules;  // rule -> count, "" = emitted
  int fed = 0;
  auto feed = [&] {
    stages::CsvSource source(stages::CsvSourceSettingsFromYaml(pipeline["producer"]["sources"][0],
                                                               pipeline["producer"]["id"], raw_spec,
                                                               "loans.yaml producer"),
                             csv);
    stages::CsvFileReader reader(csv, {});
    const bool first = fed == 0;
    while (auto item = reader.Next()) {
      stages::SourceRecord rec = source.Accept(*item);
      if (!rec.outcome.IsEmit()) continue;
      auto bytes = serde.Encode(options.input_topic, rec.row);
      REQUIRE(bytes);
      kafka::Message m;
      m.topic = options.input_topic;
      m.key = rec.key;
      m.value = *bytes.value;
      m.headers = {{runtime::kHeaderOrigin, "lending_club.csv:" + std::to_string(rec.start.line)}};
      producer.Produce(m);
      if (first) {
        auto r = reference.Process(rec.row, 0);
        expected_rules[r.outcome.IsEmit() ? "" : r.outcome.DlqRule()]++;
        ++fed;
      }
    }
    producer.Flush(60s);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  };
  feed();
  REQUIRE(fed > 9000);

  auto run_loop = [&] {
    core::ShutdownSource stop;
    runtime::TransformLoop loop(
        options, [&] { return std::make_unique<cleaner::CleanerStage>(cfg); }, schemas,
        stop.Token(), obs::Logger("test"));
    sluice::testing::RunLoopUntil(
        loop, stop, [&] { return loop.Stats().records_in >= static_cast<std::uint64_t>(fed); }, 120s);
  };
  // Reads output and DLQ with read_committed, each to its end: rule -> count ("" = emitted),
  // checking that no position is read twice.
  auto read_all = [&](std::size_t expected) {
    std::map<std::string, int> rules;
    std::map<std::string, int> positions;  // topic/partition@offset -> reads
    std::size_t total = 0;
    REQUIRE(sluice::testing::AwaitSettled(kafka::testing::BaseConfig(),
                                          {options.output_topic, options.dlq_topic}, 60s));
    for (const std::string& topic : {options.output_topic, options.dlq_topic}) {
      kafka::TopicReader reader(kafka::testing::BaseConfig(), topic);
      REQUIRE(reader.ReadToEnd(
          [&](const kafka::Message& m) {
            ++total;
            if (m.topic == options.output_topic) {
              rules[""]++;
              REQUIRE(serde.Decode(*m.value, &options.output_schema));
            } else {
              rules[*kafka::FindLastHeader(m.headers, runtime::kHeaderRule)->value]++;
            }
            positions[m.topic + "/" + std::to_string(m.partition) + "@" + std::to_string(m.offset)]++;
          },
          std::chrono::steady_clock::now() + 90s));
    }
    for (const auto& [position, count] : positions) {
      INFO(position);
      CHECK(count == 1);
    }
    CHECK(total == expected);
    return rules;
  };

  run_loop();
  auto got_rules = read_all(static_cast<std::size_t>(fed));
  CHECK(got_rules == expected_rules);
  CHECK(got_rules[""] > 9000);

  // Feed the same rows again and run a new loop (a restarted daemon): its dedupe state is
  // warmed from the clean topic, so every row emitted the first time is now a duplicate,
  // and the others are rejected by the same rules as before.
  feed();
  run_loop();
  auto second = read_all(static_cast<std::size_t>(2 * fed));
  std::map<std::string, int> expected_second;
  for (const auto& [rule, count] : expected_rules) expected_second[rule] = rule.empty() ? count : 2 * count;
  expected_second["duplicate"] += expected_rules[""];
  CHECK(second == expected_second);
  admin.DeleteTopics({options.input_topic, options.output_topic, options.dlq_topic}, 30s);
}

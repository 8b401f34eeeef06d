// The late rule through the cleaner as the daemon runs it (TransformLoop + CleanerStage, real
// broker, one input partition): a record more than `lateness` behind the watermark goes to the
// DLQ under the code `late` with its reason, and a restarted cleaner (a new loop: what a kill -9
// and restart does) warms the watermark from the clean topic, so a record that is late against
// the first run's records is still rejected after the restart. SYNTHETIC records.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "../kafka/kafka_test_support.hpp"
#include "cleaner_stage.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/transform_loop.hpp"
#include "support/run_loop.hpp"
#include "support/settled.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using kafka::testing::UniqueName;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

fs::path PipelineDir() {
  const fs::path dir = fs::temp_directory_path() / UniqueName("sluice-late");
  fs::create_directories(dir);
  Write(dir / "in.csv", "id,ts\n");
  Write(dir / "raw.avsc", R"({"type": "record", "name": "Raw", "namespace": "sluice.test", "fields": [
    {"name": "id", "type": "string"}, {"name": "ts", "type": ["null", "string"], "default": null}]})");
  Write(dir / "clean.avsc", R"({"type": "record", "name": "Clean", "namespace": "sluice.test", "fields": [
    {"name": "id", "type": "string"},
    {"name": "ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null}]})");
  Write(dir / "pipeline.yaml", R"(pipeline: latetest
producer:
  sources:
    - type: csv
      path: in.csv
  key: [id]
schemas:
  raw: raw.avsc
  clean: clean.avsc
cleaner:
  rules:
    - {name: ts_time, type: coerce, field: ts, to: timestamp}
    - {name: too_late, type: late, field: ts, lateness: 2h}
)");
  return dir;
}

}  // namespace

TEST_CASE("cleaner loop: late records go to the DLQ as late, and the watermark survives a restart") {
  const fs::path dir = PipelineDir();
  config::Environment env{{"SLUICE_KAFKA_BROKERS", kafka::testing::Brokers()},
                          {"SLUICE_REGISTRY_URL", "http://127.0.0.1:1"}};
  auto cfg = pipeline::PipelineConfig::Load(dir / "pipeline.yaml", env);
  auto options = runtime::OptionsFromConfig(cfg, config::Stage::kCleaner);
  options.input_topic = UniqueName("late-raw");
  options.output_topic = UniqueName("late-clean");
  options.dlq_topic = UniqueName("late-dlq");
  options.group_id = UniqueName("cleaner-late");
  options.transactional_id = options.group_id + "-0";
  options.partitions = 1;

  runtime::InMemorySchemaSource schemas;
  runtime::RowSerde serde(schemas);
  serde.RegisterOutput(options.input_topic, options.input_schema);
  kafka::Admin admin(kafka::testing::BaseConfig());
  admin.CreateTopics({{options.input_topic, 1, 1, {}}}, 60s);
  kafka::Producer producer(kafka::testing::BaseConfig());
  auto feed = [&](const std::vector<std::pair<std::string, std::string>>& rows) {
    for (const auto& [id, ts] : rows) {
      auto bytes = serde.Encode(options.input_topic, stages::Row{{"id", id}, {"ts", ts}});
      REQUIRE(bytes);
      kafka::Message m;
      m.topic = options.input_topic;
      m.key = id;
      m.value = *bytes.value;
      producer.Produce(m);
    }
    producer.Flush(60s);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  };
  std::uint64_t fed = 0;
  auto run_loop = [&] {
    core::ShutdownSource stop;
    runtime::TransformLoop loop(
        options, [&] { return std::make_unique<cleaner::CleanerStage>(cfg); }, schemas, stop.Token(),
        obs::Logger("test"));
    sluice::testing::RunLoopUntil(loop, stop, [&] { return loop.Stats().records_in >= fed; }, 120s);
  };
  // id -> where it went: "clean", or the DLQ rule header, and the DLQ reasons by id.
  auto read_all = [&] {
    std::map<std::string, std::string> where, reasons;
    REQUIRE(sluice::testing::AwaitSettled(kafka::testing::BaseConfig(), {options.output_topic, options.dlq_topic}, 60s));
    for (const std::string& topic : {options.output_topic, options.dlq_topic}) {
      kafka::TopicReader reader(kafka::testing::BaseConfig(), topic);
      REQUIRE(reader.ReadToEnd(
          [&](const kafka::Message& m) {
            const std::string id = m.key.value_or("");
            CHECK(where.count(id) == 0);
            if (topic == options.output_topic) {
              where[id] = "clean";
            } else {
              where[id] = *kafka::FindLastHeader(m.headers, runtime::kHeaderRule)->value;
              reasons[id] = *kafka::FindLastHeader(m.headers, runtime::kHeaderReason)->value;
            }
          },
          std::chrono::steady_clock::now() + 90s));
    }
    return std::make_pair(where, reasons);
  };

  // First run: out of order within the lateness, then one too late.
  feed({{"a", "2014-03-01T10:00:00"}, {"b", "2014-03-01T12:35:00"}, {"c", "2014-03-01T11:00:00"},
        {"d", "2014-03-01T10:00:00"}});
  fed = 4;
  run_loop();
  auto [where, reasons] = read_all();
  CHECK(where == std::map<std::string, std::string>{{"a", "clean"}, {"b", "clean"}, {"c", "clean"}, {"d", "late"}});
  CHECK(reasons["d"] == "ts 2014-03-01T10:00:00Z is 2h35m behind the watermark 2014-03-01T12:35:00Z (lateness 2h)");

  // A restarted cleaner: e is late only against the watermark of the first run's records.
  feed({{"e", "2014-03-01T10:30:00"}, {"f", "2014-03-01T10:40:00"}});
  fed = 2;
  run_loop();
  std::tie(where, reasons) = read_all();
  CHECK(where.size() == 6);
  CHECK(where["e"] == "late");
  CHECK(reasons["e"] == "ts 2014-03-01T10:30:00Z is 2h5m behind the watermark 2014-03-01T12:35:00Z (lateness 2h)");
  CHECK(where["f"] == "clean");
  admin.DeleteTopics({options.input_topic, options.output_topic, options.dlq_topic}, 30s);
  fs::remove_all(dir);
}

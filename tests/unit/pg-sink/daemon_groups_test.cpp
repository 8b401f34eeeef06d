// What the sink, cleaner and enricher actually put on the wire, from the options each daemon
// builds out of a pipeline file: PipelineConfig::ConsumerGroup must be the group it joins.
// (The producer's transactional id is checked in tests/unit/producer.)
#include <catch2/catch.hpp>

#include <filesystem>

#include "pg_sink.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/runtime/transform_loop.hpp"

namespace fs = std::filesystem;
using namespace sluice;

namespace {

pipeline::PipelineConfig Loans(const std::string& instance) {
  return pipeline::PipelineConfig::Load(
      fs::path(SLUICE_TEST_DATA_DIR) / "config" / "good" / "loans.yaml",
      config::Environment({{"SLUICE_INSTANCE_ID", instance}}));
}

}  // namespace

TEST_CASE("the sink joins ConsumerGroup(kPgSink), spelled sluice-sink-<p>") {
  const auto config = Loans("3");
  const pg_sink::PgSinkOptions o = pg_sink::SinkOptionsFromConfig(config);
  CHECK(o.group_id == config.ConsumerGroup(config::Stage::kPgSink));
  CHECK(o.group_id == "sluice-sink-loans");
  CHECK(o.group_instance_id == "sluice-sink-loans-3");
  CHECK(o.librdkafka.at("fetch.max.bytes") == "10485760");  // librdkafka.sink overrides
}

TEST_CASE("the cleaner and enricher join ConsumerGroup(stage) with transactional ids from it") {
  const auto config = Loans("");
  for (auto stage : {config::Stage::kCleaner, config::Stage::kEnricher}) {
    const std::string id(config::IdentityOf(stage).id);
    INFO(id);
    const runtime::TransformLoopOptions o = runtime::OptionsFromConfig(config, stage);
    CHECK(o.group_id == config.ConsumerGroup(stage));
    CHECK(o.group_id == "sluice-" + id + "-loans");
    CHECK(o.transactional_id == "sluice-" + id + "-loans-0");
    CHECK(o.group_instance_id == o.transactional_id);
    CHECK(o.stage_name == id);  // the DLQ header value
  }
}

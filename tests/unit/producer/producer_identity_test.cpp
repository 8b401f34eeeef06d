// The producer's transactional id, from the options the daemon builds out of a pipeline file:
// the value older deployments use, so a restarted producer fences its predecessor.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "csv_producer.hpp"
#include "sluice/pipeline/pipeline_config.hpp"

namespace fs = std::filesystem;
using namespace sluice;

TEST_CASE("the producer's transactional id is sluice-producer-<p>-<instance>") {
  const fs::path file = fs::path(SLUICE_TEST_DATA_DIR) / "config" / "good" / "loans.yaml";
  for (const char* instance : {"", "4"}) {
    INFO("SLUICE_INSTANCE_ID=" << instance);
    const auto config =
        pipeline::PipelineConfig::Load(file, config::Environment({{"SLUICE_INSTANCE_ID", instance}}));
    const producer::ProducerOptions o = producer::ProducerOptionsFromConfig(config, true);
    CHECK(o.loop.transactional_id == config.TransactionalId(config::Stage::kProducer));
    CHECK(o.loop.transactional_id == std::string("sluice-producer-loans-") + (*instance ? instance : "0"));
  }
}

// A kafka_json source reading a topic the pipeline writes would loop on its own output; the
// likeliest slip is <pipeline>.positions (the fleet pipeline's JSON topic was once fleet.positions).
TEST_CASE("a kafka_json source may not read one of the pipeline's own topics") {
  const fs::path src = fs::path(SLUICE_SOURCE_DIR) / "pipelines" / "fleet";
  std::string text;
  {
    std::ifstream in(src / "pipeline.yaml");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const fs::path dir = fs::temp_directory_path() / ("sluice-kafka-json-own-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy(src / "schemas", dir / "schemas", fs::copy_options::overwrite_existing | fs::copy_options::recursive);
  fs::create_directories(dir / "sql");
  fs::copy_file(src / "sql" / "views.sql", dir / "sql" / "views.sql", fs::copy_options::overwrite_existing);
  const std::string at = "topic: fleet.locations";
  REQUIRE(text.find(at) != std::string::npos);
  const config::Environment env({{"SLUICE_WEATHER_API_URL", "http://w"}});
  for (const char* own : {"fleet.positions", "fleet.raw", "fleet.dlq"}) {
    INFO(own);
    std::string bad = text;
    bad.replace(bad.find(at), at.size(), std::string("topic: ") + own);
    std::ofstream(dir / "pipeline.yaml") << bad;
    const auto config = pipeline::PipelineConfig::Load(dir / "pipeline.yaml", env);
    CHECK_THROWS_WITH(producer::ProducerOptionsFromConfig(config, true),
                      Catch::Contains(std::string("kafka_json topic '") + own + "' is one this pipeline writes"));
  }
  std::ofstream(dir / "pipeline.yaml") << text;
  CHECK_NOTHROW(producer::ProducerOptionsFromConfig(pipeline::PipelineConfig::Load(dir / "pipeline.yaml", env), true));
  fs::remove_all(dir);
}

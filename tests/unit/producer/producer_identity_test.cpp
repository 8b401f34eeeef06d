// The producer's transactional id, from the options the daemon builds out of a pipeline file:
// the value older deployments use, so a restarted producer fences its predecessor.
#include <catch2/catch.hpp>

#include <filesystem>

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

// sluice-enricher: clean topic -> enriched topic through the pipeline file's enricher steps.
#include "enricher_stage.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/transform_loop.hpp"

int main(int argc, char** argv) {
  sluice::runtime::DaemonSpec spec;
  spec.description = "Joins reference data and derives fields (clean -> enriched)";
  spec.stage = sluice::config::Stage::kEnricher;
  spec.needs_kafka = spec.needs_registry = spec.needs_pg = true;
  // The steps are built by --check's field checks (pipeline::CheckPipelineFields) without
  // their lookups; the stage itself would open a PostgreSQL connection.
  spec.build = [](const sluice::pipeline::PipelineConfig& config) {
    (void)sluice::runtime::OptionsFromConfig(config, sluice::config::Stage::kEnricher);
  };
  spec.run = [](sluice::runtime::DaemonContext& ctx) {
    sluice::runtime::RunTransformDaemon(ctx, sluice::config::Stage::kEnricher, [&ctx] {
      return std::make_unique<sluice::enricher::EnricherStage>(ctx.config, ctx.shutdown);
    });
  };
  return sluice::runtime::RunDaemon(argc, argv, std::move(spec));
}

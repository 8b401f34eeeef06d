// sluice-cleaner: raw topic -> clean topic through the pipeline file's cleaner rules.
#include "cleaner_stage.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/transform_loop.hpp"

int main(int argc, char** argv) {
  sluice::runtime::DaemonSpec spec;
  spec.description = "Validates and repairs raw records with declarative rules (raw -> clean)";
  spec.stage = sluice::config::Stage::kCleaner;
  spec.needs_kafka = spec.needs_registry = true;
  spec.build = [](const sluice::pipeline::PipelineConfig& config) {
    (void)sluice::runtime::OptionsFromConfig(config, sluice::config::Stage::kCleaner);
    (void)sluice::cleaner::CleanerStage(config);
  };
  spec.run = [](sluice::runtime::DaemonContext& ctx) {
    sluice::runtime::RunTransformDaemon(ctx, sluice::config::Stage::kCleaner, [&ctx] {
      return std::make_unique<sluice::cleaner::CleanerStage>(ctx.config);
    });
  };
  return sluice::runtime::RunDaemon(argc, argv, std::move(spec));
}

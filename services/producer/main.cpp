// sluice-producer: CSV files -> the raw topic, exactly once (positions committed with the rows).
// `--once`: ingest what is there, then exit 0 (watched directories are scanned once).
#include "csv_producer.hpp"
#include "sluice/runtime/daemon.hpp"

int main(int argc, char** argv) {
  const bool once = sluice::producer::TakeFlag(argc, argv, "--once");
  sluice::runtime::DaemonSpec spec;
  spec.description = "Reads CSV files and HTTP APIs into the raw topic (exactly once; --once: ingest, then exit)";
  spec.stage = sluice::config::Stage::kProducer;
  spec.needs_kafka = spec.needs_registry = true;
  spec.build = [once](const sluice::pipeline::PipelineConfig& config) {
    (void)sluice::producer::MakeSources(sluice::producer::ProducerOptionsFromConfig(config, once),
                                        sluice::obs::Logger("check"));
  };
  spec.run = [once](sluice::runtime::DaemonContext& ctx) { sluice::producer::RunProducerDaemon(ctx, once); };
  return sluice::runtime::RunDaemon(argc, argv, std::move(spec));
}

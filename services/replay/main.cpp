// sluice-replay: re-runs the cleaner or the enricher over a fixed range of its input topic
// (services/replay/README.md).
#include <iostream>
#include <string>
#include <vector>

#include "replay.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/transform_loop.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  sluice::replay::ReplayArgs replay;
  if (auto error = sluice::replay::TakeReplayArgs(args, &replay)) {
    std::cerr << "sluice-replay: " << *error << "\n\n" << sluice::replay::ReplayUsage();
    return 2;
  }
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") std::cout << sluice::replay::ReplayUsage();
  }
  std::vector<char*> rest;
  rest.push_back(argv[0]);
  for (auto& a : args) rest.push_back(a.data());

  sluice::runtime::DaemonSpec spec;
  spec.binary = "sluice-replay";
  spec.description = "Re-runs the cleaner or the enricher over a range of its input topic";
  spec.stage = replay.through;
  spec.needs_kafka = spec.needs_registry = true;
  spec.needs_pg = replay.through == sluice::config::Stage::kEnricher;
  spec.build = [through = replay.through](const sluice::pipeline::PipelineConfig& config) {
    (void)sluice::runtime::OptionsFromConfig(config, through);
  };
  spec.run = [replay](sluice::runtime::DaemonContext& ctx) {
    sluice::replay::RunReplay(ctx, replay, std::cout);
  };
  return sluice::runtime::RunDaemon(static_cast<int>(rest.size()), rest.data(), std::move(spec));
}

#pragma once
// sluice-replay (services/replay/README.md): re-runs the cleaner or the enricher over a fixed
// range of its input topic with the shared transform loop in its bounded mode
// (runtime::TransformBounds), under its own consumer group and transactional id
// "<pipeline>-replay-<stage>". Its state (the range, the next offsets, done) is one record of
// the pipeline's positions topic, key "sluice-replay/<stage>", written in the same Kafka
// transaction as the outputs and the offsets: a killed replay resumes where it stopped.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sluice/config/stage_identity.hpp"
#include "sluice/runtime/daemon.hpp"

namespace sluice::replay {

struct ReplayArgs {
  config::Stage through = config::Stage::kCleaner;
  enum class From { kUnset, kBeginning, kTime, kOffsets } from = From::kUnset;
  std::int64_t from_time_ms = 0;
  std::vector<std::pair<std::int32_t, std::int64_t>> from_offsets;  // partition, offset
  std::optional<std::int64_t> to_time_ms;
  double rate = 0;  // records/s; 0 = no limit
  bool dry_run = false;
  bool restart = false;
};

// A time on the command line: milliseconds since the epoch, or ISO 8601 UTC
// ("2026-12-05T10:00:00Z", fractional seconds and a "+00:00" offset allowed). nullopt if neither.
std::optional<std::int64_t> ParseTime(const std::string& text);
// "500/s" or "500": records per second (> 0). nullopt otherwise.
std::optional<double> ParseRate(const std::string& text);

// Takes the replay's own options out of argv (the rest goes to runtime::RunDaemon, with
// --pipeline renamed --config). Returns the error message for a bad or missing option.
std::optional<std::string> TakeReplayArgs(std::vector<std::string>& argv, ReplayArgs* args);

// The usage text of the replay's own options (printed by --help before RunDaemon's).
std::string ReplayUsage();

// The daemon's run: resolves the range, reads the state, runs the bounded loop, prints the
// summary to `out`. Throws core::ConfigError, core::InfraError.
void RunReplay(runtime::DaemonContext& ctx, const ReplayArgs& args, std::ostream& out);

}  // namespace sluice::replay

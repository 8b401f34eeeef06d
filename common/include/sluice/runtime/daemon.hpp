#pragma once
// The shared daemon main. A service's main() is a few lines:
//
//   int main(int argc, char** argv) {
//     sluice::runtime::DaemonSpec spec;
//     spec.stage = sluice::config::Stage::kCleaner;  // binary name from the stage table
//     spec.needs_kafka = spec.needs_registry = true;
//     spec.run = [](sluice::runtime::DaemonContext& ctx) { /* loop until ctx.shutdown */ };
//     return sluice::runtime::RunDaemon(argc, argv, std::move(spec));
//   }
//
// RunDaemon owns: the command line (--config/SLUICE_CONFIG, --check, --print-config,
// --print-stages, --log-format, --log-level, and the deployment settings --http-port,
// --http-bind, --http-port-file / SLUICE_HTTP_PORT, _BIND, _PORT_FILE), loading and validating the pipeline file,
// logging, the metrics registry, the health server (/livez, /readyz, /metrics), SIGTERM and
// SIGINT (first: graceful shutdown via the token; second: immediate exit), and the mapping of
// exceptions to exit codes:
//   0  clean exit (run returned), --check ok, --print-config, --help
//   1  infrastructure failure: non-retryable core::InfraError, or retries exhausted; any
//      other unexpected exception
//   2  bad configuration or command line (core::ConfigError): one clear message on stderr
//   128+N  forced exit on a second signal N
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "sluice/config/environment.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/http/server.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"

namespace CLI {
class App;
}

namespace sluice::runtime {

// Parses a command line with CLI11 the way every Sluice binary does: nullopt to go on, else
// the exit code, with CLI11's text printed: 0 after --help, 2 for a usage error.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv,
                                    std::ostream& out, std::ostream& err);

// Everything a stage gets from the runtime. Lives for the whole run; single-threaded access
// except where the member's own type says otherwise (metrics, shutdown, http checks are
// thread-safe).
struct DaemonContext {
  const pipeline::PipelineConfig& config;
  obs::Registry& metrics;
  obs::StandardMetrics& standard;
  http::Server& http;  // routes only in DaemonSpec::setup; readiness checks any time
  core::ShutdownToken shutdown;
  obs::Logger log;
  const char* binary;
};

struct DaemonSpec {
  std::string binary;       // CLI name and the `daemon` log field; "" = the stage's binary
  std::string description;  // one line for --help
  config::Stage stage = config::Stage::kProducer;
  bool needs_kafka = false;     // fail fast (exit 2) when SLUICE_KAFKA_BROKERS is unset
  bool needs_registry = false;  // ... SLUICE_REGISTRY_URL
  bool needs_pg = false;        // ... SLUICE_PG_URL / PG*

  // Optional: builds every component the daemon runs from the pipeline file (sources, stage,
  // options) without connecting anywhere, and throws core::ConfigError for whatever start-up
  // would refuse. Run by --check, so that a file --check accepts starts, and before `run`.
  std::function<void(const pipeline::PipelineConfig&)> build;
  // Optional: before the health server starts (register routes here).
  std::function<void(DaemonContext&)> setup;
  // Required: the stage's loop; return when ctx.shutdown is requested (after finishing the
  // open batch) or throw. Returning means exit 0.
  std::function<void(DaemonContext&)> run;

  // For tests: streams instead of stdout/stderr, and an environment instead of the process's.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::optional<config::Environment> environment;
};

int RunDaemon(int argc, char** argv, DaemonSpec spec);

}  // namespace sluice::runtime

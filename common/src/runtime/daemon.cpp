#include "sluice/runtime/daemon.hpp"

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "sluice/core/error.hpp"
#include "sluice/pipeline/pipeline_fields.hpp"
#include "sluice/runtime/registry_schema_source.hpp"
#include "sluice/runtime/schema_contract.hpp"

namespace sluice::runtime {
namespace {

// Turns SIGTERM/SIGINT into a shutdown request. The signals are blocked in every thread
// (the mask is set before any other thread starts and inherited), and one thread takes them
// with sigtimedwait, so the handling runs as ordinary code rather than in a signal handler.
// The first signal requests shutdown; a second one exits at once with 128+signal.
class SignalThread {
 public:
  SignalThread(core::ShutdownSource source, obs::Logger log)
      : source_(std::move(source)), log_(std::move(log)) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~SignalThread() {
    stop_.store(true);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  void Loop() {
    int received = 0;
    // Polls so the destructor can stop it; 100 ms bounds shutdown latency of this thread only.
    timespec tick{0, 100'000'000};
    while (!stop_.load()) {
      siginfo_t info;
      int signo = sigtimedwait(&set_, &info, &tick);
      if (signo <= 0) continue;
      ++received;
      if (received == 1) {
        log_.Info("shutdown requested", {{"signal", strsignal(signo)}});
        source_.Request();
      } else {
        log_.Warn("second signal: exiting immediately", {{"signal", strsignal(signo)}});
        std::_Exit(128 + signo);
      }
    }
  }

  core::ShutdownSource source_;
  obs::Logger log_;
  sigset_t set_;
  sigset_t old_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Writes the bound port for a supervisor that started the daemon on port 0 (deploy/local):
// to a temporary name, then renamed, so a reader never sees a partial number.
void WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << '\n';
    if (!out.flush()) {
      throw core::ConfigError("--http-port-file: cannot write " + tmp + ": " + std::strerror(errno));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw core::ConfigError("--http-port-file: cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv,
                                    std::ostream& out, std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? 0 : 2;
  }
  return std::nullopt;
}

int RunDaemon(int argc, char** argv, DaemonSpec spec) {
  // glibc gives each thread that allocates its own arena (up to 8 per core); librdkafka's
  // threads then hold freed memory that the loop thread never reuses. Two arenas keep a
  // daemon's resident memory flat; the hot path allocates from the loop thread only.
  // MALLOC_ARENA_MAX in the environment still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  std::ostream& out = spec.out ? *spec.out : std::cout;
  std::ostream& err = spec.err ? *spec.err : std::cerr;
  SLUICE_ASSERT(static_cast<bool>(spec.run), "DaemonSpec::run is required");
  if (spec.binary.empty()) spec.binary = config::IdentityOf(spec.stage).binary;

  CLI::App app{spec.description.empty() ? spec.binary : spec.description, spec.binary};
  std::string config_path;
  bool check = false;
  bool print_config = false;
  std::string log_format = "json";
  std::string log_level = "info";
  bool print_stages = false;
  int http_port = 0;
  std::string http_bind = "127.0.0.1";
  std::string http_port_file;
  app.add_option("-c,--config", config_path, "Pipeline file (YAML)")->envname("SLUICE_CONFIG");
  app.add_flag("--check", check, "Validate the whole pipeline file, print ok or the errors, exit 0 or 2");
  app.add_flag("--print-config", print_config,
               "Print the effective configuration (defaults filled, secrets masked) and exit");
  app.add_option("--log-format", log_format, "json (default) or text")
      ->check(CLI::IsMember({"json", "text"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_flag("--print-stages", print_stages,
               "Print the stage identity table (ids, sections, binaries, groups, ports) and exit");
  // Deployment settings, not pipeline settings: two pipelines on one host must not collide.
  app.add_option("--http-port", http_port, "Health/metrics port (default 0: any free port)")
      ->envname("SLUICE_HTTP_PORT")
      ->check(CLI::Range(0, 65535));
  app.add_option("--http-bind", http_bind, "Address of the health/metrics server (default 127.0.0.1)")
      ->envname("SLUICE_HTTP_BIND");
  app.add_option("--http-port-file", http_port_file,
                 "Write the bound health/metrics port to this file once listening")
      ->envname("SLUICE_HTTP_PORT_FILE");
  if (auto code = ParseCommandLine(app, argc, argv, out, err)) return *code;

  obs::LogOptions log_options;
  log_options.daemon = spec.binary;
  obs::ParseLogFormat(log_format, &log_options.format);
  obs::ParseLogLevel(log_level, &log_options.level);
  log_options.out = spec.out;
  obs::ConfigureLogging(log_options);
  obs::Logger log("runtime");

  if (print_stages) {
    out << config::StagesTable();
    return 0;
  }
  if (config_path.empty()) {
    err << spec.binary << ": --config <file> (or SLUICE_CONFIG) is required\n";
    return 2;
  }

  config::Environment env = spec.environment ? *spec.environment : config::Environment::FromProcess();
  pipeline::PipelineConfig cfg;
  auto issues = pipeline::PipelineConfig::Check(config_path, env, &cfg);
  // Field names are checked against the schemas once the file's shape is valid.
  if (issues.empty()) issues = pipeline::CheckPipelineFields(cfg);
  if (!issues.empty()) {
    err << config::FormatIssues(std::move(issues));
    return 2;
  }
  if (spec.build) {
    try {
      spec.build(cfg);
    } catch (const core::ConfigError& e) {
      err << e.what() << '\n';  // names the file, as the issues above do
      return 2;
    }
  }
  if (check) {
    out << "ok\n";
    return 0;
  }
  if (print_config) {
    out << cfg.ToYaml();
    return 0;
  }

  try {
    if (spec.needs_kafka) cfg.RequireKafka();
    if (spec.needs_registry) cfg.RequireRegistry();
    if (spec.needs_pg) cfg.RequirePg();

    obs::Registry metrics;
    obs::StandardMetrics standard = obs::StandardMetrics::Register(metrics);
    http::ServerOptions server_options;
    server_options.bind = http_bind;
    server_options.port = http_port;
    // Declared before the signal thread: destroyed after it, so a late request finds it.
    http::Server server(server_options, &metrics);
    core::ShutdownSource shutdown;
    SignalThread signals(shutdown, log);

    DaemonContext ctx{cfg, metrics, standard, server, shutdown.Token(), obs::Logger(spec.binary),
                      spec.binary.c_str()};
    server.AddReadinessCheck("running", [token = shutdown.Token()] {
      return token.Requested() ? http::CheckResult{false, "shutting down"} : http::CheckResult{};
    });
    auto contract_ok = std::make_shared<std::atomic<bool>>(!spec.needs_registry);
    server.AddReadinessCheck("schema_contract", [contract_ok] {
      return contract_ok->load() ? http::CheckResult{}
                                 : http::CheckResult{false, "checking the schema contract"};
    });
    if (spec.setup) spec.setup(ctx);
    server.Start();
    if (!http_port_file.empty()) WritePortFile(http_port_file, server.Port());
    log.Info("started", {{"pipeline", cfg.Name()},
                         {"config", cfg.File().string()},
                         {"http_port", server.Port()}});
    if (spec.needs_registry) {
      // Before the stage does any work, with the health server up (/livez answers while the
      // check waits for an upstream subject). See schema_contract.hpp.
      registry::Client client(RegistryClientOptions(cfg.Endpoint()));
      RegistryContractSource source(client);
      if (!CheckSchemaContract(ContractOf(cfg, spec.stage), source,
                               RetryPolicy::FromConfig(cfg.SectionView("retry")), shutdown.Token(),
                               log)) {
        log.Info("stopped before the schema contract was checked", {{"pipeline", cfg.Name()}});
        return 0;
      }
      contract_ok->store(true);
    }
    spec.run(ctx);
    log.Info("stopped", {{"pipeline", cfg.Name()}});
    return 0;
  } catch (const core::ConfigError& e) {
    err << spec.binary << ": " << e.what() << '\n';
    log.Error("configuration error", {{"error", e.what()}});
    return 2;
  } catch (const core::FencedError& e) {
    log.Critical("fenced by another instance", {{"error", e.what()}});
    err << spec.binary << ": fenced: " << e.what() << '\n';
    return 3;
  } catch (const core::InfraError& e) {
    // A retryable error that reaches here was not retried by the stage (or ran out of budget
    // inside it); either way the supervisor restarts us.
    log.Critical("infrastructure failure", {{"error", e.what()}, {"retryable", e.Retryable()}});
    err << spec.binary << ": " << (e.Retryable() ? "infrastructure failure (retries exhausted): "
                                                  : "infrastructure failure: ")
        << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    log.Critical("unexpected error", {{"error", e.what()}});
    err << spec.binary << ": unexpected error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace sluice::runtime

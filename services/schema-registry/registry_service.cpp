#include "registry_service.hpp"

#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "kafka_schemas_log.hpp"
#include "registry_api.hpp"
#include "registry_store.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/http/server.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"

namespace sluice::schema_registry {
namespace {

constexpr auto kStartupBudget = std::chrono::seconds(60);

const char* MethodName(http::Method m) {
  switch (m) {
    case http::Method::kGet: return "GET";
    case http::Method::kPost: return "POST";
    case http::Method::kPut: return "PUT";
    case http::Method::kDelete: return "DELETE";
  }
  return "GET";
}

http::Method MethodOf(const std::string& name) {
  if (name == "POST") return http::Method::kPost;
  if (name == "PUT") return http::Method::kPut;
  if (name == "DELETE") return http::Method::kDelete;
  return http::Method::kGet;
}

nlohmann::ordered_json OptionsJson(const RegistryOptions& o) {
  nlohmann::ordered_json j;
  j["bind"] = o.bind;
  j["port"] = o.port;
  j["brokers"] = o.brokers;
  j["schemas_topic"] = o.topic;
  j["replication"] = o.replication;
  j["http_threads"] = o.http_threads;
  j["log_format"] = o.log_format;
  j["log_level"] = o.log_level;
  j["librdkafka"] = o.librdkafka;
  return j;
}

// Blocks SIGTERM/SIGINT in every thread and turns the first one into a shutdown request; a
// second one exits at once (128+N), as the other daemons do.
class SignalWatcher {
 public:
  explicit SignalWatcher(const core::ShutdownSource& source) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    // Detached and holding copies only: it may outlive this object until the process ends.
    std::thread([set = set_, src = source]() mutable {
      int sig = 0;
      sigwait(&set, &sig);
      src.Request();
      sigwait(&set, &sig);
      std::_Exit(128 + sig);
    }).detach();
  }

 private:
  sigset_t set_;
};

int Serve(const RegistryOptions& o) {
  obs::Logger log("registry");
  core::ShutdownSource shutdown;
  SignalWatcher signals(shutdown);
  core::ShutdownToken token = shutdown.Token();

  obs::Registry metrics;
  auto& ready_gauge = metrics.AddGauge("sluice_registry_ready", "1 once the schemas log was read to its end").Get();
  auto& applied_gauge =
      metrics.AddGauge("sluice_registry_log_position", "Next offset of the schemas log to apply").Get();
  auto& lost_gauge = metrics.AddGauge("sluice_registry_lost_write_races",
                                      "Writes that lost the optimistic race and were retried")
                         .Get();
  auto& requests = metrics.AddCounter("sluice_registry_requests_total", "REST requests by method and status",
                                      {"method", "status"});

  // The log: create or check the topic, retrying while the broker is unreachable.
  std::unique_ptr<KafkaSchemasLog> schemas_log;
  auto deadline = std::chrono::steady_clock::now() + kStartupBudget;
  for (int attempt = 0;; ++attempt) {
    try {
      KafkaLogOptions ko;
      ko.brokers = o.brokers;
      ko.topic = o.topic;
      ko.replication = o.replication;
      ko.librdkafka = o.librdkafka;
      schemas_log = std::make_unique<KafkaSchemasLog>(ko);
      break;
    } catch (const core::InfraError& e) {
      if (!e.Retryable() || std::chrono::steady_clock::now() > deadline) throw;
      log.Warn("schemas topic not reachable yet, retrying", {{"error", e.what()}, {"attempt", attempt}});
      if (token.WaitFor(std::chrono::seconds(1))) return 0;
    }
  }

  RegistryStore store(*schemas_log, RandomNodeId());
  RegistryApi api(store);
  log.Info("starting", {{"topic", o.topic}, {"node", store.NodeId()}});

  http::ServerOptions so;
  so.bind = o.bind;
  so.port = o.port;
  so.threads = o.http_threads;
  http::Server server(so, &metrics);
  for (const auto& [method, pattern] : RegistryApi::Routes()) {
    server.Route(MethodOf(method), pattern, [&](const http::Request& req) {
      ApiResponse response;
      if (!store.CaughtUp()) {
        response = ErrorResponse(ErrorCode::kStoreError,
                                 "the registry is still reading the schemas topic '" + o.topic + "'");
      } else {
        ApiRequest ar;
        ar.method = MethodName(req.method);
        ar.path = req.path;
        ar.query = req.query;
        ar.body = req.body;
        ar.content_type = req.Header("Content-Type");
        response = api.Handle(ar);
      }
      requests.With({MethodName(req.method), std::to_string(response.status)}).Inc();
      return http::Response{response.status, response.body, response.content_type, {}};
    });
  }
  server.AddReadinessCheck("schemas_log", [&store, topic = o.topic] {
    if (store.CaughtUp()) return http::CheckResult{true, ""};
    return http::CheckResult{false, "reading " + topic + " up to its end"};
  });
  server.Start();
  log.Info("listening", {{"bind", o.bind}, {"port", server.Port()}});

  // The tail thread keeps the state current with other instances' writes.
  std::atomic<bool> fatal{false};
  std::thread tail([&] {
    while (!token.Requested()) {
      try {
        store.Poll(std::chrono::milliseconds(200));
        auto position = store.Read([](const RegistryState& s) { return s.AppliedEnd(); });
        applied_gauge.Set(static_cast<double>(position));
        lost_gauge.Set(static_cast<double>(store.LostRaces()));
      } catch (const core::InfraError& e) {
        if (!e.Retryable()) {
          log.Error("schemas log failed", {{"error", e.what()}});
          fatal = true;
          shutdown.Request();
          return;
        }
        log.Warn("schemas log read failed, retrying", {{"error", e.what()}});
        token.WaitFor(std::chrono::seconds(1));
      }
    }
  });

  // Start-up catch-up: /readyz turns 200 only after this.
  while (!token.Requested()) {
    try {
      store.CatchUp(std::chrono::steady_clock::now() + std::chrono::seconds(30));
      ready_gauge.Set(1);
      log.Info("caught up with the schemas log",
               {{"position", store.Read([](const RegistryState& s) { return s.AppliedEnd(); })}});
      break;
    } catch (const std::exception& e) {
      log.Warn("catching up with the schemas log", {{"error", e.what()}});
      token.WaitFor(std::chrono::seconds(1));
    }
  }

  token.Wait();
  log.Info("shutting down");
  server.Stop();
  tail.join();
  return fatal ? 1 : 0;
}

}  // namespace

int RunRegistry(int argc, char** argv) {
  RegistryOptions o;
  bool check = false;
  bool print_config = false;
  bool print_stages = false;
  std::vector<std::string> extra;
  CLI::App app{"sluice-registry: Confluent-compatible schema registry backed by a compacted Kafka topic"};
  app.add_option("--bind", o.bind, "Address to listen on")->envname("SLUICE_REGISTRY_BIND");
  app.add_option("--port", o.port, "REST port (0: any free port)")->envname("SLUICE_REGISTRY_PORT");
  app.add_option("--brokers", o.brokers, "Kafka bootstrap servers")->envname("SLUICE_KAFKA_BROKERS");
  app.add_option("--schemas-topic", o.topic, "Topic holding the registry state")
      ->envname("SLUICE_REGISTRY_TOPIC");
  app.add_option("--replication", o.replication, "Replication factor when creating the topic");
  app.add_option("--http-threads", o.http_threads, "HTTP worker threads");
  app.add_option("-X", extra, "librdkafka property key=value (repeatable)");
  app.add_option("--log-format", o.log_format, "json or text")->envname("SLUICE_LOG_FORMAT");
  app.add_option("--log-level", o.log_level, "trace|debug|info|warn|error|critical|off")
      ->envname("SLUICE_LOG_LEVEL");
  app.add_flag("--check", check, "Validate the configuration, print ok or the error, exit 0 or 2");
  app.add_flag("--print-config", print_config, "Print the effective configuration as JSON and exit");
  app.add_flag("--print-stages", print_stages,
               "Print the stage identity table (ids, sections, binaries, groups, ports) and exit");
  if (auto code = sluice::runtime::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) return *code;
  if (print_stages) {
    std::cout << config::StagesTable();
    return 0;
  }

  std::string problem;
  for (const auto& kv : extra) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      problem = "-X expects key=value, got '" + kv + "'";
      break;
    }
    o.librdkafka[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  obs::LogOptions lo;
  lo.daemon = config::IdentityOf(config::Stage::kRegistry).binary;
  if (problem.empty() && o.brokers.empty()) problem = "--brokers (or SLUICE_KAFKA_BROKERS) is required";
  if (problem.empty() && o.topic.empty()) problem = "--schemas-topic must not be empty";
  if (problem.empty() && (o.port < 0 || o.port > 65535)) problem = "--port must be 0..65535";
  if (problem.empty() && o.replication < 1) problem = "--replication must be at least 1";
  if (problem.empty() && !obs::ParseLogFormat(o.log_format, &lo.format)) problem = "bad --log-format";
  if (problem.empty() && !obs::ParseLogLevel(o.log_level, &lo.level)) problem = "bad --log-level";
  if (!problem.empty()) {
    std::cerr << "sluice-registry: " << problem << "\n";
    return 2;
  }
  if (check) {
    std::cout << "ok\n";
    return 0;
  }
  if (print_config) {
    std::cout << OptionsJson(o).dump(2) << "\n";
    return 0;
  }
  obs::ConfigureLogging(lo);
  try {
    return Serve(o);
  } catch (const core::ConfigError& e) {
    std::cerr << "sluice-registry: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    obs::Logger("registry").Critical("fatal", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace sluice::schema_registry

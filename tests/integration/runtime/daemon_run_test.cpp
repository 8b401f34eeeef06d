// RunDaemon's run path: the health server is up while the stage runs, SIGTERM reaches the
// stage as a shutdown request, and exceptions become exit codes. Uses loopback sockets.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/core/error.hpp"
#include "sluice/http/client.hpp"
#include "sluice/runtime/daemon.hpp"

using sluice::config::Environment;
using sluice::runtime::DaemonContext;
using sluice::runtime::DaemonSpec;
using sluice::runtime::RunDaemon;

namespace {

const std::string kGood = std::string(SLUICE_TEST_DATA_DIR) + "/config/good/loans.yaml";

int Run(std::function<void(DaemonContext&)> run, std::string* err_text = nullptr,
        std::function<void(DaemonContext&)> setup = {}, std::vector<std::string> extra = {}) {
  std::ostringstream out, err;
  DaemonSpec spec;
  spec.binary = "sluice-test";
  spec.stage = sluice::config::Stage::kEnricher;
  spec.run = std::move(run);
  spec.setup = std::move(setup);
  spec.out = &out;
  spec.err = &err;
  spec.environment = Environment();
  std::vector<std::string> args = {"sluice-test", "--config", kGood};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int code = RunDaemon(static_cast<int>(argv.size()), argv.data(), std::move(spec));
  if (err_text) *err_text = err.str();
  return code;
}

}  // namespace

TEST_CASE("SIGTERM requests shutdown, the stage finishes and the daemon exits 0") {
  bool saw_shutdown = false;
  int ready_status = 0, not_ready_status = 0;
  std::string metrics;
  int code = Run(
      [&](DaemonContext& ctx) {
        std::string base = "http://127.0.0.1:" + std::to_string(ctx.http.Port());
        sluice::http::Client client;
        ctx.standard.records_in.Inc(7);
        ready_status = static_cast<int>(client.Get(base + "/readyz").status);
        metrics = client.Get(base + "/metrics").body;
        kill(getpid(), SIGTERM);
        saw_shutdown = ctx.shutdown.WaitFor(std::chrono::seconds(30));
        // Once shutting down, /readyz says so (load balancers stop sending traffic).
        not_ready_status = static_cast<int>(client.Get(base + "/readyz").status);
      },
      nullptr,
      [](DaemonContext& ctx) {
        ctx.http.Route(sluice::http::Method::kGet, "/custom", [](const sluice::http::Request&) {
          return sluice::http::Response{};
        });
      });
  CHECK(code == 0);
  CHECK(saw_shutdown);
  CHECK(ready_status == 200);
  CHECK(not_ready_status == 503);
  CHECK(metrics.find("sluice_records_in_total 7\n") != std::string::npos);
  CHECK(metrics.find("# TYPE sluice_end_to_end_seconds histogram\n") != std::string::npos);
}

TEST_CASE("by default the health server binds a free port on 127.0.0.1 and writes it to --http-port-file") {
  const std::string file = std::filesystem::temp_directory_path() /
                           ("sluice-port-" + std::to_string(getpid()));
  std::filesystem::remove(file);
  int bound = -1;
  std::string written;
  int live_status = 0;
  CHECK(Run(
            [&](DaemonContext& ctx) {
              bound = ctx.http.Port();
              std::ifstream in(file);
              std::getline(in, written);
              sluice::http::Client client;
              live_status = static_cast<int>(client.Get("http://127.0.0.1:" + written + "/livez").status);
            },
            nullptr, {}, {"--http-port-file", file}) == 0);
  CHECK(bound > 0);
  CHECK(written == std::to_string(bound));
  CHECK(live_status == 200);
  std::filesystem::remove(file);
}

TEST_CASE("exceptions from the stage map to exit codes") {
  std::string err;
  CHECK(Run([](DaemonContext&) { throw sluice::core::ConfigError("sink.table: no such schema"); },
            &err) == 2);
  CHECK(err == "sluice-test: sink.table: no such schema\n");

  CHECK(Run([](DaemonContext&) {
          throw sluice::core::InfraError("fenced by a newer instance", sluice::core::Retry::kNo);
        },
            &err) == 1);
  CHECK(err == "sluice-test: infrastructure failure: fenced by a newer instance\n");

  CHECK(Run([](DaemonContext&) {
          throw sluice::core::InfraError("broker down", sluice::core::Retry::kYes);
        },
            &err) == 1);
  CHECK(err == "sluice-test: infrastructure failure (retries exhausted): broker down\n");

  CHECK(Run([](DaemonContext&) { throw std::logic_error("oops"); }, &err) == 1);
  CHECK(err == "sluice-test: unexpected error: oops\n");

  CHECK(Run([](DaemonContext&) {}, &err) == 0);
  CHECK(err == "");
}

// RunDaemon paths that end before the health server starts (no sockets): --check,
// --print-config, command-line and environment errors.
#include <catch2/catch.hpp>

#include <functional>
#include <sstream>

#include "sluice/core/error.hpp"
#include "sluice/runtime/daemon.hpp"

using sluice::config::Environment;
using sluice::runtime::DaemonContext;
using sluice::runtime::DaemonSpec;
using sluice::runtime::RunDaemon;

namespace {

const std::string kGood = std::string(SLUICE_TEST_DATA_DIR) + "/config/good/loans.yaml";
const std::string kBad = std::string(SLUICE_TEST_DATA_DIR) + "/config/bad/unknown_key.yaml";

struct Result {
  int code;
  std::string out;
  std::string err;
  bool ran;
};

Result Run(std::vector<std::string> args, Environment env = Environment(),
           bool needs_kafka = false,
           std::function<void(const sluice::pipeline::PipelineConfig&)> build = nullptr) {
  std::ostringstream out, err;
  bool ran = false;
  DaemonSpec spec;
  spec.binary = "sluice-test";
  spec.stage = sluice::config::Stage::kCleaner;
  spec.needs_kafka = needs_kafka;
  spec.run = [&](DaemonContext&) { ran = true; };
  spec.build = std::move(build);
  spec.out = &out;
  spec.err = &err;
  spec.environment = env;
  args.insert(args.begin(), "sluice-test");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int code = RunDaemon(static_cast<int>(argv.size()), argv.data(), std::move(spec));
  return {code, out.str(), err.str(), ran};
}

}  // namespace

TEST_CASE("check: a valid file prints ok and exits 0 without running the stage") {
  auto r = Run({"--config", kGood, "--check"});
  CHECK(r.code == 0);
  CHECK(r.out == "ok\n");
  CHECK(r.err == "");
  CHECK_FALSE(r.ran);
}

TEST_CASE("check: a broken file prints every error and exits 2") {
  auto r = Run({"--check", "--config", kBad});
  CHECK(r.code == 2);
  CHECK(r.out == "");
  CHECK(r.err.find("unknown_key.yaml:19:7: cleaner.rules[3].regx: unknown key 'regx' "
                   "(did you mean 'regex'?)\n") != std::string::npos);
  CHECK(r.err.find("cleaner.rules[3]: missing required key 'regex'") != std::string::npos);
  CHECK_FALSE(r.ran);
}

TEST_CASE("starting with a broken file exits 2 before the stage runs") {
  auto r = Run({"--config", kBad});
  CHECK(r.code == 2);
  CHECK_FALSE(r.ran);
}

TEST_CASE("print-config prints the effective YAML with secrets masked") {
  Environment env({{"SLUICE_PG_URL", "postgresql://sluice:topsecret@127.0.0.1:15432/sluice"}});
  auto r = Run({"--config", kGood, "--print-config"}, env);
  CHECK(r.code == 0);
  CHECK(r.out.find("pipeline: loans\n") != std::string::npos);
  CHECK(r.out.find("dlq: loans.dlq\n") != std::string::npos);
  CHECK(r.out.find("topsecret") == std::string::npos);
  CHECK_FALSE(r.ran);
}

TEST_CASE("command-line mistakes exit 2 with a message") {
  auto missing = Run({"--check"});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("--config <file> (or SLUICE_CONFIG) is required") != std::string::npos);

  auto format = Run({"--config", kGood, "--log-format", "xml"});
  CHECK(format.code == 2);
  CHECK(format.err.find("xml") != std::string::npos);

  auto unknown = Run({"--config", kGood, "--frobnicate"});
  CHECK(unknown.code == 2);

  auto port = Run({"--config", kGood, "--http-port", "70000"});
  CHECK(port.code == 2);

  auto help = Run({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("--print-config") != std::string::npos);
}

TEST_CASE("print-stages: the stage identity table, printed without a pipeline file") {
  auto r = Run({"--print-stages"});
  CHECK(r.code == 0);
  CHECK(r.out == sluice::config::StagesTable());
  CHECK_FALSE(r.ran);
}

TEST_CASE("a stage that needs Kafka exits 2 naming the missing variable") {
  auto r = Run({"--config", kGood}, Environment(), /*needs_kafka=*/true);
  CHECK(r.code == 2);
  CHECK(r.err == "sluice-test: environment: SLUICE_KAFKA_BROKERS is not set; export the Kafka "
                 "bootstrap servers, e.g. SLUICE_KAFKA_BROKERS=127.0.0.1:19092\n");
  CHECK_FALSE(r.ran);
}

TEST_CASE("a missing config file exits 2 naming it") {
  auto r = Run({"--config", "/nonexistent/p.yaml", "--check"});
  CHECK(r.code == 2);
  CHECK(r.err == "/nonexistent/p.yaml: cannot read the pipeline file: No such file or directory\n");
}

TEST_CASE("check builds the daemon's components: what start-up would refuse fails --check") {
  int built = 0;
  auto refuse = [&](const sluice::pipeline::PipelineConfig& config) {
    ++built;
    throw sluice::core::ConfigError(config.File().string() + ": producer.sources[0]: refused");
  };
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--config", kGood, "--check"}, std::vector<std::string>{"--config", kGood}}) {
    auto r = Run(args, Environment(), false, refuse);
    CHECK(r.code == 2);
    CHECK(r.out == "");
    CHECK(r.err == kGood + ": producer.sources[0]: refused\n");
    CHECK_FALSE(r.ran);
  }
  CHECK(built == 2);
  auto ok = Run({"--config", kGood, "--check"}, Environment(), false,
                [&](const sluice::pipeline::PipelineConfig&) { ++built; });
  CHECK(ok.code == 0);
  CHECK(built == 3);
}

// The start-up schema contract on the local stack: the real sluice-producer binary against the
// real broker and a real sluice-registry process (its own schemas topic, unique subjects).
// A registry holding an incompatible schema for the producer's output subject: it exits 2 with
// one message naming the subject, the level and the registry's incompatibility, and registers
// nothing; a compatible evolution: it starts, registers the new version and exits 0 (--once).
// The same proofs without a broker: tests/integration/schema-registry/schema_contract_test.cpp.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/kafka/admin.hpp"
#include "sluice/registry/client.hpp"
#include "support/child_process.hpp"
#include "support/contract_schemas.hpp"
#include "support/stack_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sluice::testing::ChildProcess;
using sluice::testing::FreePort;
using sluice::testing::RandomSuffix;
using sluice::testing::RegistryProcess;
using sluice::testing::RequireEnv;

namespace {

constexpr auto kBound = std::chrono::seconds(180);

struct Pipeline {
  std::string name = "ctest" + RandomSuffix();
  fs::path work = fs::temp_directory_path() / ("sluice-contract-kt-" + RandomSuffix());
  fs::path file = work / "pipeline.yaml";
  fs::path output = work / "producer.out";
  std::string raw_subject = name + ".raw-value";
  RegistryProcess registry{"_schemas." + name};
  sluice::registry::Client client{[&] {
    sluice::registry::ClientOptions o;
    o.url = registry.Url();
    return o;
  }()};

  Pipeline() {
    registry.WaitReady();
    sluice::testing::WriteContractPipeline(work, name);
  }
  ~Pipeline() {
    std::error_code ec;
    fs::remove_all(work, ec);
    registry.Stop();
    try {
      sluice::kafka::Admin admin({{"bootstrap.servers", RequireEnv("SLUICE_KAFKA_BROKERS")}});
      admin.DeleteTopics({name + ".raw", name + ".dlq", name + ".positions", registry.SchemasTopic()}, 30s);
    } catch (const std::exception& e) {
      WARN("could not delete test topics: " << e.what());
    }
  }

  void Register(const char* schema) {
    (void)client.Register(sluice::registry::SubjectName(raw_subject), nlohmann::json::parse(schema).dump());
  }
  std::vector<int> Versions() {
    sluice::registry::RegisteredSchema latest = client.Latest(sluice::registry::SubjectName(raw_subject));
    std::vector<int> out;
    for (int v = 1; v <= latest.version; ++v) out.push_back(v);
    return out;
  }
  int RunOnce() {
    ChildProcess producer({std::string(SLUICE_BINARY_DIR) + "/bin/sluice-producer", "--config", file.string(),
                           "--http-port", std::to_string(FreePort()), "--once"},
                          {{"SLUICE_KAFKA_BROKERS", RequireEnv("SLUICE_KAFKA_BROKERS")},
                           {"SLUICE_REGISTRY_URL", registry.Url()}},
                          output.string());
    return producer.WaitExit(kBound);
  }
};

}  // namespace

TEST_CASE("a producer started against a registry holding an incompatible schema for its subject exits 2 with the message") {
  Pipeline p;
  p.Register(sluice::testing::kContractEarlier);
  p.Register(sluice::testing::kContractIncompatible);
  REQUIRE(p.Versions() == std::vector<int>{1, 2});

  CHECK(p.RunOnce() == 2);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  const std::string head = "sluice-producer: schema contract: subject '" + p.raw_subject +
                           "' (level BACKWARD): the configured schema schemas/prices.raw.v1.avsc "
                           "is incompatible with version 2: {errorType:'";
  CHECK(text.find(head) != std::string::npos);
  CHECK(text.find("{oldSchemaVersion: 2}") != std::string::npos);
  CHECK(p.Versions() == std::vector<int>{1, 2});  // nothing registered
}

TEST_CASE("a producer whose configured schema is a compatible evolution starts, registers it and runs") {
  Pipeline p;
  p.Register(sluice::testing::kContractEarlier);

  CHECK(p.RunOnce() == 0);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  CHECK(text.find("\"msg\":\"schema contract: subject checked\"") != std::string::npos);
  CHECK(text.find("\"verdict\":\"compatible\"") != std::string::npos);
  CHECK(p.Versions() == std::vector<int>{1, 2});  // the configured schema is version 2 now
}

// The start-up schema contract of the real daemon binaries against a real sluice registry API
// served in this process over loopback HTTP (an in-memory `_schemas` log: no broker needed).
// The broker address given to the daemons is a closed port: a daemon that refuses its contract
// exits before it touches Kafka. The same proof on the local stack's broker and a
// sluice-registry process is tests/integration/producer/schema_contract_kafkatest.cpp.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "registry_api.hpp"
#include "registry_store.hpp"
#include "schemas_log.hpp"
#include "sluice/http/server.hpp"
#include "sluice/registry/client.hpp"
#include "support/child_process.hpp"
#include "support/contract_schemas.hpp"
#include "support/stack_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace sluice::schema_registry;
using sluice::testing::ChildProcess;
using sluice::testing::FreePort;
using sluice::testing::RandomSuffix;

namespace {

constexpr auto kBound = std::chrono::seconds(60);

// The REST API over an in-memory log, on a free loopback port, for the test's lifetime.
class InProcessRegistry {
 public:
  InProcessRegistry() : log_(store_log_), store_(log_, RandomNodeId()), api_(store_), server_({}, nullptr) {
    store_.CatchUp(std::chrono::steady_clock::now() + 5s);
    for (const auto& [method, pattern] : RegistryApi::Routes()) {
      server_.Route(MethodOf(method), pattern, [this](const sluice::http::Request& req) {
        ApiRequest ar;
        ar.method = NameOf(req.method);
        ar.path = req.path;
        ar.query = req.query;
        ar.body = req.body;
        ar.content_type = req.Header("Content-Type");
        ApiResponse r = api_.Handle(ar);
        return sluice::http::Response{r.status, r.body, r.content_type, {}};
      });
    }
    server_.Start();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_.Port()); }

  // Registers a version (or sets a level) through the API, as any client would.
  void Register(const std::string& subject, const std::string& schema) {
    ApiResponse r = Call("POST", "/subjects/" + subject + "/versions",
                         nlohmann::json{{"schema", schema}}.dump());
    REQUIRE(r.status == 200);
  }
  void SetLevel(const std::string& subject, const std::string& level) {
    REQUIRE(Call("PUT", "/config/" + subject, nlohmann::json{{"compatibility", level}}.dump()).status == 200);
  }
  std::vector<int> Versions(const std::string& subject) {
    ApiResponse r = Call("GET", "/subjects/" + subject + "/versions", "");
    if (r.status != 200) return {};
    return nlohmann::json::parse(r.body).get<std::vector<int>>();
  }

 private:
  static sluice::http::Method MethodOf(const std::string& name) {
    if (name == "POST") return sluice::http::Method::kPost;
    if (name == "PUT") return sluice::http::Method::kPut;
    if (name == "DELETE") return sluice::http::Method::kDelete;
    return sluice::http::Method::kGet;
  }
  static std::string NameOf(sluice::http::Method m) {
    switch (m) {
      case sluice::http::Method::kPost: return "POST";
      case sluice::http::Method::kPut: return "PUT";
      case sluice::http::Method::kDelete: return "DELETE";
      case sluice::http::Method::kGet: break;
    }
    return "GET";
  }
  ApiResponse Call(const std::string& method, const std::string& path, const std::string& body) {
    ApiRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.content_type = body.empty() ? "" : kContentType;
    return api_.Handle(r);
  }

  MemoryLogStore store_log_;
  MemoryLog log_;
  RegistryStore store_;
  RegistryApi api_;
  sluice::http::Server server_;
};

// A pipeline folder: pipeline.yaml naming schemas/prices.raw.v1.avsc, a csv source on an empty
// directory, unique topic names.
struct Pipeline {
  std::string name = "contract" + RandomSuffix();
  fs::path work = fs::temp_directory_path() / ("sluice-contract-it-" + RandomSuffix());
  fs::path file = work / "pipeline.yaml";
  fs::path output = work / "daemon.out";
  std::string raw_subject = name + ".raw-value";

  Pipeline() {
    sluice::testing::WriteContractPipeline(work, name, "retry: {initial_backoff: 50ms, max_backoff: 200ms, budget: 2s}\n");
  }
  ~Pipeline() {
    std::error_code ec;
    fs::remove_all(work, ec);
  }

  std::unique_ptr<ChildProcess> Start(const std::string& binary, const InProcessRegistry& registry) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(SLUICE_BINARY_DIR) + "/bin/" + binary, "--config",
                                 file.string(), "--http-port", std::to_string(FreePort())},
        std::map<std::string, std::string>{{"SLUICE_KAFKA_BROKERS", "127.0.0.1:1"},  // closed
                                           {"SLUICE_REGISTRY_URL", registry.Url()},
                                           {"SLUICE_PG_URL", "postgresql://127.0.0.1:1/none"}},
        output.string());
  }

  // Waits until the daemon's output holds `needle`; fails the test after kBound.
  std::string AwaitOutput(const std::string& needle, ChildProcess& process) {
    const auto deadline = std::chrono::steady_clock::now() + kBound;
    for (;;) {
      std::string text = sluice::testing::ReadWholeFile(output);
      if (text.find(needle) != std::string::npos) return text;
      if (!process.Running()) FAIL("the daemon exited with " << process.Wait() << " before printing "
                                                             << needle << ":\n" << text);
      if (std::chrono::steady_clock::now() > deadline) FAIL("no " << needle << " within the bound:\n" << text);
      std::this_thread::sleep_for(50ms);
    }
  }
};

// The lines of `text` that contain `needle`.
int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("a producer whose output subject holds an incompatible schema exits 2 with one message") {
  InProcessRegistry registry;
  Pipeline p;
  registry.Register(p.raw_subject, sluice::testing::kContractEarlier);
  registry.Register(p.raw_subject, sluice::testing::kContractIncompatible);  // BACKWARD: string price reads the earlier one

  auto producer = p.Start("sluice-producer", registry);
  CHECK(producer->WaitExit(kBound) == 2);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  const std::string head = "sluice-producer: schema contract: subject '" + p.raw_subject +
                           "' (level BACKWARD): the configured schema schemas/prices.raw.v1.avsc "
                           "is incompatible with version 2: ";
  CHECK(text.find(head) != std::string::npos);
  // The registry's verbose incompatibility, on the same line.
  const auto at = text.find(head);
  REQUIRE(at != std::string::npos);
  const std::string line = text.substr(at, text.find('\n', at) - at);
  CHECK(line.find("errorType:'") != std::string::npos);
  CHECK(line.find("price") != std::string::npos);
  CHECK(line.find("oldSchemaVersion: 2") != std::string::npos);
  CHECK(CountLines(text, "sluice-producer: ") == 1);  // one message on stderr
  // Refused before any work: the broker (a closed port) was never tried.
  CHECK(text.find("retrying after an infrastructure error") == std::string::npos);
  CHECK(registry.Versions(p.raw_subject) == std::vector<int>{1, 2});
}

TEST_CASE("the subject's own level decides: under NONE the same schema passes the contract") {
  InProcessRegistry registry;
  Pipeline p;
  registry.Register(p.raw_subject, sluice::testing::kContractIncompatible);
  registry.SetLevel(p.raw_subject, "NONE");

  auto producer = p.Start("sluice-producer", registry);
  const std::string text = p.AwaitOutput("\"verdict\":\"compatible\"", *producer);
  CHECK(text.find("\"compatibility\":\"NONE\"") != std::string::npos);
  // Past the contract: stopped without waiting for its Kafka timeout (up to 30 s).
  producer->Signal(SIGKILL);
  CHECK(producer->Wait() == 128 + SIGKILL);
}

TEST_CASE("under a transitive level the configured schema is tested against every version") {
  InProcessRegistry registry;
  Pipeline p;
  registry.SetLevel(p.raw_subject, "BACKWARD_TRANSITIVE");
  registry.Register(p.raw_subject, sluice::testing::kContractIncompatible);  // version 1: price a string
  registry.Register(p.raw_subject, sluice::testing::kContractEarlier);       // version 2: no price (reads version 1)

  // The configured schema reads version 2 (its price has a default) but not version 1.
  auto producer = p.Start("sluice-producer", registry);
  CHECK(producer->WaitExit(kBound) == 2);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  CHECK(text.find("sluice-producer: schema contract: subject '" + p.raw_subject +
                  "' (level BACKWARD_TRANSITIVE): the configured schema schemas/prices.raw.v1.avsc "
                  "is incompatible with the versions up to 2: ") != std::string::npos);
  CHECK(text.find("{oldSchemaVersion: 1}") != std::string::npos);
}

TEST_CASE("a compatible evolution of the output subject passes the contract and the producer goes on") {
  InProcessRegistry registry;
  Pipeline p;
  registry.Register(p.raw_subject, sluice::testing::kContractEarlier);

  auto producer = p.Start("sluice-producer", registry);
  const std::string text = p.AwaitOutput("\"msg\":\"schema contract: subject checked\"", *producer);
  INFO(text);
  CHECK(text.find("\"subject\":\"" + p.raw_subject + "\"") != std::string::npos);
  CHECK(text.find("\"verdict\":\"compatible\"") != std::string::npos);
  CHECK(text.find("\"compatibility\":\"BACKWARD\"") != std::string::npos);
  CHECK(text.find("\"latest_version\":1") != std::string::npos);
  // Past the contract, the producer goes on to Kafka (here a closed port).
  p.AwaitOutput("127.0.0.1:1/bootstrap", *producer);
  // Past the contract: stopped without waiting for its Kafka timeout (up to 30 s).
  producer->Signal(SIGKILL);
  CHECK(producer->Wait() == 128 + SIGKILL);
}

TEST_CASE("a cleaner whose input subject its reader schema cannot read exits 2 with one message") {
  InProcessRegistry registry;
  Pipeline p;
  registry.SetLevel(p.raw_subject, "NONE");
  registry.Register(p.raw_subject, sluice::testing::kContractIncompatible);

  auto cleaner = p.Start("sluice-cleaner", registry);
  CHECK(cleaner->WaitExit(kBound) == 2);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  CHECK(text.find("sluice-cleaner: schema contract: subject '" + p.raw_subject +
                  "' (level NONE): the configured reader schema schemas/prices.raw.v1.avsc cannot "
                  "read version 1: ") != std::string::npos);
  CHECK(CountLines(text, "sluice-cleaner: ") == 1);
}

TEST_CASE("a cleaner waits for its input subject, then refuses when it never appears") {
  InProcessRegistry registry;
  Pipeline p;  // retry budget 2s

  auto cleaner = p.Start("sluice-cleaner", registry);
  CHECK(cleaner->WaitExit(kBound) == 2);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  CHECK(text.find("schema contract: waiting for the subject the stage reads") != std::string::npos);
  CHECK(text.find("sluice-cleaner: schema contract: subject '" + p.raw_subject +
                  "' (level BACKWARD): not registered after waiting 2s (the retry budget); "
                  "sluice-producer registers it when it starts") != std::string::npos);
}

TEST_CASE("an unreachable registry is an infrastructure failure (exit 1), not a contract refusal") {
  Pipeline p;
  const int closed = FreePort();
  ChildProcess producer({std::string(SLUICE_BINARY_DIR) + "/bin/sluice-producer", "--config", p.file.string(),
                         "--http-port", std::to_string(FreePort())},
                        {{"SLUICE_KAFKA_BROKERS", "127.0.0.1:1"},
                         {"SLUICE_REGISTRY_URL", "http://127.0.0.1:" + std::to_string(closed)}},
                        p.output.string());
  CHECK(producer.WaitExit(kBound) == 1);
  const std::string text = sluice::testing::ReadWholeFile(p.output);
  INFO(text);
  CHECK(text.find("sluice-producer: infrastructure failure: schema contract: " + p.raw_subject +
                  ": gave up") != std::string::npos);
  CHECK(text.find("sluice-producer: schema contract: subject") == std::string::npos);
}

TEST_CASE("the effective level of a registry that answers 40408 to defaultToGlobal is the global one") {
  // An older Confluent registry: a subject without its own level is 40408, flag or not.
  sluice::http::Server server({}, nullptr);
  server.Route(sluice::http::Method::kGet, "/config/:subject", [](const sluice::http::Request& req) {
    if (req.Param("subject") == "own-value") {
      return sluice::http::Response{200, R"({"compatibilityLevel":"FORWARD"})", kContentType, {}};
    }
    return sluice::http::Response{
        404, R"({"error_code":40408,"message":"Subject does not have subject-level compatibility configured"})",
        kContentType, {}};
  });
  server.Route(sluice::http::Method::kGet, "/config", [](const sluice::http::Request&) {
    return sluice::http::Response{200, R"({"compatibilityLevel":"FULL_TRANSITIVE"})", kContentType, {}};
  });
  server.Start();
  sluice::registry::ClientOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(server.Port());
  sluice::registry::Client client(options);
  CHECK(client.Compatibility(sluice::registry::SubjectName("own-value")) == "FORWARD");
  CHECK(client.Compatibility(sluice::registry::SubjectName("other-value")) == "FULL_TRANSITIVE");
}

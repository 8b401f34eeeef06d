// The start-up schema contract against a fake registry: which subjects each stage writes and
// reads, the one message of a broken contract, the wait for an upstream subject, and the
// registry unreachable staying an infrastructure failure.
#include <catch2/catch.hpp>

#include <map>
#include <sstream>

#include "sluice/core/error.hpp"
#include "sluice/runtime/schema_contract.hpp"

using namespace sluice;
using runtime::CheckSchemaContract;
using runtime::ContractSubject;
using runtime::SubjectRole;

namespace {

const std::string kLoans = std::string(SLUICE_TEST_DATA_DIR) + "/config/good/loans.yaml";

const char* kV1 = R"({"type":"record","name":"Price","namespace":"t","fields":[
  {"name":"symbol","type":"string"},{"name":"price","type":"double"}]})";
// v2 adds a field with a default: v2 reads v1 (BACKWARD).
const char* kV2 = R"({"type":"record","name":"Price","namespace":"t","fields":[
  {"name":"symbol","type":"string"},{"name":"price","type":"double"},
  {"name":"venue","type":"string","default":"XNAS"}]})";
// price turned into a string: neither reads the other.
const char* kBroken = R"({"type":"record","name":"Price","namespace":"t","fields":[
  {"name":"symbol","type":"string"},{"name":"price","type":"string"}]})";

// A registry in memory: subject -> versions (oldest first), a level, and a verdict for tests.
class FakeSource : public runtime::ContractSource {
 public:
  std::map<std::string, std::vector<std::string>> subjects;
  std::string level = "BACKWARD";
  registry::CompatibilityResult verdict;  // what Test answers
  int appear_after = -1;                  // Latest calls before `pending` becomes a subject
  std::pair<std::string, std::string> pending;
  bool down = false;
  int latest_calls = 0, test_calls = 0;
  bool last_all_versions = false;

  std::string Level(const registry::SubjectName&) override {
    if (down) throw core::InfraError("registry unreachable", core::Retry::kYes);
    return level;
  }
  std::optional<registry::RegisteredSchema> Latest(const registry::SubjectName& s) override {
    if (down) throw core::InfraError("registry unreachable", core::Retry::kYes);
    if (++latest_calls == appear_after) subjects[pending.first].push_back(pending.second);
    auto it = subjects.find(s.str());
    if (it == subjects.end() || it->second.empty()) return std::nullopt;
    return registry::RegisteredSchema{s, static_cast<int>(it->second.size()),
                                      registry::SchemaId{7}, it->second.back()};
  }
  bool Holds(const registry::SubjectName& s, const std::string& json) override {
    const std::string canonical = avro::CanonicalForm(avro::ParseSchema(json));
    for (const auto& v : subjects[s.str()]) {
      if (avro::CanonicalForm(avro::ParseSchema(v)) == canonical) return true;
    }
    return false;
  }
  registry::CompatibilityResult Test(const registry::SubjectName&, const std::string&,
                                     bool all_versions) override {
    ++test_calls;
    last_all_versions = all_versions;
    return verdict;
  }
};

ContractSubject Subject(SubjectRole role, const std::string& name, const char* schema) {
  ContractSubject s;
  s.role = role;
  s.subject = registry::SubjectName(name);
  s.shown_file = "schemas/prices.raw.v1.avsc";
  s.schema = avro::ParseSchema(schema);
  s.upstream = role == SubjectRole::kReads ? "sluice-producer" : "";
  return s;
}

runtime::RetryPolicy Quick() {
  runtime::RetryPolicy p;
  p.initial_backoff = core::Duration(1);
  p.max_backoff = core::Duration(4);
  p.budget = core::Duration(200);
  return p;
}

struct Checked {
  std::optional<std::vector<runtime::ContractResult>> results;
  std::string error;  // ConfigError text
};

Checked Check(const std::vector<ContractSubject>& subjects, FakeSource& source,
              runtime::RetryPolicy retry = Quick()) {
  core::ShutdownSource shutdown;
  Checked c;
  try {
    c.results = CheckSchemaContract(subjects, source, retry, shutdown.Token(), obs::Logger("test"));
  } catch (const core::ConfigError& e) {
    c.error = e.what();
  }
  return c;
}

}  // namespace

TEST_CASE("each stage's contract: the subjects it writes and reads, with its configured schemas") {
  const auto config = pipeline::PipelineConfig::Load(kLoans, config::Environment());
  const auto names = [&](config::Stage stage) {
    std::vector<std::string> out;
    for (const auto& s : runtime::ContractOf(config, stage)) {
      out.push_back(std::string(s.role == SubjectRole::kWrites ? "writes " : "reads ") +
                    s.subject.str() + (s.upstream.empty() ? "" : " from " + s.upstream));
      CHECK(s.shown_file == "../schemas/loan.avsc");  // as the pipeline file names it
    }
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(names(config::Stage::kProducer) == V{"writes loans.raw-value"});
  CHECK(names(config::Stage::kCleaner) ==
        V{"reads loans.raw-value from sluice-producer", "writes loans.clean-value"});
  CHECK(names(config::Stage::kEnricher) ==
        V{"reads loans.clean-value from sluice-cleaner", "writes loans.enriched-value"});
  CHECK(names(config::Stage::kPgSink) == V{"reads loans.enriched-value from sluice-enricher"});
  CHECK(names(config::Stage::kRegistry).empty());
}

TEST_CASE("the messages of a broken contract name the subject, the level and the reason") {
  CHECK(runtime::IncompatibleMessage("prices.raw-value", "BACKWARD", "schemas/prices.raw.v1.avsc", 3,
                                     false, {"{errorType:'TYPE_MISMATCH'}", "{oldSchemaVersion: 3}"}) ==
        "schema contract: subject 'prices.raw-value' (level BACKWARD): the configured schema "
        "schemas/prices.raw.v1.avsc is incompatible with version 3: {errorType:'TYPE_MISMATCH'}; "
        "{oldSchemaVersion: 3}");
  CHECK(runtime::IncompatibleMessage("p.raw-value", "FULL_TRANSITIVE", "a.avsc", 4, true, {}) ==
        "schema contract: subject 'p.raw-value' (level FULL_TRANSITIVE): the configured schema "
        "a.avsc is incompatible with the versions up to 4: the registry gave no details");
  CHECK(runtime::UnreadableMessage("p.raw-value", "NONE", "a.avsc", 2, "why") ==
        "schema contract: subject 'p.raw-value' (level NONE): the configured reader schema a.avsc "
        "cannot read version 2: why");
  CHECK(runtime::MissingMessage("p.raw-value", "BACKWARD", core::Duration(300'000),
                                "sluice-producer")
            .rfind("schema contract: subject 'p.raw-value' (level BACKWARD): not registered after "
                   "waiting 5m (the retry budget); sluice-producer registers it when it starts",
                   0) == 0);
}

TEST_CASE("transitive levels are told apart by name") {
  CHECK(runtime::IsTransitiveLevel("BACKWARD_TRANSITIVE"));
  CHECK(runtime::IsTransitiveLevel("full_transitive"));
  CHECK_FALSE(runtime::IsTransitiveLevel("BACKWARD"));
  CHECK_FALSE(runtime::IsTransitiveLevel("NONE"));
  CHECK_FALSE(runtime::IsTransitiveLevel("_TRANSITIVE"));
}

TEST_CASE("a written subject: new, already holding the schema, compatible, or refused with one message") {
  FakeSource source;
  const auto out = Subject(SubjectRole::kWrites, "prices.raw-value", kV2);

  SECTION("a subject that does not exist yet is registered by the stage later") {
    auto c = Check({out}, source);
    REQUIRE(c.results);
    CHECK(c.results->at(0).verdict == "new subject");
    CHECK(c.results->at(0).version == 0);
    CHECK(source.test_calls == 0);
  }
  SECTION("a schema that is already a version passes without a test") {
    source.subjects["prices.raw-value"] = {kV1, kV2, kV1};
    auto c = Check({out}, source);
    REQUIRE(c.results);
    CHECK(c.results->at(0).verdict == "registered");
    CHECK(c.results->at(0).version == 3);
    CHECK(source.test_calls == 0);
  }
  SECTION("a compatible evolution passes the registry's test against the latest version") {
    source.subjects["prices.raw-value"] = {kV1};
    source.verdict.compatible = true;
    auto c = Check({out}, source);
    REQUIRE(c.results);
    CHECK(c.results->at(0).verdict == "compatible");
    CHECK(c.results->at(0).level == "BACKWARD");
    CHECK(source.test_calls == 1);
    CHECK_FALSE(source.last_all_versions);
  }
  SECTION("an incompatible schema is refused with the registry's verbose messages") {
    source.subjects["prices.raw-value"] = {kV1, kV1, kBroken};
    source.level = "FORWARD";
    source.verdict = {false, {"{errorType:'TYPE_MISMATCH', description:'...'}", "{oldSchemaVersion: 3}"}};
    auto c = Check({out}, source);
    CHECK_FALSE(c.results);
    CHECK(c.error ==
          "schema contract: subject 'prices.raw-value' (level FORWARD): the configured schema "
          "schemas/prices.raw.v1.avsc is incompatible with version 3: {errorType:'TYPE_MISMATCH', "
          "description:'...'}; {oldSchemaVersion: 3}");
  }
  SECTION("a transitive level tests against every version, as registering would") {
    source.subjects["prices.raw-value"] = {kV1};
    source.level = "BACKWARD_TRANSITIVE";
    source.verdict = {false, {"m"}};
    auto c = Check({out}, source);
    CHECK(source.last_all_versions);
    CHECK(c.error.find("(level BACKWARD_TRANSITIVE)") != std::string::npos);
    CHECK(c.error.find("incompatible with the versions up to 1: m") != std::string::npos);
  }
}

TEST_CASE("a read subject: must appear within the budget and be readable by the reader schema") {
  FakeSource source;
  const auto in = Subject(SubjectRole::kReads, "prices.raw-value", kV2);

  SECTION("a subject registered by the upstream daemon a little later is waited for") {
    source.appear_after = 3;
    source.pending = {"prices.raw-value", kV1};
    auto c = Check({in}, source);
    REQUIRE(c.results);
    CHECK(c.results->at(0).verdict == "readable");  // v2 reads v1: the default fills venue
    CHECK(c.results->at(0).version == 1);
    CHECK(source.latest_calls == 3);
  }
  SECTION("a subject that never appears is refused once the budget is spent") {
    auto c = Check({in}, source);
    CHECK_FALSE(c.results);
    CHECK(c.error.rfind("schema contract: subject 'prices.raw-value' (level BACKWARD): not registered "
                        "after waiting 200ms (the retry budget); sluice-producer registers it",
                        0) == 0);
  }
  SECTION("a latest version the reader schema cannot resolve is refused") {
    source.subjects["prices.raw-value"] = {kV1, kBroken};
    auto c = Check({in}, source);
    CHECK_FALSE(c.results);
    INFO(c.error);
    CHECK(c.error.rfind("schema contract: subject 'prices.raw-value' (level BACKWARD): the configured "
                        "reader schema schemas/prices.raw.v1.avsc cannot read version 2: ",
                        0) == 0);
    CHECK(c.error.find("TYPE_MISMATCH") != std::string::npos);
    CHECK(c.error.find("price") != std::string::npos);
  }
  SECTION("shutdown while waiting ends the check without a verdict") {
    core::ShutdownSource shutdown;
    shutdown.Request();
    auto retry = Quick();
    retry.budget = core::Duration(60'000);
    auto results = CheckSchemaContract({in}, source, retry, shutdown.Token(), obs::Logger("test"));
    CHECK_FALSE(results);
  }
}

TEST_CASE("the registry unreachable is an infrastructure failure past the budget, never a contract verdict") {
  FakeSource source;
  source.down = true;
  core::ShutdownSource shutdown;
  try {
    (void)CheckSchemaContract({Subject(SubjectRole::kWrites, "prices.raw-value", kV1)}, source,
                              Quick(), shutdown.Token(), obs::Logger("test"));
    FAIL("no exception");
  } catch (const core::ConfigError& e) {
    FAIL("a ConfigError (exit 2): " << e.what());
  } catch (const core::InfraError& e) {
    CHECK_FALSE(e.Retryable());  // the budget is spent: RunDaemon exits 1
    CHECK(std::string(e.what()).find("schema contract: prices.raw-value: gave up") == 0);
    CHECK(std::string(e.what()).find("registry unreachable") != std::string::npos);
  }
}

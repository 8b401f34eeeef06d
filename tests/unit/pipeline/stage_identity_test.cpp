// The stage identity table: one spelling per stage, and the values that are on the wire or in
// storage pinned, so an upgrade cannot silently rename a consumer group or transactional id.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "sluice/pipeline/pipeline_spec.hpp"
#include "sluice/config/stage_identity.hpp"

using namespace sluice::config;
using sluice::pipeline::PipelineSpec;

namespace {

template <typename Field>
void CheckUnique(Field field, const char* what) {
  std::set<std::string> seen;
  for (const auto& s : StageIdentities()) {
    const std::string value = field(s);
    if (value.empty() || value == "0") continue;
    INFO(what << " " << value);
    CHECK(seen.insert(value).second);
  }
}

}  // namespace

TEST_CASE("every column of the stage table is unique") {
  REQUIRE(StageIdentities().size() == 5);
  CheckUnique([](const StageIdentity& s) { return std::string(s.id); }, "id");
  CheckUnique([](const StageIdentity& s) { return std::string(s.section); }, "section");
  CheckUnique([](const StageIdentity& s) { return std::string(s.binary); }, "binary");
  CheckUnique([](const StageIdentity& s) { return std::string(s.group_prefix); }, "group");
  CheckUnique([](const StageIdentity& s) { return std::string(s.transactional_prefix); }, "txn");
  CheckUnique([](const StageIdentity& s) { return std::string(s.dlq_stage); }, "dlq");
  CheckUnique([](const StageIdentity& s) { return std::to_string(s.port); }, "port");
  for (const auto& s : StageIdentities()) {
    INFO(s.id);
    CHECK(&IdentityOf(s.stage) == &s);
    CHECK(FindStageById(s.id) == &s);
    CHECK(s.binary.substr(0, 7) == "sluice-");
    CHECK(s.port > 0);
    CHECK(s.port < 65536);
  }
  CHECK(FindStageById("pg_sink") == nullptr);
  CHECK(FindStageById("sink") == nullptr);
}

TEST_CASE("consumer groups, transactional ids and DLQ values are what deployments already use") {
  // Changing any of these makes an upgraded deployment re-read (group, sink offsets keyed by
  // group) or fence nothing and duplicate (transactional id).
  CHECK(ConsumerGroupOf(Stage::kCleaner, "loans") == "sluice-cleaner-loans");
  CHECK(ConsumerGroupOf(Stage::kEnricher, "loans") == "sluice-enricher-loans");
  CHECK(ConsumerGroupOf(Stage::kPgSink, "loans") == "sluice-sink-loans");
  CHECK(GroupInstanceIdOf(Stage::kPgSink, "loans", "2") == "sluice-sink-loans-2");
  CHECK(GroupInstanceIdOf(Stage::kCleaner, "loans", "0") == "sluice-cleaner-loans-0");
  CHECK(TransactionalIdOf(Stage::kProducer, "loans", "0") == "sluice-producer-loans-0");
  CHECK(TransactionalIdOf(Stage::kCleaner, "loans", "1") == "sluice-cleaner-loans-1");
  CHECK(TransactionalIdOf(Stage::kEnricher, "loans", "0") == "sluice-enricher-loans-0");
  CHECK(IdentityOf(Stage::kProducer).group_prefix.empty());   // positions read by assignment
  CHECK(IdentityOf(Stage::kPgSink).transactional_prefix.empty());  // idempotent DLQ producer
  CHECK(IdentityOf(Stage::kProducer).dlq_stage == "producer");
  CHECK(IdentityOf(Stage::kCleaner).dlq_stage == "cleaner");
  CHECK(IdentityOf(Stage::kEnricher).dlq_stage == "enricher");
  CHECK(IdentityOf(Stage::kPgSink).dlq_stage == "pg-sink");
  CHECK(IdentityOf(Stage::kRegistry).port == 18081);  // the registry's REST port, in every URL
}

TEST_CASE("every stage section is a section of the pipeline file") {
  for (const auto& s : StageIdentities()) {
    if (s.section.empty()) continue;
    INFO(s.id);
    const Option* option = PipelineSpec().Find(std::string(s.section));
    REQUIRE(option != nullptr);
    CHECK(option->type == OptionType::kSection);
  }
}

TEST_CASE("every binary of the table is built by services/CMakeLists.txt") {
  std::ifstream in(std::filesystem::path(SLUICE_SOURCE_DIR) / "services" / "CMakeLists.txt");
  std::stringstream text;
  text << in.rdbuf();
  REQUIRE_FALSE(text.str().empty());
  for (const auto& s : StageIdentities()) {
    INFO(s.binary);
    CHECK(text.str().find(" " + std::string(s.binary) + ")") != std::string::npos);
  }
}

TEST_CASE("the table for --print-stages has one tab-separated row per stage") {
  std::istringstream table(StagesTable());
  std::string line;
  REQUIRE(std::getline(table, line));
  CHECK(line == "id\tsection\tbinary\tconsumer_group\ttransactional_id\tdlq_stage\tport");
  std::vector<std::string> rows;
  while (std::getline(table, line)) rows.push_back(line);
  REQUIRE(rows.size() == StageIdentities().size());
  CHECK(rows[3] == "pg-sink\tsink\tsluice-pg-sink\tsluice-sink-<pipeline>\t-\tpg-sink\t9104");
  CHECK(rows[0] ==
        "producer\tproducer\tsluice-producer\t-\tsluice-producer-<pipeline>-<instance>\tproducer\t9101");
  CHECK(rows[4] == "registry\t-\tsluice-registry\t-\t-\t-\t18081");
}

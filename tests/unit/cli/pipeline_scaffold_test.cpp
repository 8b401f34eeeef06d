// The drafted pipeline of `sluice pipeline new` (services/cli/pipeline_scaffold.hpp): the
// YAML parses and says what the sample suggests; the schemas have the inferred types; bad
// input is one ConfigError.
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "pipeline_scaffold.hpp"
#include "sluice/core/error.hpp"

using namespace sluice::cli;

namespace {

CsvSample Sample() {
  return {{"Name", "Age", "Member", "Joined", "City"},
          {{"Al", "34", "yes", "2024-01-05", "Paris"},
           {"Bo", "", "no", "2024-02-10", "Lyon"},
           {"Cy", "29", "Yes", "", "Paris"},
           {"Al", "34", "yes", "2024-01-05", "Lyon"}}};
}

ScaffoldOptions Options() {
  ScaffoldOptions o;
  o.name = "people";
  o.csv = "/data/people.csv";
  o.dir = "/tmp/pipes";
  o.inbox = "/tmp/inbox/people";
  return o;
}

YAML::Node RuleNamed(const YAML::Node& doc, const std::string& name) {
  for (const auto& r : doc["cleaner"]["rules"]) {
    if (r["name"].as<std::string>() == name) return r;
  }
  FAIL("no rule " << name);
  return {};
}

}  // namespace

TEST_CASE("an id from a hash of every column is the key, deduplicated") {
  auto o = Options();
  o.id_field = "row_id";
  const auto d = DraftPipeline(o, Sample());
  const YAML::Node doc = YAML::Load(PipelineYaml(d));
  CHECK(doc["pipeline"].as<std::string>() == "people");
  CHECK(doc["producer"]["id"]["field"].as<std::string>() == "row_id");
  CHECK(doc["producer"]["id"]["from"].as<std::vector<std::string>>() ==
        std::vector<std::string>{"name", "age", "member", "joined", "city"});
  CHECK(doc["producer"]["key"].as<std::vector<std::string>>() == std::vector<std::string>{"row_id"});
  CHECK(RuleNamed(doc, "duplicate")["key"].as<std::vector<std::string>>() == std::vector<std::string>{"row_id"});
  CHECK(doc["sink"]["key"].as<std::vector<std::string>>() == std::vector<std::string>{"row_id"});
  CHECK(doc["producer"]["sources"][0]["dir"].as<std::string>() == "/tmp/inbox/people");
  CHECK(RawSchema(d)["fields"][0]["name"] == "row_id");
  CHECK(RawSchema(d)["fields"][0]["type"] == "string");
}

TEST_CASE("rules: required for full columns, coerce for typed ones, allowed for categories") {
  auto o = Options();
  o.id_field = "row_id";
  const YAML::Node doc = YAML::Load(PipelineYaml(DraftPipeline(o, Sample())));
  CHECK(RuleNamed(doc, "required_fields")["fields"].as<std::vector<std::string>>() ==
        std::vector<std::string>{"name", "member", "city"});
  CHECK(RuleNamed(doc, "age_int")["to"].as<std::string>() == "int");
  CHECK(RuleNamed(doc, "member_bool")["to"].as<std::string>() == "bool");
  CHECK(RuleNamed(doc, "joined_date")["formats"][0].as<std::string>() == "%Y-%m-%d");
  CHECK(RuleNamed(doc, "city_value")["values"].as<std::vector<std::string>>() == std::vector<std::string>{"Lyon", "Paris"});
}

TEST_CASE("the clean schema: inferred types, nullable where cells were empty") {
  auto o = Options();
  o.id_field = "row_id";
  const auto clean = CleanSchema(DraftPipeline(o, Sample()), "Clean");
  CHECK(clean["name"] == "PeopleClean");
  const auto& f = clean["fields"];
  CHECK(f[1]["type"] == "string");                                          // name
  CHECK(f[2]["type"] == nlohmann::ordered_json::array({"null", "int"}));   // age
  CHECK(f[3]["type"] == "boolean");                                         // member
  CHECK(f[4]["type"][1]["logicalType"] == "date");                          // joined
  CHECK(f[4]["type"][0] == "null");
}

TEST_CASE("without --id or --key the first column unique in the sample is the key") {
  CsvSample s = Sample();
  s.rows[3][0] = "Di";
  const auto d = DraftPipeline(Options(), s);
  CHECK(d.key == std::vector<std::string>{"name"});
  CHECK(d.id_field.empty());
}

TEST_CASE("bad input is one ConfigError") {
  auto o = Options();
  CHECK_THROWS_AS(DraftPipeline(o, Sample()), sluice::core::ConfigError);  // no unique column
  o.key = {"Age"};
  CHECK_THROWS_WITH(DraftPipeline(o, Sample()), Catch::Contains("empty cells"));
  o.key = {"nope"};
  CHECK_THROWS_WITH(DraftPipeline(o, Sample()), Catch::Contains("no such column"));
  o.key = {};
  o.id_field = "name";
  CHECK_THROWS_WITH(DraftPipeline(o, Sample()), Catch::Contains("already has a column"));
  o.id_field = "row_id";
  o.name = "Bad Name";
  CHECK_THROWS_WITH(DraftPipeline(o, Sample()), Catch::Contains("not valid"));
}

TEST_CASE("YAML scalars are quoted when bare text would change meaning") {
  CHECK(YamlScalar("Paris") == "Paris");
  CHECK(YamlScalar("yes") == "'yes'");
  CHECK(YamlScalar("N") == "'N'");
  CHECK(YamlScalar("10") == "'10'");
  CHECK(YamlScalar("it's") == "'it''s'");
  CHECK(YamlScalar("a: b") == "'a: b'");
  CHECK(YAML::Load(YamlScalar("%Y-%m-%d")).as<std::string>() == "%Y-%m-%d");
}

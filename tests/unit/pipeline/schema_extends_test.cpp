// "sluice.extends" in an .avsc file: resolved by stages::LoadAvsc, which every reader of a
// schema file goes through (LoadRecordSpec, PipelineConfig::LoadSchema and so the registry).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "sluice/avro/schema.hpp"
#include "sluice/config/environment.hpp"
#include "sluice/core/error.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/stages/row.hpp"

using namespace sluice;
namespace fs = std::filesystem;

namespace {

// A fresh directory of schema files, removed at the end of the test.
class SchemaDir {
 public:
  SchemaDir() : dir_(fs::temp_directory_path() / ("sluice-avsc-extends-" + std::to_string(std::random_device{}()))) {
    fs::create_directories(dir_);
  }
  ~SchemaDir() { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

 private:
  fs::path dir_;
};

const char* kBase = R"({"type": "record", "name": "Base", "namespace": "t", "doc": "base",
  "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": ["null", "int"], "default": null}]})";

std::vector<std::string> Names(const nlohmann::json& avsc) {
  std::vector<std::string> out;
  for (const auto& f : avsc["fields"]) out.push_back(f["name"]);
  return out;
}

std::string ErrorOf(const std::string& path) {
  try {
    stages::LoadAvsc(path);
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("avsc extends: the extended fields come first, then the file's own, without the attribute") {
  SchemaDir dir;
  dir.Write("base.avsc", kBase);
  const std::string path = dir.Write("sub/more.avsc", R"({"type": "record", "name": "More", "namespace": "t",
    "sluice.extends": "../base.avsc", "fields": [{"name": "extra", "type": "double"}]})");
  const nlohmann::json j = stages::LoadAvsc(path);
  CHECK(Names(j) == std::vector<std::string>{"id", "n", "extra"});
  CHECK(!j.contains("sluice.extends"));
  CHECK(j["name"] == "More");  // the extending file's own name, namespace and doc
  const stages::RecordSpec spec = stages::LoadRecordSpec(path);
  REQUIRE(spec.fields.size() == 3);
  CHECK(spec.fields[1].nullable);
  // What the registry receives: plain Avro.
  const std::string registered = avro::ToJson(avro::ParseSchema(j)).dump();
  CHECK(registered.find("sluice.extends") == std::string::npos);
  CHECK(registered.find("\"extra\"") != std::string::npos);
}

TEST_CASE("avsc extends: chains resolve, and a file without the attribute is read as it is") {
  SchemaDir dir;
  const std::string base = dir.Write("base.avsc", kBase);
  dir.Write("mid.avsc", R"({"type": "record", "name": "Mid", "sluice.extends": "base.avsc", "fields": [{"name": "m", "type": "long"}]})");
  const std::string top = dir.Write("top.avsc", R"({"type": "record", "name": "Top", "sluice.extends": "mid.avsc"})");
  CHECK(Names(stages::LoadAvsc(top)) == std::vector<std::string>{"id", "n", "m"});
  CHECK(stages::LoadAvsc(base) == nlohmann::json::parse(kBase));
}

TEST_CASE("avsc extends: each mistake is one error naming the file") {
  SchemaDir dir;
  dir.Write("base.avsc", kBase);
  SECTION("the extended file does not exist") {
    const std::string path = dir.Write("a.avsc", R"({"type": "record", "name": "A", "sluice.extends": "nope.avsc", "fields": []})");
    const std::string error = ErrorOf(path);
    CHECK(error.find("cannot read schema file") != std::string::npos);
    CHECK(error.find("nope.avsc") != std::string::npos);
  }
  SECTION("a field of the extended schema is defined again") {
    const std::string path = dir.Write("a.avsc", R"({"type": "record", "name": "A", "sluice.extends": "base.avsc", "fields": [{"name": "n", "type": "int"}]})");
    CHECK(ErrorOf(path) == path + ": sluice.extends: field 'n' is already in 'base.avsc': an extending schema adds fields, it does not redefine them");
  }
  SECTION("a cycle") {
    const std::string a = dir.Write("a.avsc", R"({"type": "record", "name": "A", "sluice.extends": "b.avsc", "fields": []})");
    const std::string b = dir.Write("b.avsc", R"({"type": "record", "name": "B", "sluice.extends": "a.avsc", "fields": []})");
    CHECK(ErrorOf(a) == a + ": sluice.extends forms a cycle: " + a + " -> " + b + " -> " + a);
  }
  SECTION("not a file name") {
    const std::string path = dir.Write("a.avsc", R"({"type": "record", "name": "A", "sluice.extends": 3, "fields": []})");
    CHECK(ErrorOf(path) == path + ": sluice.extends: expected the file name of the extended schema, relative to this file");
  }
  SECTION("extending something that is not a record") {
    dir.Write("e.avsc", R"({"type": "enum", "name": "E", "symbols": ["A"]})");
    const std::string path = dir.Write("a.avsc", R"({"type": "record", "name": "A", "sluice.extends": "e.avsc", "fields": []})");
    CHECK(ErrorOf(path) == path + ": sluice.extends: 'e.avsc' is not a record with fields");
  }
}

TEST_CASE("avsc extends: the loans enriched v1 schema is the clean v1 fields, then the enricher's") {
  const std::string loans = std::string(SLUICE_SOURCE_DIR) + "/pipelines/loans";
  const auto config = pipeline::PipelineConfig::Load(loans + "/pipeline.yaml", config::Environment());
  std::vector<std::string> expected = Names(stages::LoadAvsc(loans + "/schemas/loans.clean.v1.avsc"));
  for (const char* f : {"grade", "state_name", "region", "monthly_installment", "issue_year", "issue_month"}) {
    expected.push_back(f);
  }
  const nlohmann::json enriched = avro::ToJson(config.LoadSchema("enriched"));
  CHECK(Names(enriched) == expected);
  CHECK(enriched.dump().find("sluice.extends") == std::string::npos);
  CHECK(enriched["name"] == "LoanEnriched");
}

// Compatibility vectors: one JSON file per case in tests/data/avro/compat/, run by one runner.
//
// A vector names a level, the subject's history (oldest first), the new schema, whether the
// registry must accept it and, when not, every incompatibility expected (direction,
// existing version, type, JSON-pointer path and optionally Java Avro's detail message).
// Optional "roundtrips" encode a datum with one schema and decode it with another through
// the resolver; resolution_test.cpp runs those.
#include "sluice/avro/compatibility.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "sluice/avro/schema.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace sluice::avro;

namespace {

Schema Parse(std::string_view text) { return ParseSchema(text); }

std::vector<fs::path> VectorFiles() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(SLUICE_TEST_DATA_DIR) / "avro/compat")) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

json Load(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return json::parse(buffer.str());
}

using Key = std::tuple<std::string, std::size_t, std::string, std::string>;  // dir, idx, type, path

std::string DirectionName(Direction d) {
  return d == Direction::kNewReadsOld ? "backward" : "forward";
}

}  // namespace

TEST_CASE("compatibility vectors from tests/data/avro/compat") {
  const auto files = VectorFiles();
  REQUIRE(files.size() >= 40);
  std::map<std::string, int> per_level;
  int incompatible_vectors = 0;
  for (const auto& file : files) {
    const json v = Load(file);
    INFO("vector " << file.filename().string() << ": " << v.at("description").get<std::string>());
    auto level = ParseCompatibilityLevel(v.at("level").get<std::string>());
    REQUIRE(level.has_value());
    per_level[std::string(CompatibilityLevelName(*level))]++;
    std::vector<Schema> history;
    for (const auto& s : v.at("history")) {
      history.push_back(ParseSchema(s));
    }
    const Schema fresh = ParseSchema(v.at("new"));
    const LevelReport report = CheckLevel(*level, fresh, history);

    std::multiset<Key> actual;
    std::map<Key, std::string> messages;
    for (const auto& pair : report.failures) {
      CHECK_FALSE(pair.incompatibilities.empty());
      for (const auto& inc : pair.incompatibilities) {
        Key key{DirectionName(pair.direction), pair.existing_index,
                std::string(IncompatibilityTypeName(inc.type)), inc.path};
        actual.insert(key);
        messages[key] = inc.message;
        // Every finding carries both fragments and reads like Confluent's verbose output.
        CHECK_FALSE(inc.reader_fragment.is_null());
        CHECK_FALSE(inc.writer_fragment.is_null());
        const std::string text = ConfluentMessage(inc, pair.direction);
        CHECK(text.find("errorType:'" + std::string(IncompatibilityTypeName(inc.type)) + "'") !=
              std::string::npos);
        CHECK(text.find(inc.path) != std::string::npos);
      }
    }
    std::multiset<Key> expected;
    for (const auto& e : v.value("incompatibilities", json::array())) {
      Key key{e.at("direction").get<std::string>(),
              e.value("existing", history.size() - 1),
              e.at("type").get<std::string>(), e.at("path").get<std::string>()};
      expected.insert(key);
      if (e.contains("message")) {
        CHECK(messages[key] == e.at("message").get<std::string>());
      }
    }
    CHECK(report.compatible == v.at("compatible").get<bool>());
    CHECK(report.compatible == report.failures.empty());
    CHECK(actual == expected);
    if (!report.compatible) {
      ++incompatible_vectors;
    }
  }
  // The vectors cover every level, and both outcomes.
  for (auto level : {"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
                     "FULL", "FULL_TRANSITIVE"}) {
    INFO(level);
    CHECK(per_level[level] >= 1);
  }
  CHECK(incompatible_vectors >= 15);
  CHECK(static_cast<std::size_t>(incompatible_vectors) + 15 <= files.size());
}

TEST_CASE("levels parse from their Confluent names, case-insensitively") {
  CHECK(ParseCompatibilityLevel("BACKWARD") == CompatibilityLevel::kBackward);
  CHECK(ParseCompatibilityLevel("backward_transitive") == CompatibilityLevel::kBackwardTransitive);
  CHECK(ParseCompatibilityLevel("Full_Transitive") == CompatibilityLevel::kFullTransitive);
  CHECK(ParseCompatibilityLevel("NONE") == CompatibilityLevel::kNone);
  CHECK_FALSE(ParseCompatibilityLevel("BACKWARDS").has_value());
  CHECK_FALSE(ParseCompatibilityLevel("").has_value());
  for (auto level : {CompatibilityLevel::kNone, CompatibilityLevel::kBackward,
                     CompatibilityLevel::kBackwardTransitive, CompatibilityLevel::kForward,
                     CompatibilityLevel::kForwardTransitive, CompatibilityLevel::kFull,
                     CompatibilityLevel::kFullTransitive}) {
    CHECK(ParseCompatibilityLevel(CompatibilityLevelName(level)) == level);
  }
  CHECK(ParseIncompatibilityType("MISSING_UNION_BRANCH") == IncompatibilityType::kMissingUnionBranch);
  CHECK_FALSE(ParseIncompatibilityType("missing_union_branch").has_value());
}

TEST_CASE("an empty history or NONE is always compatible") {
  const Schema s = Parse(R"({"type":"record","name":"A","fields":[{"name":"x","type":"int"}]})");
  const Schema other = Parse(R"("string")");
  CHECK(CheckLevel(CompatibilityLevel::kFullTransitive, s, {}).compatible);
  CHECK(CheckLevel(CompatibilityLevel::kNone, s, {other}).compatible);
  CHECK_FALSE(CheckLevel(CompatibilityLevel::kFull, s, {other}).compatible);
}

TEST_CASE("verbose messages use Confluent's wording for each direction") {
  const Schema old_schema =
      Parse(R"({"type":"record","name":"U","fields":[{"name":"id","type":"long"}]})");
  const Schema new_schema = Parse(
      R"({"type":"record","name":"U","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]})");
  auto found = CheckCompatibility(new_schema, old_schema);
  REQUIRE(found.size() == 1);
  CHECK(found[0].type == IncompatibilityType::kReaderFieldMissingDefaultValue);
  CHECK(found[0].path == "/fields/1");
  CHECK(found[0].message == "email");
  CHECK(ConfluentMessage(found[0], Direction::kNewReadsOld) ==
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path "
        "'/fields/1' in the new schema has no default value and is missing in the old schema', "
        "additionalInfo:'email'}");
  // The fragments are the record nodes compared (Java Avro reports the records here).
  CHECK(found[0].reader_fragment.at("name") == "U");
  CHECK(found[0].writer_fragment.at("fields").size() == 1);

  // Forward direction: the old schema reads; the same finding names the old schema first.
  auto forward = CheckCompatibility(old_schema, Parse(R"({"type":"record","name":"U","fields":[]})"));
  REQUIRE(forward.size() == 1);
  CHECK(ConfluentMessage(forward[0], Direction::kOldReadsNew) ==
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'id' at path "
        "'/fields/0' in the old schema has no default value and is missing in the new schema', "
        "additionalInfo:'id'}");

  const Schema int_schema = Parse(R"("int")");
  const Schema string_schema = Parse(R"("string")");
  auto mismatch = CheckCompatibility(int_schema, string_schema);
  REQUIRE(mismatch.size() == 1);
  CHECK(mismatch[0].path == "/");
  CHECK(ConfluentMessage(mismatch[0], Direction::kNewReadsOld) ==
        "{errorType:'TYPE_MISMATCH', description:'The type (path '/') of a field in the new "
        "schema does not match with the old schema', additionalInfo:'reader type: INT not "
        "compatible with writer type: STRING'}");
}

TEST_CASE("decimal checks can be turned off to match Java Avro exactly") {
  const Schema a = Parse(R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})");
  const Schema b = Parse(R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":4})");
  CHECK(CheckCompatibility(a, b).size() == 1);
  CompatibilityOptions java_like;
  java_like.check_decimals = false;
  CHECK(CheckCompatibility(a, b, java_like).empty());
}

TEST_CASE("recursive types terminate and report once") {
  // Mutually recursive records, checked against themselves and against a changed copy.
  const char* kV1 = R"({"type":"record","name":"A","fields":[
      {"name":"b","type":["null",{"type":"record","name":"B","fields":[
          {"name":"a","type":["null","A"]},{"name":"n","type":"int"}]}]}]})";
  const char* kV2 = R"({"type":"record","name":"A","fields":[
      {"name":"b","type":["null",{"type":"record","name":"B","fields":[
          {"name":"a","type":["null","A"]},{"name":"n","type":"long"},{"name":"m","type":"string"}]}]}]})";
  const Schema v1 = Parse(kV1);
  const Schema v2 = Parse(kV2);
  CHECK(CheckCompatibility(v1, v1).empty());
  CHECK(CheckCompatibility(v2, v2).empty());
  // Both sides are unions, so (as in Java Avro) the finding is the writer branch the reader
  // union cannot take; the reason inside it is not repeated.
  auto found = CheckCompatibility(v2, v1);  // v2 reads v1: B.m has no default
  REQUIRE(found.size() == 1);
  CHECK(found[0].type == IncompatibilityType::kMissingUnionBranch);
  CHECK(found[0].path == "/fields/0/type/1");
  CHECK(found[0].message == "reader union lacking writer type: RECORD");
  auto back = CheckCompatibility(v1, v2);  // v1 reads v2: B.n long -> int fails
  REQUIRE(back.size() == 1);
  CHECK(back[0].path == "/fields/0/type/1");
  // Without the unions the reason itself is reported, at its own path.
  const Schema b1 = Parse(R"({"type":"record","name":"B","fields":[
      {"name":"a","type":["null",{"type":"record","name":"A","fields":[{"name":"b","type":["null","B"]}]}]},
      {"name":"n","type":"int"}]})");
  const Schema b2 = Parse(R"({"type":"record","name":"B","fields":[
      {"name":"a","type":["null",{"type":"record","name":"A","fields":[{"name":"b","type":["null","B"]}]}]},
      {"name":"n","type":"long"},{"name":"m","type":"string"}]})");
  auto direct = CheckCompatibility(b2, b1);
  REQUIRE(direct.size() == 1);
  CHECK(direct[0].type == IncompatibilityType::kReaderFieldMissingDefaultValue);
  CHECK(direct[0].path == "/fields/2");
  auto narrowing = CheckCompatibility(b1, b2);
  REQUIRE(narrowing.size() == 1);
  CHECK(narrowing[0].type == IncompatibilityType::kTypeMismatch);
  CHECK(narrowing[0].path == "/fields/1/type");
}

TEST_CASE("a type shared by many fields is reported at each place it is used") {
  const Schema reader = Parse(R"({"type":"record","name":"R","fields":[
      {"name":"x","type":{"type":"fixed","name":"F","size":4}},
      {"name":"y","type":"F"}]})");
  const Schema writer = Parse(R"({"type":"record","name":"R","fields":[
      {"name":"x","type":{"type":"fixed","name":"F","size":8}},
      {"name":"y","type":"F"}]})");
  auto found = CheckCompatibility(reader, writer);
  REQUIRE(found.size() == 2);
  CHECK(found[0].path == "/fields/0/type/size");
  CHECK(found[1].path == "/fields/1/type/size");
  CHECK(found[0].message == "expected: 8, found: 4");
}

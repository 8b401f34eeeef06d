// One runner for every cleaner case file in tests/data/cleaner_cases/*.yaml.
// A case file holds rules, the clean-schema fields they produce, and cases run in order
// through ONE Cleaner (so dedupe windows and running statistics carry from case to case):
//
//   description: what the file covers
//   schema: {loan_id: string, term: int, emp_length: int?}   # or schema_file: <avsc path>
//   rules: [...]                                  # or pipeline: <pipeline file> (cleaner.rules)
//   cases:
//     - name: term_36 becomes 36
//       at: 0                    # record timestamp in ms, or a duration like 25h (optional)
//       input: {term: term_36}
//       expect: emit             # emit (no flags) | flag | reject | drop
//       output: {term: 36}       # emit/flag: expected fields (a subset), dates as YYYY-MM-DD
//       flags: [rule_a]          # emit/flag: the exact flags
//       rule: term_months        # reject/drop: the deciding rule
//       reason: does not match   # reject/drop: a substring of the reason
//   config_errors:               # optional: rule lists that must not load
//     - rules: [...]
//       error: substring of the message
//
// A new rule type or behaviour means a new file here, not new C++.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <set>
#include <string>

#include <yaml-cpp/yaml.h>

#include "sluice/core/duration.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/yaml_util.hpp"

using namespace sluice::stages;
namespace fs = std::filesystem;

namespace {

const fs::path kCaseDir = fs::path(SLUICE_TEST_DATA_DIR) / "cleaner_cases";
const fs::path kSourceDir = SLUICE_SOURCE_DIR;

RecordSpec SchemaOf(const YAML::Node& doc) {
  if (doc["schema_file"]) return LoadRecordSpec((kSourceDir / doc["schema_file"].as<std::string>()).string());
  RecordSpec spec;
  for (auto it = doc["schema"].begin(); it != doc["schema"].end(); ++it) {
    FieldSpec f;
    f.name = it->first.as<std::string>();
    std::string type = it->second.as<std::string>();
    if (!type.empty() && type.back() == '?') {
      f.nullable = true;
      type.pop_back();
    }
    f.type = ParseFieldType(type);
    spec.fields.push_back(f);
  }
  return spec;
}

YAML::Node RulesOf(const YAML::Node& doc) {
  if (doc["pipeline"]) return YAML::LoadFile((kSourceDir / doc["pipeline"].as<std::string>()).string())["cleaner"]["rules"];
  return doc["rules"];
}

Row InputOf(const YAML::Node& node) {
  Row row;
  for (auto it = node.begin(); it != node.end(); ++it) row.Set(it->first.as<std::string>(), ScalarValue(it->second));
  return row;
}

std::int64_t TimestampOf(const YAML::Node& at) {
  if (!at) return 0;
  std::string error;
  if (auto d = sluice::core::ParseDuration(at.Scalar(), &error)) return d->count();
  return at.as<std::int64_t>();
}

bool SameValue(const Value& got, const Value& want) {
  auto* g = std::get_if<double>(&got);
  auto* w = std::get_if<double>(&want);
  if (g && w) return std::fabs(*g - *w) <= 1e-9 * std::max(1.0, std::fabs(*w));
  return got == want;
}

std::string Show(const CleanResult& r) {
  std::string s = r.verdict == Verdict::kEmit ? "emit" : r.verdict == Verdict::kDrop ? "drop" : "reject";
  if (!r.rule.empty()) s += " by " + r.rule + ": " + r.reason;
  if (!r.flags.empty()) {
    s += " flags:";
    for (const auto& f : r.flags) s += " " + f;
  }
  return s;
}

void CollectTypes(const YAML::Node& rules, std::set<std::string>& types) {
  if (!rules || !rules.IsSequence()) return;
  for (const auto& r : rules) types.insert(r["type"].as<std::string>());
}

}  // namespace

TEST_CASE("cleaner case files") {
  REQUIRE(fs::is_directory(kCaseDir));
  std::size_t files = 0, cases = 0;
  std::set<std::string> covered_types;
  for (const auto& entry : fs::directory_iterator(kCaseDir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    const std::string file = entry.path().filename().string();
    INFO("case file " << file);
    const YAML::Node doc = YAML::LoadFile(entry.path().string());
    const YAML::Node rules = RulesOf(doc);
    CollectTypes(rules, covered_types);
    Cleaner cleaner(rules, SchemaOf(doc), file + ": rules");

    const YAML::Node list = doc["cases"];
    REQUIRE(list.IsDefined());
    for (std::size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
      const YAML::Node c = list[i];
      ++cases;
      INFO("case " << i << ": " << c["name"].as<std::string>("(unnamed)"));
      const std::string expect = c["expect"].as<std::string>();
      const CleanResult r = cleaner.Process(InputOf(c["input"]), TimestampOf(c["at"]));
      INFO("got " << Show(r));
      if (expect == "emit" || expect == "flag") {
        REQUIRE(r.verdict == Verdict::kEmit);
        std::vector<std::string> flags;
        if (c["flags"]) flags = c["flags"].as<std::vector<std::string>>();
        if (expect == "flag") CHECK(!r.flags.empty());
        if (c["flags"] || expect == "emit") CHECK(r.flags == flags);
        const YAML::Node output = c["output"];
        for (auto it = output ? output.begin() : YAML::const_iterator(); output && it != output.end(); ++it) {
          const std::string field = it->first.as<std::string>();
          INFO("output field " << field);
          const FieldSpec* spec = cleaner.output().Find(field);
          REQUIRE(spec != nullptr);
          Value want = ScalarValue(it->second);
          std::string why;
          auto typed = ConvertTo(want, spec->type, &why);
          REQUIRE(typed);
          const Value* got = r.row.Find(field);
          REQUIRE(got != nullptr);
          INFO("got " << Describe(*got) << ", want " << Describe(*typed));
          CHECK(SameValue(*got, *typed));
        }
        // The emitted row has exactly the clean schema's fields, in order.
        REQUIRE(r.row.size() == cleaner.output().fields.size());
        for (std::size_t f = 0; f < r.row.size(); ++f) CHECK(r.row.cells()[f].first == cleaner.output().fields[f].name);
      } else if (expect == "reject" || expect == "drop") {
        CHECK(r.verdict == (expect == "reject" ? Verdict::kReject : Verdict::kDrop));
        CHECK(r.rule == c["rule"].as<std::string>());
        CHECK_THAT(r.reason, Catch::Contains(c["reason"].as<std::string>("")));
      } else {
        FAIL("unknown expect '" << expect << "'");
      }
    }

    const YAML::Node errors = doc["config_errors"];
    for (std::size_t i = 0; errors && errors.IsSequence() && i < errors.size(); ++i) {
      ++cases;
      const std::string want = errors[i]["error"].as<std::string>();
      INFO("config error case " << i << ", expecting: " << want);
      CollectTypes(errors[i]["rules"], covered_types);
      try {
        Cleaner bad(errors[i]["rules"], SchemaOf(doc), file + ": config_errors");
        FAIL("rules loaded but should not");
      } catch (const sluice::core::ConfigError& e) {
        CHECK_THAT(std::string(e.what()), Catch::Contains(want));
      }
    }
  }
  CHECK(files >= 10);
  CHECK(cases >= 60);
  // Every rule type has at least one case file exercising it.
  for (const char* type : {"required", "coerce", "range", "regex", "allowed", "impute", "dedupe",
                           "outlier", "synthetic_date"}) {
    INFO("rule type " << type);
    CHECK(covered_types.count(type) == 1);
  }
}

// The loans pipeline's producer and cleaner logic on whole files, no Kafka: the real
// Lending Club file, the pipeline folder's sample of it, and seeded copies of it with bad rows
// mixed in (tests/data/loans/loan_data.py), each bad row checked against the reason its
// sidecar JSON expects.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/csv_source.hpp"

using namespace sluice::stages;

namespace {

const std::string kSource = SLUICE_SOURCE_DIR;

struct LineResult {
  std::string stage;  // producer | cleaner
  std::string rule, reason;
  bool loaded = false;
  Row row;
  std::vector<std::string> flags;
};

// Runs a CSV file through CsvSource + Cleaner as the loans pipeline configures them.
// Returns the outcome of each item by its line number.
std::map<std::uint64_t, LineResult> RunPipeline(const std::string& csv_path, CsvPosition start = {},
                                             const std::vector<std::string>* header = nullptr) {
  const YAML::Node pipeline = YAML::LoadFile(kSource + "/pipelines/loans/pipeline.yaml");
  const RecordSpec raw = LoadRecordSpec(kSource + "/pipelines/loans/schemas/loans.raw.v1.avsc");
  const RecordSpec clean = LoadRecordSpec(kSource + "/pipelines/loans/schemas/loans.clean.v1.avsc");
  CsvSource source(CsvSourceSettingsFromYaml(pipeline["producer"]["sources"][0], pipeline["producer"]["id"], raw,
                                             "loans.yaml producer.sources[0]"),
                   csv_path);
  if (header) source.UseHeader(*header);
  Cleaner cleaner(pipeline["cleaner"]["rules"], clean, "loans.yaml cleaner.rules");
  CsvFileReader reader(csv_path, {}, start);
  std::map<std::uint64_t, LineResult> out;
  while (auto item = reader.Next()) {
    SourceRecord rec = source.Accept(*item);
    if (rec.outcome.IsSkip()) continue;
    LineResult& o = out[rec.start.line];
    if (rec.outcome.IsReject()) {
      o.stage = "producer";
      o.rule = rec.outcome.rule();
      o.reason = rec.outcome.reason();
      continue;
    }
    CleanResult r = cleaner.Process(rec.row, 0);
    o.stage = "cleaner";
    if (r.outcome.IsEmit()) {
      o.loaded = true;
      o.row = std::move(r.row);
      o.flags = std::move(r.flags);
    } else {
      o.rule = r.outcome.rule();
      o.reason = r.outcome.reason();
    }
  }
  return out;
}

void CheckBadMix(int seed, bool crlf_bom) {
  const std::string dir = std::string(SLUICE_BINARY_DIR) + "/logic-bad-mix-" + std::to_string(seed);
  const std::string cmd = "python3 " + kSource + "/tests/data/loans/loan_data.py bad-mix --seed " +
                          std::to_string(seed) + " --per-kind 4 --out " + dir + (crlf_bom ? " --crlf --bom" : "") +
                          " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(dir + "/lending_club_bad_mix.expected.json");
  const auto expected = nlohmann::json::parse(in);

  const auto outcomes = RunPipeline(dir + "/lending_club_bad_mix.csv");
  CHECK(outcomes.size() == expected["items"].get<std::size_t>());

  std::map<std::uint64_t, nlohmann::json> bad;
  for (const auto& b : expected["bad"]) bad[b["line"].get<std::uint64_t>()] = b;
  std::size_t loaded = 0, rejected = 0;
  std::set<std::string> keys;
  for (const auto& [line, o] : outcomes) {
    INFO("line " << line << ": " << o.stage << " " << o.rule << ": " << o.reason);
    auto it = bad.find(line);
    if (o.loaded) {
      ++loaded;
      CHECK(it == bad.end());
      CHECK(keys.insert(std::get<std::string>(o.row.Get("loan_id"))).second);
      continue;
    }
    ++rejected;
    REQUIRE(it != bad.end());
    INFO("expected " << it->second.dump());
    CHECK(o.stage == it->second["stage"].get<std::string>());
    CHECK(o.rule == it->second["rule"].get<std::string>());
    CHECK_THAT(o.reason, Catch::Contains(it->second["reason"].get<std::string>()));
  }
  CHECK(rejected == bad.size());
  CHECK(loaded == expected["expected_loaded"].get<std::size_t>());
  CHECK(loaded + rejected == expected["items"].get<std::size_t>());

  // Odd but repairable rows load with the standardized value.
  REQUIRE(expected["fixed"].size() > 0);
  for (const auto& f : expected["fixed"]) {
    const auto& o = outcomes.at(f["line"].get<std::uint64_t>());
    INFO("fixable line " << f.dump() << " got " << o.rule << ": " << o.reason);
    REQUIRE(o.loaded);
    for (auto it = f["fixed"].begin(); it != f["fixed"].end(); ++it) {
      const Value& got = o.row.Get(it.key());
      if (it.value().is_number()) CHECK(std::get<double>(got) == Approx(it.value().get<double>()));
      else CHECK(std::get<std::string>(got) == it.value().get<std::string>());
    }
  }
}

}  // namespace

TEST_CASE("loans: every row of the real file loads, the real oddities are flagged") {
  const auto outcomes = RunPipeline(kSource + "/tests/data/loans/lending_club.csv");
  REQUIRE(outcomes.size() == 9857);
  std::map<std::string, int> flags;
  std::set<std::string> keys;
  std::set<std::int64_t> years;
  for (const auto& [line, o] : outcomes) {
    INFO("line " << line << ": " << o.rule << ": " << o.reason);
    REQUIRE(o.loaded);
    for (const auto& f : o.flags) ++flags[f];
    keys.insert(std::get<std::string>(o.row.Get("loan_id")));
    int y;
    unsigned m, d;
    CivilFromDays(std::get<std::int64_t>(o.row.Get("issue_date")), &y, &m, &d);
    years.insert(y);
  }
  CHECK(keys.size() == 9857);  // no two real rows share a content id
  CHECK(flags["annual_inc_zero"] == 2);
  CHECK(flags["revol_util_over_100"] == 47);
  CHECK(flags["all_util_over_100"] == 102);
  CHECK(flags.count("revol_util_imputed") == 0);  // no empty cells in this copy
  CHECK(years == std::set<std::int64_t>{2014, 2015, 2016});
}

TEST_CASE("loans: the pipeline folder's sample loads whole, each row as in the full file") {
  // pipelines/loans/sample/PROVENANCE.md: the first 300 loans of the full file, unchanged.
  const auto sample = RunPipeline(kSource + "/pipelines/loans/sample/lending_club_sample.csv");
  const auto full = RunPipeline(kSource + "/tests/data/loans/lending_club.csv");
  REQUIRE(sample.size() == 300);
  for (const auto& [line, o] : sample) {
    INFO("line " << line << ": " << o.rule << ": " << o.reason);
    REQUIRE(o.loaded);
    CHECK(o.row == full.at(line).row);
  }
}

TEST_CASE("loans: resuming from a stored position gives the same rows as one pass") {
  const std::string path = kSource + "/tests/data/loans/lending_club.csv";
  CsvFileReader reader(path);
  CsvPosition middle;
  for (int i = 0; i < 5000; ++i) middle = reader.Next()->next;
  const auto header = CsvSource::ReadHeader(path, {});
  const auto tail = RunPipeline(path, middle, &header);
  const auto full = RunPipeline(path);
  REQUIRE(tail.size() == 9857 - 4999);
  for (const auto& [line, o] : tail) {
    INFO("line " << line);
    CHECK(o.row.Get("loan_id") == full.at(line).row.Get("loan_id"));
    CHECK(o.row.Get("issue_date") == full.at(line).row.Get("issue_date"));
  }
}

TEST_CASE("loans: seeded bad rows each land in the DLQ with the expected reason (LF)") {
  CheckBadMix(42, false);
}

TEST_CASE("loans: seeded bad rows each land in the DLQ with the expected reason (CRLF + BOM)") {
  CheckBadMix(7, true);
}

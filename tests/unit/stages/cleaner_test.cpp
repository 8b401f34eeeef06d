// Cleaner properties that case files cannot express: determinism over a long sequence,
// rebuilding state with Warm after a restart, bounded state, the synthetic date's spread.
#include <catch2/catch.hpp>

#include <set>

#include <yaml-cpp/yaml.h>

#include "sluice/stages/cleaner.hpp"

using namespace sluice::stages;

namespace {

const char* kRules = R"(
- {name: dup, type: dedupe, key: [id], window: 1h, max_keys: 1000}
- {name: v_median, type: impute, field: v, statistic: median, by: [g], window: 50, action: flag}
- {name: v_z, type: outlier, field: v, method: zscore, threshold: 2, by: [g], warmup: 20}
)";

RecordSpec Spec() {
  return RecordSpec{"t",
                    {FieldSpec{"id", FieldType::kString, false, {}}, FieldSpec{"g", FieldType::kString, true, {}},
                     FieldSpec{"v", FieldType::kDouble, true, {}}, FieldSpec{"flags", FieldType::kString, true, {}}}};
}

// A reproducible input sequence with repeats, gaps and outliers.
std::vector<Row> Sequence(std::size_t n) {
  std::vector<Row> rows;
  std::uint64_t x = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::uint64_t r = x >> 33;
    Row row{{"id", "k" + std::to_string(r % (n / 2 + 1))}, {"g", std::string(1, static_cast<char>('A' + r % 3))}};
    if (r % 7 != 0) row.Set("v", std::to_string(static_cast<double>(r % 1000) / 10.0 + (r % 97 == 0 ? 500 : 0)));
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST_CASE("cleaner: the same input sequence gives the same outputs") {
  Cleaner a(YAML::Load(kRules), Spec(), "t");
  Cleaner b(YAML::Load(kRules), Spec(), "t");
  std::size_t emitted = 0, dropped = 0, flagged = 0;
  const auto rows = Sequence(20000);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto ra = a.Process(rows[i], static_cast<std::int64_t>(i) * 1000);
    const auto rb = b.Process(rows[i], static_cast<std::int64_t>(i) * 1000);
    REQUIRE(ra.outcome == rb.outcome);
    REQUIRE(ra.row == rb.row);
    REQUIRE(ra.flags == rb.flags);
    emitted += ra.outcome.IsEmit();
    dropped += !ra.outcome.IsEmit();
    flagged += !ra.flags.empty();
  }
  // The sequence exercises every path.
  CHECK(emitted > 1000);
  CHECK(dropped > 100);
  CHECK(flagged > 100);
}

TEST_CASE("cleaner: Warm rebuilds the dedupe window after a restart") {
  const YAML::Node rules = YAML::Load(kRules);
  Cleaner before(rules, Spec(), "t");
  std::vector<Row> emitted;
  for (int i = 0; i < 10; ++i) {
    auto r = before.Process(Row{{"id", "k" + std::to_string(i)}, {"v", std::string("1")}}, i);
    REQUIRE(r.outcome.IsEmit());
    emitted.push_back(r.row);
  }
  // A restarted cleaner without warm-up lets a duplicate through (the sink's upsert absorbs it)...
  Cleaner cold(rules, Spec(), "t");
  CHECK(cold.Process(Row{{"id", std::string("k3")}}, 20).outcome.IsEmit());
  // ...one warmed from the clean topic's tail rejects it, as the first instance would.
  Cleaner warm(rules, Spec(), "t");
  for (std::size_t i = 0; i < emitted.size(); ++i) warm.Warm(emitted[i], static_cast<std::int64_t>(i));
  const auto r = warm.Process(Row{{"id", std::string("k3")}}, 20);
  CHECK(r.outcome == Outcome::RuleReject("dup", r.outcome.reason()));
  CHECK(before.Process(Row{{"id", std::string("k3")}}, 20).outcome.rule() == "dup");
}

TEST_CASE("cleaner: dedupe state is bounded by max_keys") {
  Cleaner c(YAML::Load(kRules), Spec(), "t");
  for (int i = 0; i < 5000; ++i) {
    REQUIRE(c.Process(Row{{"id", "k" + std::to_string(i)}}, 0).outcome.IsEmit());
  }
  // Only the last 1000 keys are remembered.
  CHECK(c.Process(Row{{"id", std::string("k4999")}}, 0).outcome.IsReject());
  CHECK(c.Process(Row{{"id", std::string("k4000")}}, 0).outcome.IsReject());
  CHECK(c.Process(Row{{"id", std::string("k3999")}}, 0).outcome.IsEmit());
}

TEST_CASE("cleaner: synthetic dates stay in range and cover every month") {
  const std::int64_t first = *ParseDate("2014-01-01", "%Y-%m-%d");
  const std::int64_t last = *ParseDate("2016-12-31", "%Y-%m-%d");
  std::set<std::pair<int, unsigned>> months;
  for (int i = 0; i < 10000; ++i) {
    const std::int64_t d = SyntheticDate("LC-" + std::to_string(i), first, last);
    REQUIRE(d >= first);
    REQUIRE(d <= last);
    int y;
    unsigned m, day;
    CivilFromDays(d, &y, &m, &day);
    months.insert({y, m});
  }
  CHECK(months.size() == 36);
  CHECK(SyntheticDate("same", first, last) == SyntheticDate("same", first, last));
  CHECK(SyntheticDate("x", first, first) == first);
}

TEST_CASE("dates: formats and calendar arithmetic") {
  CHECK(DaysFromCivil(1970, 1, 1) == 0);
  CHECK(FormatDate(DaysFromCivil(2000, 2, 29)) == "2000-02-29");
  CHECK(FormatDate(-1) == "1969-12-31");
  CHECK(!ParseDate("1900-02-29", "%Y-%m-%d"));  // not a leap year
  CHECK(ParseDate("29/02/2016", "%d/%m/%Y") == DaysFromCivil(2016, 2, 29));
  CHECK(ParseDate("16-3-5", "%y-%m-%d") == DaysFromCivil(2016, 3, 5));
  CHECK(ParseDate("1969-12-31", "%Y-%m-%d") == -1);
  CHECK(!ParseDate("2016-01-01x", "%Y-%m-%d"));
  CHECK(ParseDateTime("2016-01-01 00:00:01", "%Y-%m-%d %H:%M:%S") == DaysFromCivil(2016, 1, 1) * 86400000 + 1000);
  // %f: a fraction of a second of 1 to 9 digits, kept to the millisecond (truncated).
  const std::int64_t second = DaysFromCivil(2026, 12, 5) * 86400000 + (12 * 3600 + 10 * 60 + 58) * 1000LL;
  CHECK(ParseDateTime("2026-12-05T12:10:58.562579Z", "%Y-%m-%dT%H:%M:%S.%fZ") == second + 562);
  CHECK(ParseDateTime("2026-12-05T12:10:58.5Z", "%Y-%m-%dT%H:%M:%S.%fZ") == second + 500);
  CHECK(ParseDateTime("2026-12-05T12:10:58.000000Z", "%Y-%m-%dT%H:%M:%S.%fZ") == second);
  CHECK(ParseDateTime("2026-12-05T12:10:58.Z", "%Y-%m-%dT%H:%M:%S.%fZ") == std::nullopt);
  CHECK(ParseDateTime("2026-12-05T12:10:58.1234567891Z", "%Y-%m-%dT%H:%M:%S.%fZ") == std::nullopt);
}

TEST_CASE("cleaner: a rule may not be named after a fixed DLQ word") {
  // The sluice-dlq-rule header of a rule's reject is its name: a rule called "type" or
  // "too_large" would be indistinguishable from the stage's own reasons (docs/dlq-codes.md).
  for (const std::string word : {"type", "drop", "too_large", "undecodable"}) {
    INFO(word);
    const YAML::Node rules = YAML::Load("- {name: " + word + ", type: required, fields: [id]}");
    CHECK_THROWS_WITH(Cleaner(rules, Spec(), "p.yaml: cleaner.rules"),
                      Catch::Equals("p.yaml: cleaner.rules[0] (" + word + ").name: '" + word +
                                        "' is reserved: it is a fixed DLQ rule code (docs/dlq-codes.md) (line 1)"));
  }
  CHECK_NOTHROW(Cleaner(YAML::Load("- {name: type_check, type: required, fields: [id]}"), Spec(), "t"));
}

TEST_CASE("cleaner: the implicit typing rule rejects under DlqCode::kType") {
  Cleaner c(YAML::Node(), Spec(), "t");
  const CleanResult r = c.Process(Row{{"id", std::string("k1")}, {"v", std::string("not a number")}}, 0);
  CHECK(r.outcome.IsReject());
  CHECK(r.outcome.code() == DlqCode::kType);
  CHECK(r.outcome.DlqRule() == "type");
  CHECK(r.flags.empty());
}

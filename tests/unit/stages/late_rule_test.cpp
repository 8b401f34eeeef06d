// The cleaner's late rule: the watermark (greatest emitted time), the boundary at exactly
// `lateness`, nulls, the DLQ code, dates, Warm after a restart, and the config checks.
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/cleaner.hpp"

using namespace sluice::stages;

namespace {

const char* kRules = R"(
- {name: ts_time, type: coerce, field: ts, to: timestamp}
- {name: too_late, type: late, field: ts, lateness: 2h}
)";

RecordSpec Spec(FieldType ts_type = FieldType::kLong) {
  return RecordSpec{"t", {FieldSpec{"id", FieldType::kString, false, {}}, FieldSpec{"ts", ts_type, true, {}}}};
}

Row In(const std::string& id, const std::string& ts) { return Row{{"id", id}, {"ts", ts}}; }

}  // namespace

TEST_CASE("late: the watermark is the greatest emitted time") {
  Cleaner c(YAML::Load(kRules), Spec(), "t");
  CHECK(c.Process(In("a", "2014-03-01T12:35:00"), 0).outcome.IsEmit());
  // Out of order within the lateness: emitted, and the watermark does not go back.
  CHECK(c.Process(In("b", "2014-03-01T11:00:00"), 0).outcome.IsEmit());
  const CleanResult late = c.Process(In("c", "2014-03-01T10:00:00"), 0);
  REQUIRE(late.outcome.IsReject());
  CHECK(late.outcome.code() == DlqCode::kLate);
  CHECK(late.outcome.DlqRule() == "late");
  CHECK(late.outcome.DlqReason() ==
        "ts 2014-03-01T10:00:00Z is 2h35m behind the watermark 2014-03-01T12:35:00Z (lateness 2h)");
  // The watermark moves forward with emitted records only.
  CHECK(c.Process(In("d", "2014-03-01T15:00:00"), 0).outcome.IsEmit());
  CHECK(c.Process(In("e", "2014-03-01T12:59:59"), 0).outcome.IsReject());
}

TEST_CASE("late: a record exactly `lateness` behind passes, one second more does not") {
  Cleaner c(YAML::Load(kRules), Spec(), "t");
  CHECK(c.Process(In("a", "2014-03-01T12:00:00"), 0).outcome.IsEmit());
  CHECK(c.Process(In("b", "2014-03-01T10:00:00"), 0).outcome.IsEmit());
  const CleanResult r = c.Process(In("c", "2014-03-01T09:59:59"), 0);
  REQUIRE(r.outcome.IsReject());
  CHECK(r.outcome.DlqReason() == "ts 2014-03-01T09:59:59Z is 2h1s behind the watermark 2014-03-01T12:00:00Z (lateness 2h)");
}

TEST_CASE("late: a null time passes and does not move the watermark") {
  Cleaner c(YAML::Load(kRules), Spec(), "t");
  CHECK(c.Process(Row{{"id", "a"}}, 0).outcome.IsEmit());
  CHECK(c.Process(In("b", "2014-03-01T12:00:00"), 0).outcome.IsEmit());
  CHECK(c.Process(Row{{"id", "c"}}, 0).outcome.IsEmit());
  CHECK(c.Process(In("d", "2014-03-01T09:00:00"), 0).outcome.IsReject());
}

TEST_CASE("late: a rejected record does not move the watermark") {
  const char* rules = R"(
- {type: coerce, field: ts, to: timestamp}
- {name: too_late, type: late, field: ts, lateness: 1h}
- {name: id_known, type: allowed, field: id, values: [a, b]}
)";
  Cleaner c(YAML::Load(rules), Spec(), "t");
  CHECK(c.Process(In("a", "2014-03-01T10:00:00"), 0).outcome.IsEmit());
  CHECK(c.Process(In("zz", "2014-03-01T20:00:00"), 0).outcome.rule() == "id_known");
  CHECK(c.Process(In("b", "2014-03-01T09:30:00"), 0).outcome.IsEmit());
}

TEST_CASE("late: Warm restores the watermark from the clean rows after a restart") {
  Cleaner first(YAML::Load(kRules), Spec(), "t");
  std::vector<Row> emitted;
  for (const char* ts : {"2014-03-01T08:00:00", "2014-03-01T12:35:00", "2014-03-01T11:00:00"}) {
    CleanResult r = first.Process(In("x", ts), 0);
    REQUIRE(r.outcome.IsEmit());
    emitted.push_back(r.row);
  }
  Cleaner restarted(YAML::Load(kRules), Spec(), "t");
  for (const auto& row : emitted) restarted.Warm(row, 0);
  for (Cleaner* c : {&first, &restarted}) {
    const CleanResult r = c->Process(In("y", "2014-03-01T10:00:00"), 0);
    REQUIRE(r.outcome.IsReject());
    CHECK_THAT(r.outcome.reason(), Catch::Contains("behind the watermark 2014-03-01T12:35:00Z"));
  }
  // Without Warm, a new cleaner has no watermark and would accept it: Warm is what matters.
  Cleaner cold(YAML::Load(kRules), Spec(), "t");
  CHECK(cold.Process(In("y", "2014-03-01T10:00:00"), 0).outcome.IsEmit());
}

TEST_CASE("late: a date field is compared in days") {
  const char* rules = R"(
- {type: coerce, field: ts, to: date}
- {name: too_late, type: late, field: ts, lateness: 2d}
)";
  Cleaner c(YAML::Load(rules), Spec(FieldType::kDate), "t");
  CHECK(c.Process(In("a", "2014-03-05"), 0).outcome.IsEmit());
  CHECK(c.Process(In("b", "2014-03-03"), 0).outcome.IsEmit());
  const CleanResult r = c.Process(In("c", "2014-03-02"), 0);
  REQUIRE(r.outcome.IsReject());
  CHECK(r.outcome.DlqReason() == "ts 2014-03-02 is 3d behind the watermark 2014-03-05 (lateness 2d)");
}

TEST_CASE("late: the field must be coerced to a time first and kept in the clean schema") {
  CHECK_THROWS_WITH(Cleaner(YAML::Load("[{name: l, type: late, field: ts, lateness: 1h}]"), Spec(), "p.yaml: cleaner.rules"),
                    Catch::Contains("'ts' must be coerced to timestamp or date by an earlier rule"));
  CHECK_THROWS_WITH(Cleaner(YAML::Load("[{type: coerce, field: ts, to: long}, {type: late, field: ts, lateness: 1h}]"), Spec(), "t"),
                    Catch::Contains("not long values"));
  const RecordSpec text_ts{"t", {FieldSpec{"id", FieldType::kString, false, {}}, FieldSpec{"ts", FieldType::kString, true, {}}}};
  CHECK_THROWS_WITH(Cleaner(YAML::Load(kRules), text_ts, "t"), Catch::Contains("must be a long (timestamp) or date field of the clean schema"));
  CHECK_NOTHROW(Cleaner(YAML::Load(kRules), Spec(), "t"));
}

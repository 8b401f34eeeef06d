// VersionedTable (pg_asof_lookup's point-in-time join) on a fake clock and a table the test
// changes: the version choice, the status, the waits for the horizon (re-reads, the wait
// bound per horizon value, no second hold while the horizon stands still), failed re-reads.
#include <catch2/catch.hpp>

#include <climits>

#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/enricher.hpp"

using namespace sluice::stages;
using namespace std::chrono_literals;
using Status = VersionedTable::Status;

namespace {

VersionedTable::Version V(std::int64_t from, const std::string& name) { return {from, Row{{"name", name}}}; }

// A table the test edits between calls; counts the loads.
struct FakeTable {
  VersionedTable::Snapshot snapshot;
  int loads = 0;
  bool fail = false;
  VersionedTable::Loader Loader() {
    return [this] {
      ++loads;
      if (fail) throw sluice::core::InfraError("relation does not exist", sluice::core::Retry::kYes);
      return snapshot;
    };
  }
};

SteadyTime At(std::chrono::milliseconds ms) { return SteadyTime{} + ms; }

std::string NameOf(const VersionedTable::Decision& d) { return d.version ? AsText(d.version->Get("name")) : "<none>"; }

}  // namespace

TEST_CASE("asof: the version valid at t has the greatest valid_from <= t") {
  const std::vector<VersionedTable::Version> versions{V(100, "a"), V(200, "b"), V(300, "c")};
  CHECK(VersionedTable::ValidAt(versions, 99) == nullptr);
  CHECK(AsText(VersionedTable::ValidAt(versions, 100)->row.Get("name")) == "a");
  CHECK(AsText(VersionedTable::ValidAt(versions, 199)->row.Get("name")) == "a");
  CHECK(AsText(VersionedTable::ValidAt(versions, 200)->row.Get("name")) == "b");
  CHECK(AsText(VersionedTable::ValidAt(versions, 1000)->row.Get("name")) == "c");
  CHECK(VersionedTable::ValidAt({}, 5) == nullptr);
}

TEST_CASE("asof: status - confirmed within the horizon, missing without a version, unconfirmed beyond") {
  CHECK(VersionedTable::StatusOf(true, 100, 100) == Status::kConfirmed);
  CHECK(VersionedTable::StatusOf(false, 100, 100) == Status::kMissing);
  CHECK(VersionedTable::StatusOf(true, 101, 100) == Status::kUnconfirmed);
  CHECK(VersionedTable::StatusOf(false, 101, 100) == Status::kUnconfirmed);
  CHECK(VersionedTable::StatusOf(false, 0, INT64_MIN) == Status::kUnconfirmed);  // empty table
  CHECK(VersionedTable::StatusName(Status::kUnconfirmed) == "unconfirmed");
}

TEST_CASE("asof: versions arrive in any order and are chosen by time") {
  FakeTable t;
  t.snapshot.versions = {{"u1", V(300, "c")}, {"u1", V(100, "a")}, {"u2", V(150, "x")}, {"u1", V(200, "b")}};
  t.snapshot.horizon_ms = 300;
  VersionedTable table({10s, 30s, 1s}, t.Loader());
  auto d = table.Resolve("u1", 250, At(0ms));
  CHECK_FALSE(d.wait);
  CHECK(NameOf(d) == "b");
  CHECK(d.status == Status::kConfirmed);
  d = table.Resolve("u2", 100, At(0ms));
  CHECK(d.status == Status::kMissing);
  CHECK(d.version == nullptr);
  d = table.Resolve("u3", 100, At(0ms));
  CHECK(d.status == Status::kMissing);
  CHECK(t.loads == 1);
}

TEST_CASE("asof: outside waits the table is re-read when older than refresh") {
  FakeTable t;
  t.snapshot.versions = {{"u1", V(100, "a")}};
  t.snapshot.horizon_ms = 1000;
  VersionedTable table({10s, 30s, 1s}, t.Loader());
  table.Resolve("u1", 500, At(0ms));
  table.Resolve("u1", 500, At(9999ms));
  CHECK(t.loads == 1);
  t.snapshot.versions.push_back({"u1", V(400, "b")});
  CHECK(NameOf(table.Resolve("u1", 500, At(10s))) == "b");
  CHECK(t.loads == 2);
}

TEST_CASE("asof: a record beyond the horizon waits, and an update arriving meanwhile is joined") {
  FakeTable t;
  t.snapshot.versions = {{"u1", V(100, "a")}};
  t.snapshot.horizon_ms = 100;
  VersionedTable table({10s, 30s, 1s}, t.Loader());
  auto d = table.Resolve("u1", 500, At(0ms));
  REQUIRE(d.wait);
  CHECK(d.retry_at == At(1s));  // re-read every second while waiting
  d = table.Resolve("u1", 500, At(1s));
  REQUIRE(d.wait);
  CHECK(t.loads == 2);
  // The new version arrives, and with it the horizon passes t.
  t.snapshot.versions.push_back({"u1", V(400, "b")});
  t.snapshot.horizon_ms = 400;
  d = table.Resolve("u1", 500, At(2s));
  REQUIRE(d.wait);  // 400 < 500: still beyond the horizon, a new horizon value: waits again
  t.snapshot.horizon_ms = 600;
  d = table.Resolve("u1", 500, At(3s));
  CHECK_FALSE(d.wait);
  CHECK(NameOf(d) == "b");
  CHECK(d.status == Status::kConfirmed);
}

TEST_CASE("asof: a horizon that never moves - unconfirmed after wait, and the next record is not held") {
  FakeTable t;
  t.snapshot.versions = {{"u1", V(100, "a")}};
  t.snapshot.horizon_ms = 100;
  VersionedTable table({10s, 5s, 1s}, t.Loader());
  SteadyTime now = At(0ms);
  auto d = table.Resolve("u1", 500, now);
  int waits = 0;
  while (d.wait) {
    ++waits;
    REQUIRE(d.retry_at > now);
    now = d.retry_at;
    d = table.Resolve("u1", 500, now);
  }
  CHECK(waits == 5);
  CHECK(now == At(5s));
  CHECK(d.status == Status::kUnconfirmed);
  CHECK(NameOf(d) == "a");  // the latest known version valid at t
  // The next record beyond the same horizon is answered at once, with no re-read.
  const int loads = t.loads;
  d = table.Resolve("u1", 900, now + 1ms);
  CHECK_FALSE(d.wait);
  CHECK(d.status == Status::kUnconfirmed);
  CHECK(t.loads == loads);
  // A record within the horizon is still confirmed.
  CHECK(table.Resolve("u1", 100, now + 2ms).status == Status::kConfirmed);
  // A horizon that moves but stays below the given-up record's time holds nothing.
  t.snapshot.horizon_ms = 200;
  d = table.Resolve("u1", 900, now + 10s);
  CHECK_FALSE(d.wait);
  // Once it passes that time, records beyond it are held again.
  t.snapshot.horizon_ms = 1000;
  d = table.Resolve("u1", 1100, now + 20s);
  CHECK(d.wait);
}

TEST_CASE("asof: the wait is counted from when the horizon value was first waited on") {
  FakeTable t;
  t.snapshot.versions = {{"u1", V(100, "a")}};
  t.snapshot.horizon_ms = 100;
  VersionedTable table({10s, 5s, 1s}, t.Loader());
  CHECK(table.Resolve("u1", 500, At(0ms)).wait);
  // A later record (another transaction, say) waiting on the same horizon has what is left.
  auto d = table.Resolve("u1", 600, At(4s));
  REQUIRE(d.wait);
  CHECK(d.retry_at == At(5s));
  d = table.Resolve("u1", 600, At(5s));
  CHECK_FALSE(d.wait);
  CHECK(d.status == Status::kUnconfirmed);
}

TEST_CASE("asof: refresh shorter than a second sets the pace of re-reads while waiting") {
  FakeTable t;
  t.snapshot.horizon_ms = 0;
  VersionedTable table({200ms, 1s, 1s}, t.Loader());
  auto d = table.Resolve("u1", 500, At(0ms));
  REQUIRE(d.wait);
  CHECK(d.retry_at == At(200ms));
}

TEST_CASE("asof: an empty table makes every record wait, then unconfirmed without a version") {
  FakeTable t;
  VersionedTable table({10s, 2s, 1s}, t.Loader());
  auto d = table.Resolve("u1", 0, At(0ms));
  while (d.wait) d = table.Resolve("u1", 0, d.retry_at);
  CHECK(d.status == Status::kUnconfirmed);
  CHECK(d.version == nullptr);
}

TEST_CASE("asof: a failed first load throws, a failed re-read keeps the copy") {
  FakeTable t;
  t.fail = true;
  VersionedTable table({10s, 2s, 1s}, t.Loader());
  CHECK_THROWS_AS(table.Resolve("u1", 0, At(0ms)), sluice::core::InfraError);
  t.fail = false;
  t.snapshot.versions = {{"u1", V(0, "a")}};
  t.snapshot.horizon_ms = 10;
  CHECK(table.Resolve("u1", 5, At(1s)).status == Status::kConfirmed);
  t.fail = true;
  const auto d = table.Resolve("u1", 5, At(20s));
  CHECK(d.status == Status::kConfirmed);
  CHECK(NameOf(d) == "a");
  CHECK_THAT(table.last_error(), Catch::Contains("relation does not exist"));
}

TEST_CASE("asof: the step holds a record through its wait function and marks every record") {
  FakeTable t;
  t.snapshot.versions = {{"u1", V(1000, "a")}};
  t.snapshot.horizon_ms = 1000;
  EnricherDeps deps;
  deps.versioned_loader = [&t](const EnricherDeps::VersionedQuery& q) {
    CHECK(q.table == "hist");
    CHECK(q.key_column == "id");
    CHECK(q.valid_from_column == "valid_from");
    return t.Loader();
  };
  std::vector<SteadyTime> waited;
  deps.wait_until = [&](SteadyTime until) {
    waited.push_back(until);
    if (waited.size() == 2) {  // the update arrives during the wait
      t.snapshot.versions.push_back({"u1", V(5000, "b")});
      t.snapshot.horizon_ms = 6000;
    }
    return until;
  };
  // ts as text in the output, so that ISO text passes the typing too.
  const RecordSpec out{"e", {FieldSpec{"unit_id", FieldType::kString, true, {}}, FieldSpec{"ts", FieldType::kString, true, {}},
                             FieldSpec{"unit_name", FieldType::kString, true, {}}, FieldSpec{"v", FieldType::kString, false, {}}}};
  Enricher e(YAML::Load("[{name: unit, type: pg_asof_lookup, table: hist, key: unit_id, column: id, time: ts, "
                        "fields: {name: unit_name}, status: v, wait: 30s}]"),
             out, "t", deps);
  auto r = e.Process(Row{{"unit_id", "u1"}, {"ts", std::int64_t{6000}}}, At(0ms));
  REQUIRE(r.outcome.IsEmit());
  CHECK(waited.size() == 2);
  CHECK(r.row.Get("unit_name") == Value{std::string("b")});
  CHECK(r.row.Get("v") == Value{std::string("confirmed")});
  // ISO text is a time too; text that is not a time is rejected by the step.
  r = e.Process(Row{{"unit_id", "u1"}, {"ts", std::string("1970-01-01T00:00:02Z")}}, At(10s));
  REQUIRE(r.outcome.IsEmit());
  CHECK(r.row.Get("unit_name") == Value{std::string("a")});
  r = e.Process(Row{{"unit_id", "u1"}, {"ts", std::string("soon")}}, At(10s));
  REQUIRE(r.outcome.IsReject());
  CHECK(r.outcome.rule() == "unit");
  CHECK(r.outcome.reason() == "ts: 'soon' is not a timestamp");
  // A null time joins nothing: missing.
  r = e.Process(Row{{"unit_id", "u1"}}, At(10s));
  CHECK(r.row.Get("v") == Value{std::string("missing")});
}

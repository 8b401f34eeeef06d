// pg_asof_lookup against the real PostgreSQL of the local stack, through the enricher's own
// loader (LoadVersions) and wait (EnricherStage::MakeDeps): versions chosen by time, a version
// inserted while a record waits (joined to it), a horizon that never moves (unconfirmed after
// `wait`, and the next record not held again), a missing key, a custom horizon query, and a
// missing table (a retryable infrastructure error). Time here is event time in the rows; the
// waits are real but nothing asserts on elapsed time: the test counts the wait calls instead.
// SYNTHETIC data: made-up units and versions.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>
#include <yaml-cpp/yaml.h>

#include "../pg/pg_test_env.hpp"
#include "enricher_stage.hpp"
#include "sluice/core/error.hpp"

using namespace sluice;

namespace {

struct Db {
  std::shared_ptr<pg::Connection> conn;
  std::string table = pg::testing::UniqueName("asof_units");
  Db() {
    pg::ConnectionOptions o;
    o.conninfo = pg::testing::RequirePgConninfo();
    conn = std::make_shared<pg::Connection>(o);
    Exec("CREATE TABLE " + table +
         " (unit_id text NOT NULL, valid_from timestamptz NOT NULL, name text, capacity int, PRIMARY KEY (unit_id, valid_from))");
  }
  ~Db() {
    try {
      Exec("DROP TABLE IF EXISTS " + table);
      Exec("DROP TABLE IF EXISTS " + table + "_progress");
    } catch (...) {
    }
  }
  void Exec(const std::string& sql) {
    conn->Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec(sql);
      tx.commit();
    });
  }
  void Version(const std::string& unit, const std::string& from, const std::string& name, int capacity) {
    Exec("INSERT INTO " + table + " VALUES ('" + unit + "', '" + from + "+00', '" + name + "', " + std::to_string(capacity) + ")");
  }
};

stages::RecordSpec Spec() {
  return stages::RecordSpec{"e",
                            {stages::FieldSpec{"unit_id", stages::FieldType::kString, true, {}},
                             stages::FieldSpec{"ts", stages::FieldType::kLong, true, {}},
                             stages::FieldSpec{"unit_name", stages::FieldType::kString, true, {}},
                             stages::FieldSpec{"unit_capacity", stages::FieldType::kInt, true, {}},
                             stages::FieldSpec{"unit_version", stages::FieldType::kString, false, {}}}};
}

std::int64_t Ms(const char* iso) { return *stages::ParseDateTime(iso, "%Y-%m-%dT%H:%M:%S"); }

// The enricher with the real loader; `on_wait` runs at each wait (before the real one).
struct Asof {
  int waits = 0;
  std::function<void(int)> on_wait;
  std::optional<stages::Enricher> enricher;
  Asof(Db& db, const std::string& extra = "") {
    stages::EnricherDeps deps =
        enricher::EnricherStage::MakeDeps(db.conn, std::make_shared<enricher::HttpFetcher>(), core::ShutdownToken());
    auto real_wait = deps.wait_until;
    deps.wait_until = [this, real_wait](stages::SteadyTime until) {
      ++waits;
      if (on_wait) on_wait(waits);
      return real_wait(until);
    };
    enricher.emplace(YAML::Load("[{name: unit, type: pg_asof_lookup, table: " + db.table +
                                ", key: unit_id, time: ts, valid_from: valid_from, "
                                "fields: {name: unit_name, capacity: unit_capacity}, status: unit_version, "
                                "refresh: 10s, wait: 2s" + extra + "}]"),
                     Spec(), "test.steps", deps);
  }
  stages::Row Join(const std::string& unit, const char* iso) {
    auto r = enricher->Process(stages::Row{{"unit_id", unit}, {"ts", Ms(iso)}}, std::chrono::steady_clock::now());
    REQUIRE(r.outcome.IsEmit());
    return r.row;
  }
};

std::string S(const stages::Row& row, const char* field) { return stages::AsText(row.Get(field)); }

}  // namespace

TEST_CASE("pg_asof_lookup: versions by time, a missing key, an update while a record waits, a horizon that never moves") {
  Db db;
  db.Version("u1", "2014-01-01 00:00:00", "Old Name", 40);
  db.Version("u1", "2014-03-01 09:00:00", "New Name", 44);
  db.Version("u2", "2014-03-01 06:00:00", "Second", 10);
  Asof asof(db);

  SECTION("the version valid at the event's time, confirmed within the horizon") {
    auto row = asof.Join("u1", "2014-03-01T08:59:59");
    CHECK(S(row, "unit_name") == "Old Name");
    CHECK(row.Get("unit_capacity") == stages::Value{std::int64_t{40}});
    CHECK(S(row, "unit_version") == "confirmed");
    row = asof.Join("u1", "2014-03-01T09:00:00");
    CHECK(S(row, "unit_name") == "New Name");
    CHECK(S(row, "unit_version") == "confirmed");
    row = asof.Join("u9", "2014-03-01T08:00:00");
    CHECK(stages::IsNull(row.Get("unit_name")));
    CHECK(S(row, "unit_version") == "missing");
    row = asof.Join("u2", "2014-03-01T05:00:00");  // before u2's first version
    CHECK(S(row, "unit_version") == "missing");
    CHECK(asof.waits == 0);
  }

  SECTION("a version inserted while the record waits is the one joined") {
    asof.on_wait = [&](int n) {
      if (n == 1) {
        db.Version("u1", "2014-03-01 09:30:00", "Newer Name", 48);
        db.Version("u2", "2014-03-01 10:00:00", "Second v2", 12);  // moves the horizon to 10:00
      }
    };
    const auto row = asof.Join("u1", "2014-03-01T10:00:00");
    CHECK(asof.waits >= 1);
    CHECK(S(row, "unit_name") == "Newer Name");
    CHECK(row.Get("unit_capacity") == stages::Value{std::int64_t{48}});
    CHECK(S(row, "unit_version") == "confirmed");
  }

  SECTION("a horizon that never moves: unconfirmed after wait, and the next record is not held again") {
    auto row = asof.Join("u1", "2014-03-01T11:00:00");
    CHECK(asof.waits >= 1);
    CHECK(S(row, "unit_name") == "New Name");  // the latest known version valid at the time
    CHECK(S(row, "unit_version") == "unconfirmed");
    const int waits = asof.waits;
    row = asof.Join("u1", "2014-03-01T11:15:00");
    CHECK(asof.waits == waits);
    CHECK(S(row, "unit_version") == "unconfirmed");
    row = asof.Join("u9", "2014-03-01T11:30:00");
    CHECK(asof.waits == waits);
    CHECK(stages::IsNull(row.Get("unit_name")));
    CHECK(S(row, "unit_version") == "unconfirmed");
    // Within the horizon: still confirmed, without waiting.
    CHECK(S(asof.Join("u1", "2014-03-01T08:00:00"), "unit_version") == "confirmed");
    CHECK(asof.waits == waits);
  }
}

TEST_CASE("pg_asof_lookup: a custom horizon query is the versioned table's watermark") {
  Db db;
  db.Version("u1", "2014-03-01 09:00:00", "New Name", 44);
  db.Exec("CREATE TABLE " + db.table + "_progress (loaded_until timestamptz)");
  db.Exec("INSERT INTO " + db.table + "_progress VALUES ('2014-03-02 00:00:00+00')");
  Asof asof(db, ", horizon_query: 'SELECT loaded_until FROM " + db.table + "_progress'");
  const auto row = asof.Join("u1", "2014-03-01T18:00:00");
  CHECK(S(row, "unit_name") == "New Name");
  CHECK(S(row, "unit_version") == "confirmed");
  CHECK(asof.waits == 0);
}

TEST_CASE("pg_asof_lookup: a missing table is a retryable infrastructure error, not a crash") {
  Db db;
  db.Exec("DROP TABLE " + db.table);
  Asof asof(db);
  try {
    asof.enricher->Process(stages::Row{{"unit_id", "u1"}, {"ts", Ms("2014-03-01T10:00:00")}}, std::chrono::steady_clock::now());
    FAIL("the step joined without its table");
  } catch (const core::InfraError& e) {
    CHECK(e.Retryable());
    CHECK_THAT(e.what(), Catch::Contains("versioned table"));
    CHECK_THAT(e.what(), Catch::Contains(db.table));
  }
}

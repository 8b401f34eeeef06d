// The postgres_cdc plug-in against the real PostgreSQL of the local stack (wal_level=logical;
// no Kafka: the test plays the source loop, committing or aborting each batch). Each case has
// its own table, slot and publication, dropped after: snapshot handover with concurrent
// inserts, inserts/updates/deletes, tombstones, whole and split transactions across aborts and
// restarts without loss or repeat, the slot acknowledged only after a commit, TRUNCATE to the
// DLQ.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "../pg/pg_test_env.hpp"
#include "pg_cdc_source.hpp"
#include "sluice/core/error.hpp"

using namespace sluice;
using nlohmann::json;
using producer::PgCdcSource;
using producer::PgCdcSourceOptions;
using runtime::PollStatus;
using runtime::SourceBatch;

namespace {

// A table, slot and publication of this test only; dropped at the end.
struct Fixture {
  std::string conninfo = pg::testing::RequirePgConninfo();
  std::string table = pg::testing::UniqueName("cdc_products");
  std::string slot = pg::testing::UniqueName("sluice_cdc_slot");
  std::string publication = pg::testing::UniqueName("sluice_cdc_pub");
  pqxx::connection db{conninfo};

  Fixture() {
    Sql("CREATE TABLE " + table + " (id bigint PRIMARY KEY, name text, price numeric(10,2), added date)");
  }
  ~Fixture() {
    try {
      // The slot may still be held for a moment by a walsender that is going away.
      for (int i = 0; i < 50; ++i) {
        pqxx::nontransaction tx(db);
        auto r = tx.exec("SELECT active FROM pg_replication_slots WHERE slot_name = " + tx.quote(slot));
        if (r.empty()) break;
        if (!r[0][0].as<bool>()) {
          tx.exec("SELECT pg_drop_replication_slot(" + tx.quote(slot) + ")");
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      Sql("DROP PUBLICATION IF EXISTS " + publication);
      Sql("DROP TABLE IF EXISTS " + table);
    } catch (const std::exception& e) {
      WARN("clean-up failed: " << e.what());
    }
  }
  void Sql(const std::string& sql) {
    pqxx::nontransaction tx(db);
    tx.exec(sql);
  }
  std::string ConfirmedFlush() {
    pqxx::nontransaction tx(db);
    auto r = tx.exec("SELECT coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = " + tx.quote(slot));
    return r.empty() ? "" : r[0][0].as<std::string>();
  }
  PgCdcSourceOptions Options(stages::CdcSnapshot snapshot, stages::CdcDeletes deletes = stages::CdcDeletes::kEvent) const {
    PgCdcSourceOptions o;
    auto& s = o.settings;
    s.name = "products";
    s.tables = {table};
    s.slot = slot;
    s.publication = publication;
    s.snapshot = snapshot;
    s.deletes = deletes;
    s.status_interval = core::Duration(1000);
    s.snapshot_fetch = 3;
    o.raw = stages::RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"P","fields":[
      {"name":"id","type":"long"},
      {"name":"name","type":["null","string"],"default":null},
      {"name":"price","type":["null","double"],"default":null},
      {"name":"added","type":["null",{"type":"int","logicalType":"date"}],"default":null},
      {"name":"_op","type":"string"},
      {"name":"_lsn","type":"long"}]})"),
                                       "test");
    o.key_fields = {"id"};
    o.conninfo = conninfo;
    return o;
  }
};

// Plays the source loop: each Step polls once and commits the batch, or aborts it (the loop
// then hands the source its committed positions again). A retryable InfraError aborts too, as
// in the loop. `items` are the committed ones.
struct Loop {
  PgCdcSource& source;
  std::map<std::string, std::string> committed;
  std::vector<runtime::SourceItem> items;
  int batches = 0, aborts = 0, outages = 0;

  PollStatus Step(std::size_t max, bool commit = true) {
    SourceBatch batch;
    PollStatus st;
    try {
      st = source.Poll(batch, max);
    } catch (const core::InfraError& e) {
      REQUIRE(e.Retryable());
      ++outages;
      source.Restore(committed);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return PollStatus::kIdle;
    }
    if (st != PollStatus::kBatch) return st;
    ++batches;
    if (!commit) {
      ++aborts;
      source.Restore(committed);
      return st;
    }
    for (auto& it : batch.items) items.push_back(std::move(it));
    for (auto& [k, v] : batch.positions) committed[k] = v;
    source.Committed();
    return st;
  }
  // Steps until `n` items are committed (or 20 s pass); abort_every > 0 aborts each such batch.
  void Until(std::size_t n, std::size_t max, int abort_every = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int i = 0;
    while (items.size() < n && std::chrono::steady_clock::now() < deadline) {
      ++i;
      Step(max, abort_every == 0 || i % abort_every != 0);
    }
  }
  // Steps for a while (to see that nothing more comes).
  void Drain(std::size_t max, int steps = 15) {
    for (int i = 0; i < steps; ++i) Step(max);
  }
  // "<id><op>" per committed item, in order ("3r", "4c", "1u", "2d"; "2x" a tombstone).
  std::vector<std::string> Ops() const {
    std::vector<std::string> out;
    for (const auto& it : items) {
      if (!it.outcome.IsEmit()) {
        out.push_back("dlq");
        continue;
      }
      if (it.tombstone) {
        out.push_back(it.record.key + "x");
        continue;
      }
      const auto& row = it.record.Row();
      out.push_back(std::to_string(std::get<std::int64_t>(row.Get("id"))) + std::get<std::string>(row.Get("_op")));
    }
    return out;
  }
};

std::vector<std::string> Seq(const std::string& op, int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; ++i) v.push_back(std::to_string(i) + op);
  return v;
}

std::vector<std::string> Cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("snapshot hands over to the stream: rows inserted during the snapshot appear once") {
  Fixture f;
  f.Sql("INSERT INTO " + f.table + " SELECT g, 'p' || g, g * 1.5, DATE '2017-01-01' + g FROM generate_series(1, 10) g");
  PgCdcSource source(f.Options(stages::CdcSnapshot::kInitial), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  // The first batch starts the snapshot (3 rows per FETCH); then rows change while it is read.
  loop.Step(3);
  REQUIRE(loop.items.size() == 3);
  f.Sql("INSERT INTO " + f.table + " VALUES (11, 'late', 1, NULL)");
  f.Sql("UPDATE " + f.table + " SET price = 99 WHERE id = 9");
  f.Sql("DELETE FROM " + f.table + " WHERE id = 10");
  // Every third batch aborted: re-read from the committed row of the same snapshot.
  loop.Until(13, 3, 3);
  CHECK(loop.aborts > 0);
  CHECK(loop.Ops() == Cat(Seq("r", 1, 10), {"11c", "9u", "10d"}));
  // The snapshot rows are the state as of the slot's creation; the changes carry the new one.
  CHECK(std::get<double>(loop.items[8].record.Row().Get("price")) == 13.5);
  CHECK(std::get<double>(loop.items[11].record.Row().Get("price")) == 99);
  CHECK(std::get<std::int64_t>(loop.items[0].record.Row().Get("added")) == stages::DaysFromCivil(2017, 1, 2));
  CHECK(*loop.items[10].record.FindHeader("sluice-source-table") == "public." + f.table);
  CHECK(*loop.items[10].record.FindHeader("sluice-source-op") == "c");
  loop.Drain(10);
  CHECK(loop.items.size() == 13);
  CHECK(source.counters().snapshots == 1);
  CHECK(f.ConfirmedFlush() != "");
}

TEST_CASE("inserts, updates and deletes stream exactly once across aborts, split transactions and restarts") {
  Fixture f;
  auto options = f.Options(stages::CdcSnapshot::kNever);
  std::map<std::string, std::string> committed;
  std::vector<std::string> ops;
  {
    PgCdcSource source(options, obs::Logger("test"));
    source.Restore({});
    Loop loop{source};
    loop.Step(10);  // creates the slot: changes from now on
    // Five transactions of four inserts each, then an update of two rows and a delete.
    for (int t = 0; t < 5; ++t) {
      pqxx::work tx(f.db);
      for (int i = 1; i <= 4; ++i) {
        const int id = t * 4 + i;
        tx.exec("INSERT INTO " + f.table + " VALUES (" + std::to_string(id) + ", 'n', 1.25, '2020-02-29')");
      }
      tx.commit();
    }
    f.Sql("UPDATE " + f.table + " SET name = 'renamed' WHERE id IN (1, 2)");
    f.Sql("DELETE FROM " + f.table + " WHERE id = 3");
    // Batches of 3 split the transactions; every second batch is aborted.
    loop.Until(12, 3, 2);
    CHECK(loop.aborts > 0);
    committed = loop.committed;
    ops = loop.Ops();
    REQUIRE(ops.size() >= 12);
    // The slot is acknowledged up to the committed position, never past it.
    const auto pos = stages::DecodePgCdcPosition(committed.at("stream"), nullptr);
    REQUIRE(pos);
    CHECK(source.counters().acked >= pos->lsn);
    CHECK(stages::ParseLsn(f.ConfirmedFlush()).value_or(0) <= source.counters().acked);
  }
  // A new process (the old one "crashed" after its last commit) resumes from the position:
  // the split transaction is re-sent by the server and its written part skipped.
  PgCdcSource again(options, obs::Logger("test"));
  again.Restore(committed);
  Loop next{again, committed};
  next.Until(23 - ops.size(), 4);
  next.Drain(10);
  const auto all = Cat(ops, next.Ops());
  CHECK(all == Cat(Seq("c", 1, 20), {"1u", "2u", "3d"}));
  REQUIRE_FALSE(next.items.empty());
  CHECK(next.items.back().record.key == "3");
}

TEST_CASE("tombstones for deletes, TRUNCATE to the DLQ, an update of the key is a delete and a create") {
  Fixture f;
  PgCdcSource source(f.Options(stages::CdcSnapshot::kNever, stages::CdcDeletes::kTombstone), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Step(10);
  f.Sql("INSERT INTO " + f.table + " VALUES (1, 'a', 1, NULL), (2, 'b', 2, NULL)");
  f.Sql("DELETE FROM " + f.table + " WHERE id = 1");
  f.Sql("UPDATE " + f.table + " SET id = 5 WHERE id = 2");
  f.Sql("TRUNCATE " + f.table);
  loop.Until(6, 100);
  loop.Drain(100, 5);
  CHECK(loop.Ops() == std::vector<std::string>{"1c", "2c", "1x", "2x", "5c", "dlq"});
  REQUIRE(loop.items.size() == 6);
  CHECK(loop.items[2].record.key == "1");
  CHECK(loop.items[5].outcome.DlqRule() == "pg_change");
  CHECK_THAT(loop.items[5].outcome.DlqReason(), Catch::Contains("TRUNCATE of public." + f.table));
}

TEST_CASE("a change that does not fit the raw schema goes to the DLQ, the stream goes on") {
  Fixture f;
  auto options = f.Options(stages::CdcSnapshot::kNever);
  options.raw = stages::RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"P","fields":[
      {"name":"id","type":"long"},{"name":"name","type":"long"}]})"), "test");
  PgCdcSource source(options, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Step(10);
  f.Sql("INSERT INTO " + f.table + " VALUES (1, '12', 1, NULL), (2, 'twelve', 2, NULL)");
  loop.Until(2, 100);
  REQUIRE(loop.items.size() == 2);
  CHECK(loop.items[0].outcome.IsEmit());
  REQUIRE(loop.items[1].outcome.IsDeadLettered());
  CHECK_THAT(loop.items[1].outcome.DlqReason(), Catch::Contains("field 'name': expected an integer, got 'twelve'"));
  CHECK(json::parse(loop.items[1].record.original)["values"]["name"] == "twelve");
}

TEST_CASE("a process killed mid-snapshot: the next one snapshots again, nothing is lost, the keys make it exact") {
  Fixture f;
  f.Sql("INSERT INTO " + f.table + " SELECT g, 'p' || g, g, NULL FROM generate_series(1, 9) g");
  auto options = f.Options(stages::CdcSnapshot::kInitial);
  std::map<std::string, std::string> committed;
  std::vector<std::string> first;
  {
    PgCdcSource source(options, obs::Logger("test"));
    source.Restore({});
    Loop loop{source};
    loop.Step(3);
    loop.Step(3);  // 6 of 9 rows committed, then the process "dies"
    committed = loop.committed;
    first = loop.Ops();
    REQUIRE(first == Seq("r", 1, 6));
  }
  // Changes while no process runs: the old slot holds them, but its snapshot is gone.
  f.Sql("UPDATE " + f.table + " SET price = 100 WHERE id = 2");
  f.Sql("INSERT INTO " + f.table + " VALUES (10, 'new', 10, NULL)");
  PgCdcSource again(options, obs::Logger("test"));
  again.Restore(committed);
  Loop next{again, committed};
  next.Until(10, 4);
  f.Sql("DELETE FROM " + f.table + " WHERE id = 1");
  next.Until(11, 4);
  next.Drain(4, 5);
  // A new slot and a whole new snapshot (rows 1-6 written again: same keys, newer values),
  // then the stream.
  // (in the table's physical order: the updated row moved)
  auto ops = next.Ops();
  REQUIRE(ops.size() == 11);
  CHECK(ops.back() == "1d");
  std::set<std::string> reads(ops.begin(), ops.end() - 1);
  const auto want = Seq("r", 1, 10);
  CHECK(reads == std::set<std::string>(want.begin(), want.end()));
  CHECK(again.counters().snapshots == 1);
  for (const auto& it : next.items) {
    if (it.record.key == "2") CHECK(std::get<double>(it.record.Row().Get("price")) == 100);
  }
}

TEST_CASE("a table that does not exist stops the daemon with the server's message") {
  Fixture f;
  auto options = f.Options(stages::CdcSnapshot::kNever);
  options.settings.tables = {f.table + "_missing"};
  PgCdcSource source(options, obs::Logger("test"));
  source.Restore({});
  SourceBatch batch;
  try {
    source.Poll(batch, 10);
    FAIL("no error");
  } catch (const core::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("source products: creating publication " + f.publication));
    CHECK_THAT(e.what(), Catch::Contains("does not exist"));
    CHECK_THAT(e.what(), Catch::Contains("SQLSTATE 42P01"));
  }
}

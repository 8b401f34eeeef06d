// The postgres source plug-in against the real PostgreSQL of the local stack (no Kafka: the
// test plays the source loop, committing or aborting each batch): every row once across
// aborts and restarts, rows committed out of order (a smaller id committing after a larger
// one was read) neither skipped nor repeated, updates read again, equal `by` values paged by
// the key, the type mapping, rows that do not fit to the DLQ, outages and timeouts retryable,
// configuration errors. Each test case uses its own table, dropped at the end.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "../pg/pg_test_env.hpp"
#include "pg_table_source.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"

using namespace sluice;
using nlohmann::json;
using producer::PgTableSource;
using producer::PgTableSourceOptions;
using runtime::PollStatus;
using runtime::SourceBatch;

namespace {

// A table of its own, dropped when the test ends.
struct Table {
  std::string conninfo = pg::testing::RequirePgConninfo();
  std::string name = pg::testing::UniqueName("pgpoll");
  pqxx::connection conn{conninfo};
  explicit Table(const std::string& columns) { Exec("CREATE TABLE " + name + " (" + columns + ")"); }
  ~Table() {
    try {
      Exec("DROP TABLE IF EXISTS " + name);
    } catch (...) {
    }
  }
  void Exec(const std::string& sql) {
    pqxx::work w(conn);
    w.exec(sql);
    w.commit();
  }
};

stages::RecordSpec Raw(const std::string& fields) {
  return stages::RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"R","fields":[)" + fields + "]}"), "test");
}

const char* kIdName = R"({"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null})";

PgTableSourceOptions Options(const Table& t, const std::string& fields = kIdName) {
  PgTableSourceOptions o;
  o.settings.name = "t";
  o.settings.table = t.name;
  o.settings.by = "id";
  o.settings.batch_size = 1000;
  o.settings.poll_interval = core::Duration(10);
  o.raw = Raw(fields);
  o.key_fields = {"id"};
  o.conninfo = t.conninfo;
  return o;
}

// Plays the source loop: polls, commits each batch or aborts it (the source gets its
// committed positions back), collects the committed items.
struct Loop {
  PgTableSource& source;
  std::map<std::string, std::string> committed;
  std::vector<runtime::SourceItem> items;
  int batches = 0;

  PollStatus Step(std::size_t max = 1000, bool commit = true) {
    SourceBatch batch;
    const PollStatus st = source.Poll(batch, max);
    if (st != PollStatus::kBatch) return st;
    ++batches;
    if (!commit) {
      source.Restore(committed);
      return st;
    }
    for (auto& it : batch.items) items.push_back(std::move(it));
    for (auto& [k, v] : batch.positions) committed[k] = v;
    source.Committed();
    return st;
  }
  // Polls until an idle poll (everything readable now is read).
  void DrainNow(std::size_t max = 1000, int abort_every = 0) {
    for (int i = 1; i < 1000; ++i) {
      if (Step(max, abort_every == 0 || i % abort_every != 0) == PollStatus::kIdle) return;
    }
    FAIL("the source never went idle");
  }
  // DrainNow, again until no other session has a write transaction open: tests running in
  // parallel on the same server hold the source's window back (pg_snapshot_xmin) while theirs
  // are open, and a row this test committed is readable only after they end (bounded: 60 s).
  void Drain(std::size_t max = 1000, int abort_every = 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      DrainNow(max, abort_every);
      if (!OtherWritersOpen() || std::chrono::steady_clock::now() > until) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  static bool OtherWritersOpen() {
    pqxx::connection c(pg::testing::RequirePgConninfo());
    pqxx::work w(c);
    return w.exec1("SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
                   "AND pid <> pg_backend_pid()")[0].as<int>() > 0;
  }
  std::vector<std::int64_t> Ids() const {
    std::vector<std::int64_t> ids;
    for (const auto& it : items) {
      if (it.outcome.IsEmit()) ids.push_back(std::get<std::int64_t>(it.record.Row().Get("id")));
    }
    return ids;
  }
};

std::vector<std::int64_t> Range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> v;
  for (auto i = from; i <= to; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("every row once across pages, aborted batches and a restart") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " SELECT g, 'n' || g FROM generate_series(1, 25) g");
  PgTableSource source(Options(t), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain(4, 3);  // pages of 4 rows, every third batch aborted and read again
  CHECK(loop.Ids() == Range(1, 25));
  const auto& first = loop.items.front().record;
  CHECK(first.key == "1");
  CHECK(*first.FindHeader("sluice-source") == "t");
  CHECK(*first.FindHeader("sluice-source-table") == t.name);
  CHECK_FALSE(first.FindHeader("sluice-source-xmin")->empty());
  // More rows, read by a fresh source resuming from the committed position.
  t.Exec("INSERT INTO " + t.name + " SELECT g, 'n' || g FROM generate_series(26, 30) g");
  PgTableSource again(Options(t), obs::Logger("test"));
  again.Restore(loop.committed);
  Loop next{again, loop.committed};
  next.Drain();
  CHECK(next.Ids() == Range(26, 30));
}

TEST_CASE("a restart in the middle of a window resumes after the last committed row") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " SELECT g, NULL FROM generate_series(1, 10) g");
  PgTableSource source(Options(t), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  CHECK(loop.Step(3) == PollStatus::kBatch);
  CHECK(loop.Step(3) == PollStatus::kBatch);
  std::string why;
  const auto mid = stages::DecodePgPosition(loop.committed.at("window"), &why);
  REQUIRE(mid);
  CHECK(mid->resume);
  CHECK(mid->e != 0);
  // A new process: the rest of the window, then the next rows.
  PgTableSource again(Options(t), obs::Logger("test"));
  again.Restore(loop.committed);
  Loop next{again, loop.committed};
  next.Drain(3);
  CHECK(next.Ids() == Range(7, 10));
}

TEST_CASE("a row committed out of order is read once, a naive id watermark skips it") {
  Table t("id bigint PRIMARY KEY, name text");
  PgTableSource source(Options(t), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  // T1 takes id 1 and stays open; T2 inserts id 2 and commits first.
  pqxx::connection c1(t.conninfo);
  pqxx::work t1(c1);
  t1.exec("INSERT INTO " + t.name + " VALUES (1, 'first, committed last')");
  t.Exec("INSERT INTO " + t.name + " VALUES (2, 'second, committed first')");
  // The naive poller sees 2 and moves its watermark past 1.
  std::int64_t naive_last = 0;
  std::vector<std::int64_t> naive;
  auto naive_poll = [&] {
    pqxx::work w(t.conn);
    for (const auto& r : w.exec("SELECT id FROM " + t.name + " WHERE id > " + std::to_string(naive_last) + " ORDER BY id")) {
      naive.push_back(r[0].as<std::int64_t>());
      naive_last = r[0].as<std::int64_t>();
    }
    w.commit();
  };
  naive_poll();
  loop.DrainNow();  // T1 is open: Drain would wait for it
  CHECK(loop.Ids().empty());  // 2's transaction is newer than the open T1: not yet
  t1.commit();
  naive_poll();
  loop.Drain();
  CHECK(naive == std::vector<std::int64_t>{2});  // 1 skipped for ever
  CHECK(loop.Ids() == std::vector<std::int64_t>{1, 2});
  loop.Drain();
  CHECK(loop.Ids().size() == 2);
}

TEST_CASE("an updated row is read again and equal `by` values are paged by the key") {
  Table t("id bigint PRIMARY KEY, name text, grp int NOT NULL");
  t.Exec("INSERT INTO " + t.name + " SELECT g, 'v1', 7 FROM generate_series(1, 9) g");
  PgTableSourceOptions o = Options(t);
  o.settings.by = "grp";  // every row has the same `by` value: pages break ties by id
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain(2, 2);
  CHECK(loop.Ids() == Range(1, 9));
  t.Exec("UPDATE " + t.name + " SET name = 'v2' WHERE id = 4");
  loop.Drain(2);
  REQUIRE(loop.Ids().size() == 10);
  CHECK(loop.Ids().back() == 4);
  CHECK(std::get<std::string>(loop.items.back().record.Row().Get("name")) == "v2");
}

TEST_CASE("types map onto the raw schema and a row that does not fit goes to the DLQ") {
  Table t("id bigint PRIMARY KEY, amount numeric(30,10), price numeric, at timestamptz, day date, "
          "doc jsonb, tags int[], ok boolean, qty text");
  t.Exec("INSERT INTO " + t.name + " VALUES (1, 12345678901234567890.0123456789, 2.5, '2024-03-01 12:34:56.789+02', "
         "'2024-02-29', '{\"a\": [1, 2]}', '{1,2,3}', true, '5'), (2, 1, 1, NULL, NULL, NULL, NULL, NULL, 'five')");
  const std::string fields = R"({"name":"id","type":"long"},{"name":"amount","type":"string"},
    {"name":"price","type":"double"},{"name":"at","type":["null","string"],"default":null},
    {"name":"at_ms","type":["null","long"],"default":null},
    {"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null},
    {"name":"doc","type":["null","string"],"default":null},{"name":"tags","type":["null","string"],"default":null},
    {"name":"ok","type":["null","boolean"],"default":null},{"name":"qty","type":"long"})";
  PgTableSourceOptions o = Options(t, fields);
  o.settings.columns = {{"at_ms", "at"}};
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain();
  REQUIRE(loop.items.size() == 2);
  const stages::Row& row = loop.items[0].record.Row();
  CHECK(std::get<std::string>(row.Get("amount")) == "12345678901234567890.0123456789");
  CHECK(std::get<double>(row.Get("price")) == 2.5);
  CHECK(std::get<std::string>(row.Get("at")) == "2024-03-01T10:34:56.789000Z");
  CHECK(std::get<std::int64_t>(row.Get("at_ms")) == 1709289296789);
  CHECK(std::get<std::int64_t>(row.Get("day")) == stages::DaysFromCivil(2024, 2, 29));
  CHECK(std::get<std::string>(row.Get("doc")) == R"({"a": [1, 2]})");
  CHECK(std::get<std::string>(row.Get("tags")) == "[1,2,3]");
  CHECK(std::get<bool>(row.Get("ok")) == true);
  CHECK(std::get<std::int64_t>(row.Get("qty")) == 5);
  const auto& bad = loop.items[1];
  CHECK_FALSE(bad.outcome.IsEmit());
  CHECK(bad.outcome.DlqRule() == "pg_row");
  CHECK(bad.outcome.DlqReason() == "field 'qty' (column qty): expected an integer, got 'five'");
  CHECK(json::parse(bad.record.original)["qty"] == "five");
  // The DLQ row is moved past: the position is after it.
  loop.Drain();
  CHECK(loop.items.size() == 2);
}

TEST_CASE("outages and timeouts are retryable, configuration problems are not") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " VALUES (1, 'x')");
  SECTION("a server that does not answer") {
    PgTableSourceOptions o = Options(t);
    o.conninfo = "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=2";
    PgTableSource source(o, obs::Logger("test"));
    source.Restore({});
    SourceBatch batch;
    try {
      source.Poll(batch, 10);
      FAIL("no error");
    } catch (const core::InfraError& e) {
      CHECK(e.Retryable());
    }
  }
  SECTION("a statement over statement_timeout") {
    PgTableSourceOptions o = Options(t);
    o.settings.where = "pg_sleep(1) IS NOT NULL";
    o.settings.statement_timeout = core::Duration(100);
    PgTableSource source(o, obs::Logger("test"));
    source.Restore({});
    SourceBatch batch;
    try {
      source.Poll(batch, 10);
      FAIL("no error");
    } catch (const core::InfraError& e) {
      CHECK(e.Retryable());
    }
    // The next poll, after the loop's Restore, works once the query is fast again.
    source.Restore({});
  }
  SECTION("a missing table, a missing column, bad SQL in where") {
    PgTableSourceOptions o = Options(t);
    o.settings.table = t.name + "_missing";
    PgTableSource missing(o, obs::Logger("test"));
    missing.Restore({});
    SourceBatch batch;
    CHECK_THROWS_AS(missing.Poll(batch, 10), core::ConfigError);
    o = Options(t, R"({"name":"id","type":"long"},{"name":"nope","type":"string"})");
    PgTableSource no_column(o, obs::Logger("test"));
    no_column.Restore({});
    CHECK_THROWS_WITH(no_column.Poll(batch, 10), Catch::Contains("no column 'nope'"));
    o = Options(t);
    o.settings.where = "no such thing";
    PgTableSource bad_where(o, obs::Logger("test"));
    bad_where.Restore({});
    CHECK_THROWS_AS(bad_where.Poll(batch, 10), core::ConfigError);
  }
}

TEST_CASE("timestamps committed out of order: by updated_at reads both, a naive timestamp watermark skips one") {
  Table t("id bigint PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now()");
  PgTableSourceOptions o = Options(t, R"({"name":"id","type":"long"},{"name":"updated_at","type":"string"})");
  o.settings.by = "updated_at";
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  // now() is the transaction's start: T1 starts first (the smaller timestamp) and commits last.
  pqxx::connection c1(t.conninfo);
  pqxx::work t1(c1);
  t1.exec("INSERT INTO " + t.name + " (id) VALUES (1)");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  t.Exec("INSERT INTO " + t.name + " (id) VALUES (2)");
  std::string naive_last = "-infinity";
  std::vector<std::int64_t> naive;
  auto naive_poll = [&] {
    pqxx::work w(t.conn);
    for (const auto& r : w.exec_params("SELECT id, updated_at::text FROM " + t.name +
                                       " WHERE updated_at > $1::timestamptz ORDER BY updated_at", naive_last)) {
      naive.push_back(r[0].as<std::int64_t>());
      naive_last = r[1].c_str();
    }
    w.commit();
  };
  naive_poll();
  loop.DrainNow();  // T1 is open: Drain would wait for it
  t1.commit();
  naive_poll();
  loop.Drain();
  CHECK(naive == std::vector<std::int64_t>{2});
  CHECK(loop.Ids() == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("a session the server ends is an outage: retryable, then the source reconnects") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " VALUES (1, 'a')");
  PgTableSourceOptions o = Options(t);
  o.settings.name = t.name;  // application_name sluice-producer-<name>: ours alone
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain();
  CHECK(loop.Ids() == std::vector<std::int64_t>{1});
  t.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sluice-producer-" + t.name + "'");
  t.Exec("INSERT INTO " + t.name + " VALUES (2, 'b')");
  SourceBatch batch;
  bool retryable = false;
  try {
    source.Poll(batch, 10);
  } catch (const core::InfraError& e) {
    retryable = e.Retryable();
  }
  CHECK(retryable);
  source.Restore(loop.committed);  // what the loop does after an aborted batch
  loop.Drain();
  CHECK(loop.Ids() == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("least privileges: a role with SELECT on the table alone reads it") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " VALUES (1, 'a'), (2, 'b')");
  const std::string role = t.name + "_reader";
  // A login role of its own (dropped at the end): CONNECT and USAGE on public come from
  // PUBLIC's defaults; SELECT is granted below, after the first attempt.
  t.Exec("CREATE ROLE " + role + " LOGIN PASSWORD 'pgpoll'");
  struct DropRole {
    Table& t;
    std::string role;
    ~DropRole() {
      try {
        t.Exec("DROP OWNED BY " + role + "; DROP ROLE IF EXISTS " + role);
      } catch (...) {
      }
    }
  } drop{t, role};
  std::string conninfo;
  {
    pqxx::work w(t.conn);
    const pqxx::row r = w.exec1("SELECT inet_server_addr()::text, current_setting('port'), current_database()");
    std::string host = r[0].is_null() ? "" : r[0].c_str();
    if (const auto slash = host.find('/'); slash != std::string::npos) host.resize(slash);
    conninfo = (host.empty() ? std::string() : "host=" + host + " ") + "port=" + r[1].c_str() + " dbname=" + r[2].c_str() +
               " user=" + role + " password=pgpoll";
    w.commit();
  }
  PgTableSourceOptions o = Options(t);
  o.conninfo = conninfo;
  {
    PgTableSource denied(o, obs::Logger("test"));
    denied.Restore({});
    SourceBatch batch;
    CHECK_THROWS_WITH(denied.Poll(batch, 10), Catch::Contains("permission denied"));
  }
  t.Exec("GRANT SELECT ON " + t.name + " TO " + role);
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain();
  CHECK(loop.Ids() == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("rows with a NULL `by` value come first and are paged by the key") {
  Table t("id bigint PRIMARY KEY, name text, seq int");
  t.Exec("INSERT INTO " + t.name + " SELECT g, 'x', CASE WHEN g % 2 = 0 THEN NULL ELSE 100 - g END FROM generate_series(1, 9) g");
  PgTableSourceOptions o = Options(t);
  o.settings.by = "seq";
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain(2, 3);  // pages of 2, every third batch aborted
  // NULL seq first (ids 2, 4, 6, 8 by key), then seq ascending: 91 (9), 93 (7), 95 (5), 97 (3), 99 (1).
  CHECK(loop.Ids() == std::vector<std::int64_t>{2, 4, 6, 8, 9, 7, 5, 3, 1});
}

TEST_CASE("VACUUM FREEZE keeps the raw xmin: frozen rows are read in their window, once") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " VALUES (1, 'a')");
  PgTableSource source(Options(t), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Drain();
  t.Exec("INSERT INTO " + t.name + " VALUES (2, 'b')");
  std::string xmin_before;
  {
    pqxx::work w(t.conn);
    xmin_before = w.exec1("SELECT xmin::text FROM " + t.name + " WHERE id = 2")[0].c_str();
    w.commit();
  }
  // Frozen for real when the table's relfrozenxid has moved past the row's xmin (every older
  // xid in the table is then frozen). A snapshot older than the row held by another session on
  // the shared stack keeps VACUUM from freezing it: try for a while.
  bool frozen = false;
  for (int i = 0; i < 60 && !frozen; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    pqxx::nontransaction n(t.conn);
    n.exec("VACUUM (FREEZE) " + t.name);
    frozen = n.exec1("SELECT age('" + xmin_before + "'::xid) > age(relfrozenxid) FROM pg_class WHERE oid = '" + t.name +
                     "'::regclass")[0].as<bool>();
    CHECK(n.exec1("SELECT xmin::text FROM " + t.name + " WHERE id = 2")[0].c_str() == xmin_before);
  }
  if (!frozen) WARN("another session's old snapshot kept VACUUM FREEZE from freezing the row for 30 s");
  loop.Drain();
  CHECK(loop.Ids() == std::vector<std::int64_t>{1, 2});
  CHECK(*loop.items.back().record.FindHeader("sluice-source-xmin") == xmin_before);
  loop.Drain();
  CHECK(loop.Ids().size() == 2);
}

TEST_CASE("a position ahead of the database's transaction ids (a restored database) reads the table again") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " VALUES (1, 'a'), (2, 'b')");
  stages::PgPosition ahead;
  ahead.h = std::uint64_t{1} << 40;  // far beyond any xid this database has used
  ahead.windows = 1;
  PgTableSource source(Options(t), obs::Logger("test"));
  const std::map<std::string, std::string> committed = {{"window", stages::EncodePgPosition(ahead)}};
  source.Restore(committed);
  Loop loop{source, committed};
  loop.Drain();
  CHECK(loop.Ids() == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("once mode (--once) reads what has ended, then finishes") {
  Table t("id bigint PRIMARY KEY, name text");
  t.Exec("INSERT INTO " + t.name + " SELECT g, 'x' FROM generate_series(1, 5) g");
  PgTableSourceOptions o = Options(t);
  o.once = true;
  PgTableSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  PollStatus st = PollStatus::kBatch;
  for (int i = 0; i < 100 && st != PollStatus::kFinished; ++i) st = loop.Step(2);
  CHECK(st == PollStatus::kFinished);
  CHECK(loop.Ids() == Range(1, 5));
}

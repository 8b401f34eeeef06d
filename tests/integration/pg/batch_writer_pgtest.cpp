// BatchWriter and OffsetStore on the real server: upserts, dedup, bad rows isolated by bisection,
// offsets stored atomically with the rows.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include "pg_test_env.hpp"
#include "sluice/pg/avro_to_pg.hpp"
#include "sluice/pg/batch_writer.hpp"
#include "sluice/pg/connection.hpp"
#include "sluice/pg/offset_store.hpp"

using sluice::pg::BatchWriter;
using sluice::pg::BatchWriterOptions;
using sluice::pg::Connection;
using sluice::pg::ConnectionOptions;
using sluice::pg::OffsetStore;
using sluice::pg::PgError;
using sluice::pg::RowBatch;
using sluice::pg::TableName;
using sluice::pg::testing::RequirePgConninfo;
using sluice::pg::testing::UniqueName;

namespace {

// A table like the sink would create, plus a CHECK and a varchar limit to provoke bad rows.
struct TestTable {
  pqxx::connection& c;
  std::string name = UniqueName("sluice_test_writer");
  std::string quoted = c.quote_name(name);

  explicit TestTable(pqxx::connection& conn) : c(conn) {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE " + quoted +
            " (id bigint PRIMARY KEY, amount numeric(10,2) CHECK (amount >= 0), "
            "state varchar(2), note text, at timestamptz)");
    tx.commit();
  }
  ~TestTable() {
    try {
      pqxx::work tx(c);
      tx.exec("DROP TABLE IF EXISTS " + quoted);
      tx.commit();
    } catch (...) {
    }
  }
  std::map<long, std::string> Notes() {
    pqxx::work tx(c);
    std::map<long, std::string> out;
    for (const auto& row : tx.exec("SELECT id, coalesce(note, '<null>') FROM " + quoted)) {
      out[row[0].as<long>()] = row[1].as<std::string>();
    }
    return out;
  }
  long Count() {
    pqxx::work tx(c);
    return tx.exec1("SELECT count(*) FROM " + quoted)[0].as<long>();
  }
};

BatchWriter Writer(const TestTable& t) {
  return BatchWriter(BatchWriterOptions{TableName{"", t.name}, {"id"}});
}

const std::vector<std::string> kColumns{"id", "amount", "state", "note", "at"};

}  // namespace

TEST_CASE("the last row of a key in a batch wins, and later batches upsert") {
  pqxx::connection c(RequirePgConninfo());
  TestTable t(c);
  BatchWriter writer = Writer(t);

  RowBatch batch(kColumns);
  batch.AddRow({"1", "1.00", "CA", "first of 1", "2024-01-01T00:00:00Z"});
  batch.AddRow({"2", "2.00", "NY", "first of 2", std::nullopt});
  batch.AddRow({"01", "1.50", "CA", "last of 1", std::nullopt});  // same integer key as "1"
  batch.AddRow({"3", "3.00", std::nullopt, "only 3\twith tab\nand newline", std::nullopt});
  batch.AddRow({"2", "2.50", "NY", "last of 2", std::nullopt});
  {
    pqxx::work tx(c);
    const auto result = writer.Write(tx, batch);
    CHECK(result.upserted == 3);
    CHECK(result.rejected.empty());
    CHECK(result.savepoints == 1);  // duplicate keys: straight to the staged upsert
    CHECK(result.path == sluice::pg::WritePath::kStagedUpsert);
    tx.commit();
  }
  CHECK(t.Notes() == std::map<long, std::string>{
                         {1, "last of 1"}, {2, "last of 2"}, {3, "only 3\twith tab\nand newline"}});

  RowBatch second(kColumns);
  second.AddRow({"1", "9.00", "TX", std::nullopt, std::nullopt});
  second.AddRow({"4", "4.00", "WA", "new 4", std::nullopt});
  {
    pqxx::work tx(c);
    const auto result = writer.Write(tx, second);
    CHECK(result.upserted == 2);
    // Distinct keys, but key 1 exists: the direct COPY fails (23505) and the upsert takes over.
    CHECK(result.path == sluice::pg::WritePath::kStagedUpsert);
    CHECK(result.savepoints == 2);
    tx.commit();
  }
  CHECK(t.Notes() == std::map<long, std::string>{
                         {1, "<null>"}, {2, "last of 2"}, {3, "only 3\twith tab\nand newline"},
                         {4, "new 4"}});
  pqxx::work tx(c);
  CHECK(tx.exec1("SELECT amount::text || state FROM " + t.quoted + " WHERE id = 1")[0]
            .as<std::string>() == "9.00TX");
}

TEST_CASE("a batch of new keys is one COPY, keys equal only once typed still collapse") {
  pqxx::connection c(RequirePgConninfo());
  TestTable t(c);
  BatchWriter writer = Writer(t);
  RowBatch fresh(kColumns);
  for (int i = 0; i < 100; ++i) fresh.AddRow({std::to_string(i), "1", "CA", "v1", std::nullopt});
  {
    pqxx::work tx(c);
    const auto result = writer.Write(tx, fresh);
    CHECK(result.path == sluice::pg::WritePath::kDirectCopy);
    CHECK(result.upserted == 100);
    tx.commit();
  }
  RowBatch typed_dup(kColumns);
  typed_dup.AddRow({"1000", "1", "CA", "first", std::nullopt});
  typed_dup.AddRow({"01000", "1", "CA", "last", std::nullopt});  // same bigint key
  {
    pqxx::work tx(c);
    const auto result = writer.Write(tx, typed_dup);
    CHECK(result.path == sluice::pg::WritePath::kStagedUpsert);
    CHECK(result.upserted == 1);
    tx.commit();
  }
  CHECK(t.Count() == 101);
  CHECK(t.Notes().at(1000) == "last");
}

TEST_CASE("2 bad rows among 1000: 998 are written and 2 reported with their SQLSTATE") {
  pqxx::connection c(RequirePgConninfo());
  TestTable t(c);
  BatchWriter writer = Writer(t);

  RowBatch batch(kColumns);
  for (int i = 0; i < 1000; ++i) {
    std::string amount = std::to_string(i) + ".25";
    if (i == 137) amount = "-5";              // CHECK (amount >= 0): 23514
    if (i == 802) amount = "twelve dollars";  // numeric input: 22P02
    batch.AddRow({std::to_string(i), amount, "CA", "row " + std::to_string(i), std::nullopt});
  }
  pqxx::work tx(c);
  const auto result = writer.Write(tx, batch);
  tx.commit();

  REQUIRE(result.rejected.size() == 2);
  CHECK(result.rejected[0].index == 137);
  CHECK(result.rejected[0].sqlstate == "23514");
  CHECK(result.rejected[0].message.find("check") != std::string::npos);
  CHECK(result.rejected[1].index == 802);
  CHECK(result.rejected[1].sqlstate == "22P02");
  CHECK(result.upserted == 998);
  CHECK(result.path == sluice::pg::WritePath::kBisected);
  CHECK(result.savepoints > 2);
  CHECK(t.Count() == 998);
  const auto notes = t.Notes();
  CHECK(notes.count(137) == 0);
  CHECK(notes.count(802) == 0);
  CHECK(notes.at(136) == "row 136");
  CHECK(notes.at(999) == "row 999");
}

TEST_CASE("rows the server cannot even stage, and values too long, are isolated too") {
  pqxx::connection c(RequirePgConninfo());
  TestTable t(c);
  BatchWriter writer = Writer(t);

  RowBatch batch(kColumns);
  batch.AddRow({"1", "1", "CA", "good", std::nullopt});
  batch.AddRow({"2", "1", "CA", std::string_view("bad \xff\xfe utf-8"), std::nullopt});  // 22021 in COPY
  batch.AddRow({"3", "1", "California", "too long for varchar(2)", std::nullopt});      // 22001, not truncated
  batch.AddRow({"4", "1", "CA", "good", "not a time"});                                  // 22007
  batch.AddRow({"5", "1", "CA", "good", "2024-02-30 10:00:00+00"});                      // 22008
  batch.AddRow({"6", "1", "NY", "good", std::nullopt});
  pqxx::work tx(c);
  const auto result = writer.Write(tx, batch);
  tx.commit();
  std::vector<std::pair<std::size_t, std::string>> rejected;
  for (const auto& r : result.rejected) rejected.emplace_back(r.index, r.sqlstate);
  CHECK(rejected == std::vector<std::pair<std::size_t, std::string>>{
                        {1, "22021"}, {2, "22001"}, {3, "22007"}, {4, "22008"}});
  CHECK(t.Notes() == std::map<long, std::string>{{1, "good"}, {6, "good"}});
}

TEST_CASE("when the last row of a key is bad, the key keeps its last good row") {
  pqxx::connection c(RequirePgConninfo());
  TestTable t(c);
  BatchWriter writer = Writer(t);
  RowBatch batch(kColumns);
  batch.AddRow({"7", "1", "CA", "good", std::nullopt});
  batch.AddRow({"7", "-1", "CA", "bad", std::nullopt});
  pqxx::work tx(c);
  const auto result = writer.Write(tx, batch);
  tx.commit();
  REQUIRE(result.rejected.size() == 1);
  CHECK(result.rejected[0].index == 1);
  CHECK(t.Notes() == std::map<long, std::string>{{7, "good"}});
}

TEST_CASE("offsets round-trip through the offset store") {
  pqxx::connection c(RequirePgConninfo());
  const std::string table = UniqueName("sluice_test_offsets");
  OffsetStore store(table);
  const std::string group = UniqueName("sluice-pg-sink-test");
  {
    pqxx::work tx(c);
    store.EnsureTable(tx);
    store.EnsureTable(tx);  // idempotent
    store.Save(tx, group, "loans.enriched", {{0, 10}, {1, 20}, {2, 30}});
    store.Save(tx, group, "other.topic", {{0, 99}});
    tx.commit();
  }
  {
    pqxx::work tx(c);
    CHECK(store.Load(tx, group, "loans.enriched", {0, 1, 2, 3}) ==
          std::map<std::int32_t, std::int64_t>{{0, 10}, {1, 20}, {2, 30}});
    CHECK(store.Load(tx, group, "loans.enriched", {1}) == std::map<std::int32_t, std::int64_t>{{1, 20}});
    CHECK(store.Load(tx, "another-group", "loans.enriched", {0, 1}).empty());
    store.Save(tx, group, "loans.enriched", {{1, 25}, {3, 5}});
    tx.commit();
  }
  pqxx::work tx(c);
  CHECK(store.Load(tx, group, "loans.enriched", {0, 1, 2, 3}) ==
        std::map<std::int32_t, std::int64_t>{{0, 10}, {1, 25}, {2, 30}, {3, 5}});
  CHECK(store.Load(tx, group, "other.topic", {0}) == std::map<std::int32_t, std::int64_t>{{0, 99}});
  CHECK(tx.exec1("SELECT count(*) FROM " + c.quote_name(table) + " WHERE updated_at > now() - interval '1 hour'")[0]
            .as<int>() == 5);
  tx.exec("DROP TABLE " + c.quote_name(table));
  tx.commit();
}

TEST_CASE("rows and offsets commit together or not at all") {
  const std::string conninfo = RequirePgConninfo();
  pqxx::connection c(conninfo);
  TestTable t(c);
  const std::string offsets_table = UniqueName("sluice_test_offsets");
  OffsetStore store(offsets_table);
  const std::string group = UniqueName("sluice-pg-sink-test");
  {
    pqxx::work tx(c);
    store.EnsureTable(tx);
    tx.commit();
  }
  BatchWriter writer = Writer(t);
  RowBatch batch(kColumns);
  for (int i = 0; i < 50; ++i) batch.AddRow({std::to_string(i), "1", "CA", "x", std::nullopt});

  ConnectionOptions options;
  options.conninfo = conninfo;
  options.budget.initial_backoff = std::chrono::milliseconds(10);
  Connection conn(options);

  SECTION("a transaction that fails after writing both stores neither") {
    CHECK_THROWS_AS(conn.Run([&](pqxx::connection& session) {
                      pqxx::work tx(session);
                      writer.Write(tx, batch);
                      store.Save(tx, group, "loans.enriched", {{0, 50}});
                      tx.exec("SELECT * FROM no_such_table_sluice");  // fatal: 42P01
                      tx.commit();
                    }),
                    PgError);
    CHECK(t.Count() == 0);
    pqxx::work tx(c);
    CHECK(store.Load(tx, group, "loans.enriched", {0}).empty());
  }

  SECTION("a session lost before COMMIT is retried from the start and stores both once") {
    int attempts = 0;
    conn.Run([&](pqxx::connection& session) {
      ++attempts;
      pqxx::work tx(session);
      const auto result = writer.Write(tx, batch);
      CHECK(result.upserted == 50);
      store.Save(tx, group, "loans.enriched", {{0, 50}});
      if (attempts == 1) tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");
      tx.commit();
    });
    CHECK(attempts == 2);
    CHECK(t.Count() == 50);
    pqxx::work tx(c);
    CHECK(store.Load(tx, group, "loans.enriched", {0}) == std::map<std::int32_t, std::int64_t>{{0, 50}});
  }

  pqxx::work tx(c);
  tx.exec("DROP TABLE " + c.quote_name(offsets_table));
  tx.commit();
}

TEST_CASE("a composite key is distinct by its cells, not by their concatenation") {
  pqxx::connection c(RequirePgConninfo());
  const std::string name = UniqueName("sluice_test_pair");
  const std::string quoted = c.quote_name(name);
  {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE " + quoted + " (a text, b text, v text, PRIMARY KEY (a, b))");
    tx.commit();
  }
  BatchWriter writer(BatchWriterOptions{TableName{"", name}, {"a", "b"}});
  RowBatch split({"a", "b", "v"});
  split.AddRow({"1", "2", "x"});
  split.AddRow({"12", "", "y"});  // same text as "1" + "2" once joined
  split.AddRow({"", "12", "z"});
  RowBatch repeated({"a", "b", "v"});
  repeated.AddRow({"7", "8", "first"});
  repeated.AddRow({"7", "9", "other"});
  repeated.AddRow({"7", "8", "last"});
  pqxx::work tx(c);
  CHECK(writer.Write(tx, split).path == sluice::pg::WritePath::kDirectCopy);
  const auto result = writer.Write(tx, repeated);
  CHECK(result.path == sluice::pg::WritePath::kStagedUpsert);
  CHECK(result.upserted == 2);
  CHECK(tx.exec1("SELECT v FROM " + quoted + " WHERE a = '7' AND b = '8'")[0].as<std::string>() ==
        "last");
  CHECK(tx.exec1("SELECT count(*) FROM " + quoted)[0].as<long>() == 5);
  tx.exec("DROP TABLE " + quoted);
  tx.commit();
}

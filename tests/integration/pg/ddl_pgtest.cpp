// Tables from Avro schemas on the real server: create, evolve, and what the catalog says.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include "pg_test_env.hpp"
#include "sluice/pg/avro_to_pg.hpp"
#include "sluice/pg/batch_writer.hpp"
#include "sluice/pg/flat_row_text.hpp"

using sluice::pg::AddMissingColumns;
using sluice::pg::EnsureTable;
using sluice::pg::TableFromAvro;
using sluice::pg::TableName;
using sluice::pg::testing::RequirePgConninfo;
using sluice::pg::testing::UniqueName;

namespace {

const char* kV1 = R"({"type":"record","name":"Loan","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"Amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
  {"name":"issued","type":{"type":"int","logicalType":"date"}},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"grade","type":"string"},
  {"name":"uid","type":{"type":"string","logicalType":"uuid"}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"note","type":["null","string"],"default":null}]})";

// v2: adds two fields with defaults, makes grade optional, drops note.
const char* kV2 = R"({"type":"record","name":"Loan","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"Amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
  {"name":"issued","type":{"type":"int","logicalType":"date"}},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"grade","type":["null","string"],"default":null},
  {"name":"uid","type":{"type":"string","logicalType":"uuid"}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"region","type":"string","default":"unknown"},
  {"name":"termMonths","type":"int","default":36}]})";

struct Column {
  std::string type;
  bool not_null;
};

std::map<std::string, Column> Columns(pqxx::connection& c, const std::string& table) {
  pqxx::work tx(c);
  std::map<std::string, Column> out;
  for (const auto& row : tx.exec_params(
           "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
           "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
           c.quote_name(table))) {
    out[row[0].as<std::string>()] = Column{row[1].as<std::string>(), row[2].as<bool>()};
  }
  return out;
}

}  // namespace

TEST_CASE("a table is created from an Avro schema and evolved compatibly") {
  pqxx::connection c(RequirePgConninfo());
  const std::string table = UniqueName("sluice_test_ddl");
  const auto v1 = TableFromAvro(sluice::avro::ParseSchema(kV1), TableName{"", table}, {"loan_id"});

  {
    pqxx::work tx(c);
    const auto changes = EnsureTable(tx, v1);
    CHECK(changes.created);
    tx.commit();
  }
  auto columns = Columns(c, table);
  REQUIRE(columns.size() == 8);
  CHECK(columns["loan_id"].type == "text");
  CHECK(columns["loan_id"].not_null);
  CHECK(columns["Amount"].type == "numeric(12,2)");  // case kept by quoting
  CHECK(columns["issued"].type == "date");
  CHECK(columns["at"].type == "timestamp with time zone");
  CHECK(columns["uid"].type == "uuid");
  CHECK(columns["tags"].type == "jsonb");
  CHECK(columns["grade"].not_null);
  CHECK_FALSE(columns["note"].not_null);
  {
    pqxx::work tx(c);
    const auto pk = tx.exec_params(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
        c.quote_name(table));
    REQUIRE(pk.size() == 1);
    CHECK(pk[0][0].as<std::string>() == "loan_id");
  }

  // Idempotent: the same schema again changes nothing.
  {
    pqxx::work tx(c);
    const auto changes = EnsureTable(tx, v1);
    CHECK_FALSE(changes.created);
    CHECK(changes.added.empty());
    CHECK(changes.relaxed_not_null.empty());
    CHECK(changes.type_mismatches.empty());
    tx.commit();
  }

  // A row written under v1.
  {
    pqxx::work tx(c);
    tx.exec("INSERT INTO " + c.quote_name(table) +
            " VALUES ('L1', 10.5, '2020-01-01', now(), 'A', gen_random_uuid(), '[]', NULL)");
    tx.commit();
  }

  const auto v2 = TableFromAvro(sluice::avro::ParseSchema(kV2), TableName{"", table}, {"loan_id"});
  {
    pqxx::work tx(c);
    const auto changes = EnsureTable(tx, v2);
    CHECK_FALSE(changes.created);
    CHECK(changes.added == std::vector<std::string>{"region", "termMonths"});
    std::vector<std::string> relaxed = changes.relaxed_not_null;
    std::sort(relaxed.begin(), relaxed.end());
    CHECK(relaxed == std::vector<std::string>{"grade"});  // note was nullable already
    tx.commit();
  }
  columns = Columns(c, table);
  CHECK(columns.size() == 10);
  CHECK(columns["region"].type == "text");
  CHECK_FALSE(columns["region"].not_null);  // added columns are always nullable
  CHECK(columns["termMonths"].type == "integer");
  CHECK_FALSE(columns["grade"].not_null);
  CHECK(columns.count("note") == 1);  // never dropped: old rows keep their data

  {
    pqxx::work tx(c);
    // Old rows have NULL in the new columns; new rows can omit removed/optional fields.
    CHECK(tx.exec1("SELECT region IS NULL FROM " + c.quote_name(table))[0].as<bool>());
    tx.exec("INSERT INTO " + c.quote_name(table) +
            " (loan_id, \"Amount\", issued, at, uid, tags, region, \"termMonths\") "
            "VALUES ('L2', 1, '2020-01-02', now(), gen_random_uuid(), '[]', 'west', 60)");
    tx.commit();
  }

  // Re-running AddMissingColumns with the older schema reports nothing to add.
  {
    pqxx::work tx(c);
    const auto changes = AddMissingColumns(tx, v1);
    CHECK(changes.added.empty());
    tx.exec("DROP TABLE " + c.quote_name(table));
    tx.commit();
  }
}

TEST_CASE("a type change is reported, never applied") {
  pqxx::connection c(RequirePgConninfo());
  const std::string table = UniqueName("sluice_test_ddl");
  auto schema = [](const char* type) {
    return sluice::avro::ParseSchema(std::string(R"({"type":"record","name":"R","fields":[
        {"name":"k","type":"long"},{"name":"n","type":")") + type + R"("}]})");
  };
  pqxx::work tx(c);
  EnsureTable(tx, TableFromAvro(schema("int"), TableName{"", table}, {"k"}));
  const auto changes = EnsureTable(tx, TableFromAvro(schema("long"), TableName{"", table}, {"k"}));
  REQUIRE(changes.type_mismatches.size() == 1);
  CHECK(changes.type_mismatches[0] == "n: table has integer, schema maps to bigint");
  CHECK(tx.exec_params1("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = to_regclass($1) AND attname = 'n'",
                        c.quote_name(table))[0]
            .as<std::string>() == "integer");
  // Rolled back: nothing to clean up.
}

TEST_CASE("flat Avro rows land in the table created from their schema, values intact") {
  pqxx::connection c(RequirePgConninfo());
  const std::string table = UniqueName("sluice_test_flat");
  const auto schema = sluice::avro::ParseSchema(R"({"type":"record","name":"R","fields":[
    {"name":"id","type":"long"},
    {"name":"d","type":{"type":"int","logicalType":"date"}},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
    {"name":"t","type":{"type":"long","logicalType":"time-micros"}},
    {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
    {"name":"f","type":"float"},
    {"name":"raw","type":"bytes"},
    {"name":"uid","type":{"type":"string","logicalType":"uuid"}},
    {"name":"period","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
    {"name":"grade","type":{"type":"enum","name":"G","symbols":["A","B"]}},
    {"name":"note","type":["null","string"]}]})");
  const auto spec = TableFromAvro(schema, TableName{"", table}, {"id"});
  auto layout = sluice::avro::FlatLayout::Compile(schema);
  sluice::avro::FlatRow row(layout);
  row.SetLong(0, 7);
  row.SetLong(1, 19000);
  row.SetLong(2, 1'700'000'000'123'456);
  row.SetLong(3, 45'296'000'001);  // 12:34:56.000001
  row.SetString(4, std::string("\xfe\x1d\xc6", 3));
  row.SetDouble(5, 2.5);
  row.SetString(6, std::string("\x00\x01\xff", 3));
  row.SetString(7, "0b8e9a4e-4f1e-4d5c-9a7b-2f0e1c3d4b5a");
  row.SetString(8, std::string("\x01\0\0\0\x02\0\0\0\xe8\x03\0\0", 12));
  row.SetString(9, "B");
  row.SetString(10, "tab\tand \\ backslash");

  sluice::pg::RowBatch batch(sluice::pg::FlatColumns(*layout));
  sluice::pg::AppendFlatRow(batch, row);
  row.SetLong(0, 8);
  row.SetNull(10);
  sluice::pg::AppendFlatRow(batch, row);

  pqxx::work tx(c);
  EnsureTable(tx, spec);
  sluice::pg::BatchWriter writer(sluice::pg::BatchWriterOptions{TableName{"", table}, {"id"}});
  const auto result = writer.Write(tx, batch);
  CHECK(result.rejected.empty());
  CHECK(result.upserted == 2);
  tx.exec("SET LOCAL TIME ZONE 'UTC'");
  const auto r = tx.exec1(
      "SELECT d::text, ts::text, t::text, amount::text, f::text, encode(raw, 'hex'), uid::text, "
      "period::text, grade, note FROM " +
      c.quote_name(table) + " WHERE id = 7");
  CHECK(r[0].as<std::string>() == "2022-01-08");
  CHECK(r[1].as<std::string>() == "2023-11-14 22:13:20.123456+00");
  CHECK(r[2].as<std::string>() == "12:34:56.000001");
  CHECK(r[3].as<std::string>() == "-1234.50");
  CHECK(r[4].as<std::string>() == "2.5");
  CHECK(r[5].as<std::string>() == "0001ff");
  CHECK(r[6].as<std::string>() == "0b8e9a4e-4f1e-4d5c-9a7b-2f0e1c3d4b5a");
  CHECK(r[7].as<std::string>() == "1 mon 2 days 00:00:01");
  CHECK(r[8].as<std::string>() == "B");
  CHECK(r[9].as<std::string>() == "tab\tand \\ backslash");
  CHECK(tx.exec1("SELECT note IS NULL FROM " + c.quote_name(table) + " WHERE id = 8")[0].as<bool>());
  // Rolled back: nothing to clean up.
}

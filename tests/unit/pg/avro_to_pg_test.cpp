#include "sluice/pg/avro_to_pg.hpp"

#include <catch2/catch.hpp>

#include "sluice/core/error.hpp"
#include "sluice/pg/row_batch.hpp"

using sluice::pg::CreateTableSql;
using sluice::pg::RowBatch;
using sluice::pg::TableFromAvro;
using sluice::pg::TableName;

namespace {

const char* kLoan = R"({
  "type": "record", "name": "Loan", "namespace": "sluice.loans",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "flag", "type": "boolean"},
    {"name": "term", "type": "int"},
    {"name": "rate", "type": "float"},
    {"name": "income", "type": "double"},
    {"name": "state", "type": "string"},
    {"name": "raw", "type": "bytes"},
    {"name": "grade", "type": {"type": "enum", "name": "Grade", "symbols": ["A", "B"]}},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
    {"name": "fixed_amount", "type": {"type": "fixed", "name": "F", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},
    {"name": "issued", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "period", "type": {"type": "fixed", "name": "D", "size": 12, "logicalType": "duration"}},
    {"name": "digest", "type": {"type": "fixed", "name": "H", "size": 16}},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "score", "type": ["int", "null"], "default": 1},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "long"}},
    {"name": "addr", "type": {"type": "record", "name": "Addr", "fields": [{"name": "zip", "type": "string"}]}},
    {"name": "either", "type": ["null", "int", "string"]},
    {"name": "MixedCase", "type": "string"}
  ]})";

}  // namespace

TEST_CASE("Avro types map to PostgreSQL column types") {
  const auto spec = TableFromAvro(sluice::avro::ParseSchema(kLoan), TableName{"", "loans"}, {"id"});
  const std::pair<const char*, const char*> expected[] = {
      {"id", "bigint"},
      {"flag", "boolean"},
      {"term", "integer"},
      {"rate", "real"},
      {"income", "double precision"},
      {"state", "text"},
      {"raw", "bytea"},
      {"grade", "text"},
      {"amount", "numeric(12,2)"},
      {"fixed_amount", "numeric(18,4)"},
      {"issued", "date"},
      {"at_ms", "timestamp with time zone"},
      {"at_us", "timestamp with time zone"},
      {"local_ms", "timestamp without time zone"},
      {"local_us", "timestamp without time zone"},
      {"t_ms", "time without time zone"},
      {"t_us", "time without time zone"},
      {"uid", "uuid"},
      {"period", "interval"},
      {"digest", "bytea"},
      {"note", "text"},
      {"score", "integer"},
      {"tags", "jsonb"},
      {"attrs", "jsonb"},
      {"addr", "jsonb"},
      {"either", "jsonb"},
      {"MixedCase", "text"},
  };
  REQUIRE(spec.columns.size() == std::size(expected));
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    INFO(spec.columns[i].name);
    CHECK(spec.columns[i].name == expected[i].first);
    CHECK(spec.columns[i].type == expected[i].second);
  }
  auto nullable = [&](const std::string& name) {
    for (const auto& c : spec.columns) {
      if (c.name == name) return c.nullable;
    }
    FAIL("no column " << name);
    return false;
  };
  CHECK_FALSE(nullable("id"));
  CHECK_FALSE(nullable("state"));
  CHECK(nullable("note"));
  CHECK(nullable("score"));
  CHECK(nullable("either"));
}

TEST_CASE("CREATE TABLE quotes every identifier and keys the configured columns") {
  const auto schema = sluice::avro::ParseSchema(
      R"({"type":"record","name":"R","fields":[
          {"name":"a","type":"long"},{"name":"b","type":["null","string"]},
          {"name":"c","type":"int"}]})");
  const auto spec = TableFromAvro(schema, TableName{"analytics", "my table"}, {"a", "c"});
  const auto sql = CreateTableSql(spec, [](const std::string& id) { return "<" + id + ">"; });
  CHECK(sql ==
        "CREATE TABLE IF NOT EXISTS <analytics>.<my table> (<a> bigint NOT NULL, <b> text, "
        "<c> integer NOT NULL, PRIMARY KEY (<a>, <c>))");
}

TEST_CASE("bad table definitions are configuration errors") {
  const auto schema = sluice::avro::ParseSchema(
      R"({"type":"record","name":"R","fields":[{"name":"a","type":"long"}]})");
  CHECK_THROWS_AS(TableFromAvro(schema, TableName{"", "t"}, {"nope"}), sluice::core::ConfigError);
  CHECK_THROWS_AS(TableFromAvro(schema, TableName{"", "t"}, {}), sluice::core::ConfigError);
  CHECK_THROWS_AS(TableFromAvro(sluice::avro::ParseSchema(R"("string")"), TableName{"", "t"}, {"a"}),
                  sluice::core::ConfigError);
  const std::string long_name(64, 'x');
  const auto wide = sluice::avro::ParseSchema(R"({"type":"record","name":"R","fields":[{"name":")" +
                                              long_name + R"(","type":"long"}]})");
  CHECK_THROWS_AS(TableFromAvro(wide, TableName{"", "t"}, {long_name}), sluice::core::DataError);
}

TEST_CASE("row batches escape COPY text") {
  RowBatch batch({"a", "b"});
  batch.AddRow({"tab\there", std::nullopt});
  batch.AddRow({"back\\slash\nnew\rline", "plain"});
  batch.Add("x");
  batch.Add("");
  batch.EndRow();
  CHECK(batch.size() == 3);
  CHECK(batch.CopyText(0, 1) == "tab\\there\t\\N\n");
  CHECK(batch.CopyText(1, 2) == "back\\\\slash\\nnew\\rline\tplain\n");
  CHECK(batch.CopyText(2, 3) == "x\t\n");
  CHECK(batch.CopyText(0, 3).size() ==
        batch.CopyText(0, 1).size() + batch.CopyText(1, 2).size() + batch.CopyText(2, 3).size());
  CHECK(batch.CopyText(1, 1).empty());

  RowBatch picked({"a", "b"});
  picked.AppendRows(batch, 2, 3);
  picked.AppendRows(batch, 0, 1);
  picked.AddRow({"y", "z"});
  REQUIRE(picked.size() == 3);
  CHECK(picked.CopyText(0, 1) == "x\t\n");
  CHECK(picked.CopyText(1, 2) == "tab\\there\t\\N\n");
  CHECK(picked.CopyText(2, 3) == "y\tz\n");
  batch.Clear();
  CHECK(batch.empty());
}

TEST_CASE("row batches hash key cells as rows are added, the same as from their text") {
  RowBatch tracked({"a", "b", "v"});
  tracked.HashKeys({"a", "b"});
  RowBatch plain({"a", "b", "v"});
  for (RowBatch* batch : {&tracked, &plain}) {
    batch->AddRow({"1", "2", "x"});
    batch->AddRow({"12", "", "x"});
    batch->AddRow({"1", "2", "other value"});
    batch->AddRow({"tab\there", std::nullopt, "y"});
  }
  const auto hashes = tracked.KeyHashesFor({"a", "b"});
  REQUIRE(hashes.size() == 4);
  CHECK(hashes == plain.KeyHashesFor({"a", "b"}));
  CHECK(hashes[0] == hashes[2]);  // same key, other value
  CHECK(hashes[0] != hashes[1]);  // "1","2" is not "12",""
  CHECK(tracked.KeyHashesFor({"v"}) == plain.KeyHashesFor({"v"}));
  CHECK(tracked.KeyHashesFor({"v"})[0] == tracked.KeyHashesFor({"v"})[1]);

  RowBatch picked({"a", "b", "v"});
  picked.HashKeys({"a", "b"});
  picked.AppendRows(tracked, 2, 4);
  CHECK(picked.KeyHashesFor({"a", "b"}) == std::vector<std::uint64_t>{hashes[2], hashes[3]});
  tracked.Clear();
  CHECK(tracked.KeyHashesFor({"a", "b"}).empty());
}

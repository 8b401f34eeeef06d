// SinkColumns: the sink's column set and the mapping of writer rows onto it (no I/O).
#include <catch2/catch.hpp>

#include "pg_sink.hpp"
#include "sluice/avro/flat_row.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/core/error.hpp"

namespace {

using namespace sluice;

const char* kV1 = R"({"type":"record","name":"Loan","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null}]})";
const char* kV2 = R"({"type":"record","name":"Loan","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"region","type":"string","default":"unknown"},
  {"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null}]})";

}  // namespace

TEST_CASE("SinkColumns: the initial columns are the configured schema's fields in order") {
  pgsink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  CHECK(cols.Columns() == std::vector<std::string>{"loan_id", "amount", "grade"});
  CHECK(cols.Initial().key_columns == std::vector<std::string>{"loan_id"});
}

TEST_CASE("SinkColumns: a newer writer's new fields are missing until adopted and then appended") {
  pgsink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  auto v2 = cols.Describe(avro::ParseSchema(kV2));
  CHECK(v2.missing == std::vector<std::string>{"region"});
  CHECK(cols.Columns().size() == 3);  // describing changes nothing
  cols.Adopt(v2);
  CHECK(cols.Columns() == std::vector<std::string>{"loan_id", "amount", "grade", "region"});
  CHECK(cols.Describe(avro::ParseSchema(kV2)).missing.empty());
  CHECK(cols.Describe(avro::ParseSchema(kV1)).missing.empty());
}

TEST_CASE("SinkColumns: cells map by name and columns a writer lacks are NULL") {
  pgsink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  auto v1 = cols.Describe(avro::ParseSchema(kV1));
  auto v2 = cols.Describe(avro::ParseSchema(kV2));
  cols.Adopt(v2);

  avro::FlatRow r2(v2.layout);
  r2.SetString(0, "L-1");
  r2.SetString(1, "West");
  r2.SetDouble(2, 2.5);
  r2.SetNull(3);
  auto c2 = cols.Cells(v2, pgsink::SinkColumns::WriterCells(r2));
  REQUIRE(c2.size() == 4);
  CHECK(c2[0] == "L-1");
  CHECK(c2[1] == "2.5");
  CHECK_FALSE(c2[2].has_value());
  CHECK(c2[3] == "West");

  avro::FlatRow r1(v1.layout);
  r1.SetString(0, "L-2");
  r1.SetDouble(1, 7);
  r1.SetString(2, "A");
  auto c1 = cols.Cells(v1, pgsink::SinkColumns::WriterCells(r1));
  REQUIRE(c1.size() == 4);
  CHECK(c1[0] == "L-2");
  CHECK(c1[2] == "A");
  CHECK_FALSE(c1[3].has_value());  // v1 has no region
}

TEST_CASE("SinkColumns: without adoption (add_columns off) extra fields are left out") {
  pgsink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  auto v2 = cols.Describe(avro::ParseSchema(kV2));
  avro::FlatRow r2(v2.layout);
  r2.SetString(0, "L-1");
  r2.SetString(1, "West");
  r2.SetDouble(2, 1);
  r2.SetNull(3);
  auto c = cols.Cells(v2, pgsink::SinkColumns::WriterCells(r2));
  CHECK(c.size() == 3);
  CHECK(c[0] == "L-1");
}

TEST_CASE("SinkColumns: a writer schema without the key field cannot be a row") {
  pgsink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  CHECK_THROWS_AS(cols.Describe(avro::ParseSchema(
                      R"({"type":"record","name":"X","fields":[{"name":"a","type":"int"}]})")),
                  core::DataError);
  CHECK_THROWS_AS(cols.Describe(avro::ParseSchema(R"({"type":"record","name":"N","fields":[
      {"name":"loan_id","type":"string"},
      {"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"int"}]}}]})")),
                  core::DataError);
}

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
  pg_sink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  CHECK(cols.Columns() == std::vector<std::string>{"loan_id", "amount", "grade"});
  CHECK(cols.Initial().key_columns == std::vector<std::string>{"loan_id"});
}

TEST_CASE("SinkColumns: a newer writer's new fields are missing until adopted and then appended") {
  pg_sink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  auto v2 = cols.Describe(avro::ParseSchema(kV2));
  CHECK(v2.missing == std::vector<std::string>{"region"});
  CHECK(cols.Columns().size() == 3);  // describing changes nothing
  cols.Adopt(v2);
  CHECK(cols.Columns() == std::vector<std::string>{"loan_id", "amount", "grade", "region"});
  CHECK(cols.Describe(avro::ParseSchema(kV2)).missing.empty());
  CHECK(cols.Describe(avro::ParseSchema(kV1)).missing.empty());
}

TEST_CASE("SinkColumns: fields map to columns by name and columns a writer lacks are NULL") {
  using Map = std::vector<std::optional<std::size_t>>;
  pg_sink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  auto v1 = cols.Describe(avro::ParseSchema(kV1));
  auto v2 = cols.Describe(avro::ParseSchema(kV2));
  CHECK(cols.FieldsOfColumns(v1) == Map{0, 1, 2});
  CHECK(cols.FieldsOfColumns(v2) == Map{0, 2, 3});  // region is not a column yet
  cols.Adopt(v2);
  CHECK(cols.FieldsOfColumns(v2) == Map{0, 2, 3, 1});
  CHECK(cols.FieldsOfColumns(v1) == Map{0, 1, 2, std::nullopt});  // v1 has no region
}

TEST_CASE("SinkColumns: a writer schema without the key field cannot be a row") {
  pg_sink::SinkColumns cols({"public", "loans"}, {"loan_id"}, avro::ParseSchema(kV1));
  CHECK_THROWS_AS(cols.Describe(avro::ParseSchema(
                      R"({"type":"record","name":"X","fields":[{"name":"a","type":"int"}]})")),
                  core::DataError);
  CHECK_THROWS_AS(cols.Describe(avro::ParseSchema(R"({"type":"record","name":"N","fields":[
      {"name":"loan_id","type":"string"},
      {"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"int"}]}}]})")),
                  core::DataError);
}

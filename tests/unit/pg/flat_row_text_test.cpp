#include "sluice/pg/flat_row_text.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using sluice::pg::AppendFlatRow;
using sluice::pg::CellText;
using sluice::pg::FlatColumns;
using sluice::pg::RowBatch;

namespace {

const char* kSchema = R"({"type":"record","name":"R","fields":[
  {"name":"d","type":{"type":"int","logicalType":"date"}},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"lts","type":{"type":"long","logicalType":"local-timestamp-micros"}},
  {"name":"t","type":{"type":"int","logicalType":"time-millis"}},
  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
  {"name":"f","type":"float"},
  {"name":"x","type":"double"},
  {"name":"raw","type":"bytes"},
  {"name":"period","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
  {"name":"b","type":"boolean"},
  {"name":"n","type":"long"},
  {"name":"s","type":["null","string"]}]})";

std::string Text(const sluice::avro::FlatRow& row, std::size_t i) {
  auto text = CellText(row, i);
  REQUIRE(text.has_value());
  return *text;
}

}  // namespace

TEST_CASE("flat cells become PostgreSQL input text") {
  auto layout = sluice::avro::FlatLayout::Compile(sluice::avro::ParseSchema(kSchema));
  sluice::avro::FlatRow row(layout);
  row.SetLong(0, 19000);
  row.SetLong(1, 1'700'000'000'123);
  row.SetLong(2, -1);
  row.SetLong(3, 3'723'004);
  row.SetString(4, std::string("\x01\xe2\x3a", 3));  // 123450
  row.SetDouble(5, static_cast<double>(0.1f));
  row.SetDouble(6, std::numeric_limits<double>::quiet_NaN());
  row.SetString(7, std::string("\x01\xff", 2));
  row.SetString(8, std::string("\x01\0\0\0\x02\0\0\0\x03\0\0\0", 12));
  row.SetBool(9, true);
  row.SetLong(10, -42);
  row.SetNull(11);

  CHECK(Text(row, 0) == "2022-01-08");
  CHECK(Text(row, 1) == "2023-11-14 22:13:20.123000+00");
  CHECK(Text(row, 2) == "1969-12-31 23:59:59.999999");
  CHECK(Text(row, 3) == "01:02:03.004000");
  CHECK(Text(row, 4) == "1234.50");
  CHECK(Text(row, 5) == "0.1");
  CHECK(Text(row, 6) == "NaN");
  CHECK(Text(row, 7) == "\\x01ff");
  CHECK(Text(row, 8) == "1 months 2 days 3 milliseconds");
  CHECK(Text(row, 9) == "true");
  CHECK(Text(row, 10) == "-42");
  CHECK_FALSE(CellText(row, 11).has_value());

  row.SetString(4, std::string("\xfe\x1d\xc6", 3));  // -123450
  CHECK(Text(row, 4) == "-1234.50");
  row.SetString(4, std::string("\xff", 1));  // -1
  CHECK(Text(row, 4) == "-0.01");
  row.SetString(4, "");
  CHECK(Text(row, 4) == "0.00");
  row.SetLong(0, -719162);
  CHECK(Text(row, 0) == "0001-01-01");
  row.SetLong(0, -719163);
  CHECK(Text(row, 0) == "0001-12-31 BC");
  row.SetDouble(6, -std::numeric_limits<double>::infinity());
  CHECK(Text(row, 6) == "-Infinity");

  RowBatch batch(FlatColumns(*layout));
  AppendFlatRow(batch, row);
  CHECK(batch.size() == 1);
  CHECK(batch.columns().front() == "d");
  // The batch's fast paths (strings, integers, finite doubles) write what CellText says.
  RowBatch expected(FlatColumns(*layout));
  std::vector<std::optional<std::string>> cells;
  for (std::size_t i = 0; i < row.size(); ++i) cells.push_back(CellText(row, i));
  expected.AddRow(cells);
  CHECK(batch.CopyText(0, 1) == expected.CopyText(0, 1));
}

TEST_CASE("a flat row lands in another batch's columns through a field mapping") {
  auto layout = sluice::avro::FlatLayout::Compile(sluice::avro::ParseSchema(R"({"type":"record",
    "name":"R","fields":[{"name":"id","type":"long"},{"name":"x","type":"double"},
    {"name":"s","type":"string"}]})"));
  sluice::avro::FlatRow row(layout);
  row.SetLong(0, 7);
  row.SetDouble(1, 2.5);
  row.SetString(2, "a\tb");
  RowBatch batch({"s", "missing", "id", "x"});
  AppendFlatRow(batch, row, {2, std::nullopt, 0, 1});
  CHECK(batch.CopyText(0, 1) == "a\\tb\t\\N\t7\t2.5\n");
  row.SetDouble(1, 1e300);
  row.SetLong(0, std::numeric_limits<std::int64_t>::min());
  AppendFlatRow(batch, row, {std::nullopt, std::nullopt, 0, 1});
  CHECK(batch.CopyText(1, 2) == "\\N\t\\N\t-9223372036854775808\t1e+300\n");
}

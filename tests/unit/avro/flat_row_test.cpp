// Flat fast path: eligibility, decode into cells, encode from cells, agreement with the
// generic codec, buffer reuse and malformed input.
#include <catch2/catch.hpp>

#include "sluice/avro/flat_row.hpp"

using namespace sluice::avro;

namespace {

const char* kLoan = R"({"type":"record","name":"Loan","fields":[
  {"name":"id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"rate","type":["null","float"]},
  {"name":"term","type":"int"},
  {"name":"active","type":"boolean"},
  {"name":"opened","type":{"type":"int","logicalType":"date"}},
  {"name":"updated","type":[{"type":"long","logicalType":"timestamp-millis"},"null"]},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["OPEN","CLOSED"]}},
  {"name":"hash","type":{"type":"fixed","name":"H","size":4}},
  {"name":"blob","type":["null","bytes"]},
  {"name":"nothing","type":"null"}
]})";

}  // namespace

TEST_CASE("eligibility", "[avro][flat]") {
  CHECK_FALSE(FlatLayout::WhyNotFlat(ParseSchema(kLoan)).has_value());
  CHECK(FlatLayout::WhyNotFlat(ParseSchema("\"int\"")).value() == "the schema is not a record");
  auto nested = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"int"}}]})");
  CHECK_THAT(FlatLayout::WhyNotFlat(nested).value(), Catch::Contains("field a"));
  auto wide_union = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"u","type":["null","int","string"]}]})");
  CHECK(FlatLayout::WhyNotFlat(wide_union).has_value());
  CHECK_THROWS_AS(FlatLayout::Compile(wide_union), sluice::core::DataError);
}

TEST_CASE("flat decode agrees with the generic codec and encode round-trips", "[avro][flat]") {
  Schema s = ParseSchema(kLoan);
  Datum d = Record{{
      std::string("L-1"), 1234.5, Union(1, 0.25f), std::int32_t{360}, true, std::int32_t{19000},
      Union(0, std::int64_t{1700000000123}), EnumValue{1}, Fixed{"abcd"}, Union(0, Null{}), Null{},
  }};
  std::string bytes;
  Encode(s, d, bytes);

  auto layout = FlatLayout::Compile(s);
  REQUIRE(layout->size() == 11);
  CHECK(layout->FieldIndex("status") == 7u);
  CHECK(layout->fields()[6].nullable);
  CHECK(layout->fields()[6].null_branch == 1);
  CHECK(layout->fields()[6].logical == LogicalType::kTimestampMillis);

  FlatRow row;
  DecodeFlat(layout, bytes, row);
  CHECK(row.GetString(0) == "L-1");
  CHECK(row.GetDouble(1) == 1234.5);
  CHECK(row.kind(2) == CellKind::kDouble);
  CHECK(row.GetDouble(2) == 0.25);
  CHECK(row.GetLong(3) == 360);
  CHECK(row.GetBool(4));
  CHECK(row.GetLong(5) == 19000);
  CHECK(row.GetLong(6) == 1700000000123);
  CHECK(row.GetString(7) == "CLOSED");
  CHECK(row.GetString(8) == "abcd");
  CHECK(row.is_null(9));
  CHECK(row.is_null(10));

  std::string again;
  EncodeFlat(row, again);
  CHECK(again == bytes);

  // Change some cells and check the generic decoder sees them.
  row.SetNull(2);
  row.SetNull(6);
  row.SetString(9, std::string("\x00\x01", 2));
  row.SetString(7, "OPEN");
  row.SetLong(1, 7);  // a double field accepts an integer cell
  std::string changed;
  EncodeFlat(row, changed);
  Datum back = Decode(s, changed);
  const auto& f = back.as<Record>().fields;
  CHECK(f[1] == Datum(7.0));
  CHECK(f[2] == Datum(Union(0, Null{})));
  CHECK(f[6] == Datum(Union(1, Null{})));
  CHECK(f[7] == Datum(EnumValue{0}));
  CHECK(f[9] == Datum(Union(1, Bytes{std::string("\x00\x01", 2)})));
}

TEST_CASE("the schema overload caches the layout in the row and reuses buffers", "[avro][flat]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"s","type":"string"},{"name":"n","type":["null","long"]}]})");
  std::string a, b;
  Encode(s, Record{{std::string("first value"), Union(1, std::int64_t{1})}}, a);
  Encode(s, Record{{std::string("2nd"), Union(0, Null{})}}, b);
  FlatRow row;
  DecodeFlat(s, a, row);
  const FlatLayout* layout = row.layout();
  CHECK(row.GetString(0) == "first value");
  CHECK(row.GetLong(1) == 1);
  DecodeFlat(s, b, row);
  CHECK(row.layout() == layout);
  CHECK(row.GetString(0) == "2nd");
  CHECK(row.is_null(1));
  // Another schema rebinds the row.
  Schema other = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"x","type":"int"}]})");
  std::string c;
  Encode(other, Record{{std::int32_t{-3}}}, c);
  DecodeFlat(other, c, row);
  CHECK(row.size() == 1);
  CHECK(row.GetLong(0) == -3);
}

TEST_CASE("flat encode refuses cells that do not fit", "[avro][flat]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","fields":[
    {"name":"i","type":"int"},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},
    {"name":"f","type":{"type":"fixed","name":"F","size":2}}]})");
  FlatRow row(FlatLayout::Compile(s));
  row.SetLong(0, 1);
  row.SetString(1, "A");
  row.SetString(2, "ab");
  std::string out;
  CHECK_NOTHROW(EncodeFlat(row, out));
  row.SetLong(0, 1LL << 40);
  CHECK_THROWS_AS(EncodeFlat(row, out), EncodeError);
  row.SetNull(0);
  CHECK_THROWS_AS(EncodeFlat(row, out), EncodeError);
  row.SetDouble(0, 1.0);
  CHECK_THROWS_AS(EncodeFlat(row, out), EncodeError);
  row.SetLong(0, 1);
  row.SetString(1, "Z");
  CHECK_THROWS_AS(EncodeFlat(row, out), EncodeError);
  row.SetString(1, "A");
  row.SetString(2, "abc");
  CHECK_THROWS_AS(EncodeFlat(row, out), EncodeError);
}

TEST_CASE("flat decode rejects malformed bytes", "[avro][flat]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"s","type":"string"},{"name":"n","type":["null","long"]},{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]})");
  FlatRow row;
  auto fails = [&](const std::string& bytes) {
    try {
      DecodeFlat(s, bytes, row);
    } catch (const DecodeError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(fails(std::string("\x06" "ab", 3)), Catch::Contains("exceeds"));
  CHECK_THAT(fails(std::string("\x02" "a" "\x04", 3)), Catch::Contains("union branch 2"));
  CHECK_THAT(fails(std::string("\x02" "a" "\x00" "\x02", 4)), Catch::Contains("enum index 1"));
  CHECK_THAT(fails(std::string("\x02" "a" "\x00" "\x00" "\x00", 5)), Catch::Contains("trailing"));
  CHECK_THAT(fails(std::string("\x02" "a" "\x02", 3)), Catch::Contains("truncated"));
  CHECK_THAT(fails(std::string("\x02" "a" "\x00" "\x00", 4)), Catch::Contains("no error"));
}

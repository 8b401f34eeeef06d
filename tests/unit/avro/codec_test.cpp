// Binary codec: the specification's byte examples, round trips of every type, and
// malformed input rejected with an offset (never a crash or a huge allocation).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "sluice/avro/codec.hpp"

using namespace sluice::avro;

namespace {

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string Bin(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::string EncodeToString(const Schema& s, const Datum& d) {
  std::string out;
  Encode(s, d, out);
  return out;
}

DecodeError DecodeFailure(const Schema& s, const std::string& bytes, const DecodeLimits& limits = {}) {
  try {
    Decode(s, bytes, limits);
  } catch (const DecodeError& e) {
    return e;
  }
  FAIL("decoded but should not: " << Hex(bytes));
  throw;
}

}  // namespace

TEST_CASE("zig-zag varints match the specification's table", "[avro][codec]") {
  // Avro specification, "Binary Encoding": value -> hex.
  const std::pair<std::int64_t, std::string> table[] = {
      {0, "00"}, {-1, "01"}, {1, "02"}, {-2, "03"}, {2, "04"}, {-64, "7f"}, {64, "80 01"},
  };
  Schema s = ParseSchema("\"long\"");
  for (const auto& [value, hex] : table) {
    CHECK(Hex(EncodeToString(s, Datum(value))) == hex);
    CHECK(Decode(s, EncodeToString(s, Datum(value))).as<std::int64_t>() == value);
  }
  CHECK(Hex(EncodeToString(s, Datum(std::numeric_limits<std::int64_t>::max()))) ==
        "fe ff ff ff ff ff ff ff ff 01");
  CHECK(Hex(EncodeToString(s, Datum(std::numeric_limits<std::int64_t>::min()))) ==
        "ff ff ff ff ff ff ff ff ff 01");
  Schema i = ParseSchema("\"int\"");
  CHECK(Hex(EncodeToString(i, Datum(std::numeric_limits<std::int32_t>::min()))) == "ff ff ff ff 0f");
  CHECK(Decode(i, Bin({0xff, 0xff, 0xff, 0xff, 0x0f})).as<std::int32_t>() == std::numeric_limits<std::int32_t>::min());
}

TEST_CASE("the specification's encoding examples", "[avro][codec]") {
  CHECK(Hex(EncodeToString(ParseSchema("\"string\""), Datum(std::string("foo")))) == "06 66 6f 6f");
  Schema rec = ParseSchema(R"({"type":"record","name":"test","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]})");
  CHECK(Hex(EncodeToString(rec, Record{{Datum(std::int64_t{27}), Datum(std::string("foo"))}})) == "36 06 66 6f 6f");
  Schema arr = ParseSchema(R"({"type":"array","items":"long"})");
  CHECK(Hex(EncodeToString(arr, Array{{Datum(std::int64_t{3}), Datum(std::int64_t{27})}})) == "04 06 36 00");
  Schema un = ParseSchema(R"(["null","string"])");
  CHECK(Hex(EncodeToString(un, Union(0, Null{}))) == "00");
  CHECK(Hex(EncodeToString(un, Union(1, std::string("a")))) == "02 02 61");
  CHECK(Hex(EncodeToString(ParseSchema("\"boolean\""), Datum(true))) == "01");
  CHECK(Hex(EncodeToString(ParseSchema("\"float\""), Datum(1.0f))) == "00 00 80 3f");
  CHECK(Hex(EncodeToString(ParseSchema("\"double\""), Datum(1.0))) == "00 00 00 00 00 00 f0 3f");
}

TEST_CASE("every type round-trips", "[avro][codec]") {
  Schema s = ParseSchema(R"({"type":"record","name":"All","namespace":"t","fields":[
    {"name":"n","type":"null"},
    {"name":"b","type":"boolean"},
    {"name":"i","type":"int"},
    {"name":"l","type":"long"},
    {"name":"f","type":"float"},
    {"name":"d","type":"double"},
    {"name":"by","type":"bytes"},
    {"name":"s","type":"string"},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
    {"name":"fx","type":{"type":"fixed","name":"F","size":3}},
    {"name":"a","type":{"type":"array","items":{"type":"map","values":"int"}}},
    {"name":"m","type":{"type":"map","values":["null","E"]}},
    {"name":"u","type":["null","string","F","All"]},
    {"name":"date","type":{"type":"int","logicalType":"date"}},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
    {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
    {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
    {"name":"id","type":{"type":"string","logicalType":"uuid"}}
  ]})");
  auto make = [](Datum nested) {
    return Record{{
        Null{}, true, std::int32_t{-123456}, std::int64_t{-9000000000LL}, 3.5f, -0.125,
        Bytes{std::string("\x00\xff\x10", 3)}, std::string("héllo"), EnumValue{2},
        Fixed{"xyz"},
        Array{{Map{{{"k1", std::int32_t{1}}, {"k2", std::int32_t{-2}}}}, Map{}}},
        Map{{{"a", Union(1, EnumValue{0})}, {"b", Union(0, Null{})}}},
        Union(3, std::move(nested)),
        std::int32_t{19000}, std::int64_t{1700000000000000LL}, Bytes{std::string("\x30\x39", 2)},
        Fixed{std::string(12, '\x01')}, std::string("123e4567-e89b-12d3-a456-426614174000"),
    }};
  };
  Record inner = make(Datum(Null{}));
  // The inner "u" must be a valid branch, not a bare Null: use branch 1 (string).
  inner.fields[12] = Union(1, std::string("leaf"));
  Datum outer = make(Datum(inner));
  std::string bytes;
  Encode(s, outer, bytes);
  Datum back = Decode(s, bytes);
  CHECK(back == outer);
  // Skipping consumes exactly the same bytes.
  BinaryReader r(bytes);
  SkipValue(s.root(), r);
  CHECK(r.at_end());
}

TEST_CASE("NaN and infinities survive", "[avro][codec]") {
  Schema d = ParseSchema("\"double\"");
  CHECK(std::isnan(Decode(d, EncodeToString(d, Datum(std::nan("")))).as<double>()));
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(Decode(d, EncodeToString(d, Datum(-inf))).as<double>() == -inf);
}

TEST_CASE("negative block counts carry a byte size and decode like positive ones", "[avro][codec]") {
  Schema arr = ParseSchema(R"({"type":"array","items":"long"})");
  // Block of -2 items, 2 bytes long, then a block of 1 item, then the end.
  Datum d = Decode(arr, Bin({0x03, 0x04, 0x06, 0x36, 0x02, 0x08, 0x00}));
  REQUIRE(d.as<Array>().items.size() == 3);
  CHECK(d.as<Array>().items[2].as<std::int64_t>() == 4);
  Schema map = ParseSchema(R"({"type":"map","values":"int"})");
  Datum m = Decode(map, Bin({0x01, 0x06, 0x02, 'k', 0x02, 0x00}));
  REQUIRE(m.as<Map>().entries.size() == 1);
  CHECK(m.as<Map>().entries[0].first == "k");
  // Skipping works through negative blocks too.
  const std::string skip_bytes = Bin({0x03, 0x04, 0x06, 0x36, 0x00});  // outlives the reader
  BinaryReader r(skip_bytes);
  SkipValue(arr.root(), r);
  CHECK(r.at_end());
}

TEST_CASE("malformed bytes are rejected with an offset", "[avro][codec]") {
  Schema str = ParseSchema("\"string\"");
  Schema lng = ParseSchema("\"long\"");
  Schema in = ParseSchema("\"int\"");
  Schema arr = ParseSchema(R"({"type":"array","items":"long"})");
  Schema nulls = ParseSchema(R"({"type":"array","items":"null"})");
  Schema en = ParseSchema(R"({"type":"enum","name":"E","symbols":["A","B"]})");
  Schema un = ParseSchema(R"(["null","int"])");
  Schema fx = ParseSchema(R"({"type":"fixed","name":"F","size":4})");
  Schema rec = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]})");

  SECTION("empty and truncated input") {
    CHECK(DecodeFailure(lng, "").offset() == 0);
    CHECK_THAT(DecodeFailure(lng, Bin({0x80, 0x80})).what(), Catch::Contains("truncated varint"));
    CHECK_THAT(DecodeFailure(str, Bin({0x06, 'f', 'o'})).what(), Catch::Contains("exceeds"));
    CHECK(DecodeFailure(rec, Bin({0x36, 0x06, 'f'})).offset() == 1);
    CHECK_THAT(DecodeFailure(fx, "abc").what(), Catch::Contains("truncated fixed"));
    CHECK_THAT(DecodeFailure(ParseSchema("\"double\""), "1234567").what(), Catch::Contains("truncated double"));
  }
  SECTION("huge and negative lengths") {
    // 2^62 bytes claimed by a 9-byte input.
    CHECK_THAT(DecodeFailure(str, Bin({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})).what(),
               Catch::Contains("exceeds"));
    CHECK_THAT(DecodeFailure(str, Bin({0x01})).what(), Catch::Contains("negative length"));
    DecodeLimits small;
    small.max_bytes = 2;
    CHECK_THAT(DecodeFailure(str, Bin({0x06, 'f', 'o', 'o'}), small).what(), Catch::Contains("limit"));
  }
  SECTION("varint overflow") {
    CHECK_THAT(DecodeFailure(lng, Bin({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})).what(),
               Catch::Contains("overflow"));
    CHECK_THAT(DecodeFailure(lng, Bin({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})).what(),
               Catch::Contains("too long"));
    CHECK_THAT(DecodeFailure(in, Bin({0xff, 0xff, 0xff, 0xff, 0x1f})).what(), Catch::Contains("overflow"));
    CHECK_THAT(DecodeFailure(in, Bin({0xff, 0xff, 0xff, 0xff, 0xff, 0x01})).what(), Catch::Contains("too long"));
  }
  SECTION("counts that cannot fit the bytes left") {
    // 1,000,000 longs claimed in 4 bytes.
    CHECK_THAT(DecodeFailure(arr, Bin({0x80, 0x89, 0x7a, 0x00})).what(), Catch::Contains("exceeds the bytes left"));
    // Negative count with a block size larger than the input.
    CHECK_THAT(DecodeFailure(arr, Bin({0x03, 0x7e, 0x02})).what(), Catch::Contains("block size"));
    // Negative count whose items cannot fit its own block size.
    CHECK_THAT(DecodeFailure(arr, Bin({0x05, 0x02, 0x02, 0x02, 0x02, 0x00})).what(), Catch::Contains("block size"));
    // INT64_MIN as a count.
    CHECK_THAT(DecodeFailure(arr, Bin({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})).what(),
               Catch::Contains("invalid block count"));
  }
  SECTION("zero-byte items are capped by the collection limits") {
    // 2^40 nulls claimed in 7 bytes: nothing to check against the bytes, so the cap applies.
    CHECK_THAT(DecodeFailure(nulls, Bin({0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x00})).what(),
               Catch::Contains("limit"));
    DecodeLimits limits;
    limits.max_collection = 10;
    CHECK(Decode(nulls, Bin({0x14, 0x00}), limits).as<Array>().items.size() == 10);
    CHECK_THAT(DecodeFailure(nulls, Bin({0x14, 0x02, 0x00}), limits).what(), Catch::Contains("limit"));
    limits.max_collection = 100;
    limits.max_total_items = 15;
    Schema nested = ParseSchema(R"({"type":"array","items":{"type":"array","items":"null"}})");
    CHECK_THAT(DecodeFailure(nested, Bin({0x04, 0x14, 0x00, 0x14, 0x00, 0x00}), limits).what(),
               Catch::Contains("limit"));
  }
  SECTION("indexes out of range") {
    CHECK_THAT(DecodeFailure(en, Bin({0x04})).what(), Catch::Contains("enum index 2"));
    CHECK_THAT(DecodeFailure(en, Bin({0x01})).what(), Catch::Contains("enum index -1"));
    CHECK_THAT(DecodeFailure(un, Bin({0x04, 0x00})).what(), Catch::Contains("union branch 2"));
    CHECK_THAT(DecodeFailure(un, Bin({0x01})).what(), Catch::Contains("union branch -1"));
    CHECK_THAT(DecodeFailure(ParseSchema("\"boolean\""), Bin({0x02})).what(), Catch::Contains("boolean"));
  }
  SECTION("trailing bytes") {
    DecodeError e = DecodeFailure(lng, Bin({0x02, 0x02}));
    CHECK(e.offset() == 1);
    CHECK_THAT(e.what(), Catch::Contains("trailing"));
  }
}

TEST_CASE("nesting depth is capped", "[avro][codec]") {
  Schema list = ParseSchema(R"({"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]})");
  // 40 links then null: fine. 1000 links: rejected by depth, not by the stack.
  std::string ok(40, '\x02');
  ok.push_back('\x00');
  CHECK_NOTHROW(Decode(list, ok));
  std::string deep(1000, '\x02');
  deep.push_back('\x00');
  CHECK_THAT(DecodeFailure(list, deep).what(), Catch::Contains("nesting deeper"));
  DecodeLimits limits;
  limits.max_depth = 5;
  CHECK_THROWS_AS(Decode(list, ok, limits), DecodeError);
  BinaryReader r(deep, limits);
  CHECK_THROWS_AS(SkipValue(list.root(), r), DecodeError);
}

TEST_CASE("datums that do not match the schema are refused by the encoder", "[avro][codec]") {
  std::string out;
  CHECK_THROWS_AS(Encode(ParseSchema("\"long\""), Datum(std::int32_t{1}), out), EncodeError);
  CHECK_THROWS_AS(Encode(ParseSchema("\"string\""), Datum(Bytes{"x"}), out), EncodeError);
  CHECK_THROWS_AS(Encode(ParseSchema(R"({"type":"fixed","name":"F","size":2})"), Datum(Fixed{"abc"}), out), EncodeError);
  CHECK_THROWS_AS(Encode(ParseSchema(R"({"type":"enum","name":"E","symbols":["A"]})"), Datum(EnumValue{1}), out), EncodeError);
  CHECK_THROWS_AS(Encode(ParseSchema(R"(["null","int"])"), Datum(Union(2, Null{})), out), EncodeError);
  CHECK_THROWS_AS(Encode(ParseSchema(R"(["null","int"])"), Datum(Null{}), out), EncodeError);
  CHECK_THROWS_AS(Encode(ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})"), Datum(Record{}), out), EncodeError);
}

// Avro JSON encoding and schema defaults turned into datums.
#include <catch2/catch.hpp>

#include "sluice/avro/codec.hpp"

using namespace sluice::avro;
using nlohmann::json;

TEST_CASE("JSON encoding follows the specification's conventions", "[avro][json]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","namespace":"ns","fields":[
    {"name":"u1","type":["null","string"]},
    {"name":"u2","type":["null","string"]},
    {"name":"u3","type":["null",{"type":"fixed","name":"F","size":2}]},
    {"name":"by","type":"bytes"},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
    {"name":"m","type":{"type":"map","values":"long"}},
    {"name":"a","type":{"type":"array","items":"double"}},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"lu","type":["null",{"type":"long","logicalType":"timestamp-millis"}]}
  ]})");
  Datum d = Record{{
      Union(0, Null{}), Union(1, std::string("a")), Union(1, Fixed{std::string("\x01\xff", 2)}),
      Bytes{std::string("\x00\x7f\x80\xff", 4)}, EnumValue{1},
      Map{{{"x", std::int64_t{1}}}}, Array{{1.5, -2.0}}, std::int64_t{1700000000000},
      Union(1, std::int64_t{5}),
  }};
  json j = ToAvroJson(s, d);
  CHECK(j["u1"].is_null());
  CHECK(j["u2"] == json{{"string", "a"}});
  CHECK(j["u3"] == json{{"ns.F", "\u0001\u00ff"}});
  CHECK(j["by"] == std::string("\x00\x7f\u0080\u00ff", 1 + 1 + 2 + 2));
  CHECK(j["e"] == "B");
  CHECK(j["m"] == json{{"x", 1}});
  CHECK(j["a"] == json::array({1.5, -2.0}));
  CHECK(j["ts"] == 1700000000000);
  CHECK(j["lu"] == json{{"long", 5}});
  // And back, including through the dumped text.
  CHECK(FromAvroJson(s, j) == d);
  CHECK(FromAvroJson(s, json::parse(j.dump())) == d);
}

TEST_CASE("JSON decoding accepts short names for named branches and fills defaults", "[avro][json]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","namespace":"ns","fields":[
    {"name":"u","type":["null",{"type":"enum","name":"E","symbols":["A"]}]},
    {"name":"d","type":"int","default":7}
  ]})");
  Datum d = FromAvroJson(s, json{{"u", {{"E", "A"}}}});
  CHECK(d.as<Record>().fields[0] == Datum(Union(1, EnumValue{0})));
  CHECK(d.as<Record>().fields[1] == Datum(std::int32_t{7}));
}

TEST_CASE("bad JSON values are rejected with their path", "[avro][json]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","fields":[
    {"name":"i","type":"int"},
    {"name":"a","type":{"type":"array","items":["null","long"]}}
  ]})");
  auto error = [&](const json& j) -> std::string {
    try {
      FromAvroJson(s, j);
    } catch (const DecodeError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(error(json{{"a", json::array()}}), Catch::Contains("$.i") && Catch::Contains("missing field"));
  CHECK_THAT(error(json{{"i", 1.5}, {"a", json::array()}}), Catch::Contains("$.i") && Catch::Contains("expected an int"));
  CHECK_THAT(error(json{{"i", 5000000000LL}, {"a", json::array()}}), Catch::Contains("out of range"));
  CHECK_THAT(error(json{{"i", 1}, {"a", json::array({nullptr, 3})}}), Catch::Contains("$.a[1]"));
  CHECK_THAT(error(json{{"i", 1}, {"a", json::array({json{{"string", "x"}}})}}), Catch::Contains("no union branch named"));
  CHECK_THAT(error(json::array()), Catch::Contains("expected an object"));
  CHECK_THROWS_AS(FromAvroJson(ParseSchema("\"bytes\""), json("\u0100")), DecodeError);
  CHECK_THROWS_AS(FromAvroJson(ParseSchema(R"({"type":"fixed","name":"F","size":2})"), json("abc")), DecodeError);
}

TEST_CASE("defaults become datums, union defaults pick the first branch they fit", "[avro][json]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","fields":[
    {"name":"a","type":["null","int"],"default":null},
    {"name":"b","type":["int","null"],"default":3},
    {"name":"c","type":["null","string"],"default":"x"},
    {"name":"d","type":{"type":"record","name":"In","fields":[{"name":"x","type":"long","default":9}]},"default":{}},
    {"name":"e","type":"bytes","default":"\u00ff"}
  ]})");
  const auto& f = s.root().fields();
  CHECK(DatumFromDefault(f[0].type(), f[0].default_value()) == Datum(Union(0, Null{})));
  CHECK(DatumFromDefault(f[1].type(), f[1].default_value()) == Datum(Union(0, std::int32_t{3})));
  CHECK(DatumFromDefault(f[2].type(), f[2].default_value()) == Datum(Union(1, std::string("x"))));
  CHECK(DatumFromDefault(f[3].type(), f[3].default_value()) == Datum(Record{{std::int64_t{9}}}));
  CHECK(DatumFromDefault(f[4].type(), f[4].default_value()) == Datum(Bytes{"\xff"}));
  CHECK_THROWS_AS(DatumFromDefault(f[0].type(), json("x")), DecodeError);
}

TEST_CASE("binary maps may repeat a key, the JSON form keeps the last value", "[avro][json]") {
  Schema s = ParseSchema(R"({"type":"map","values":"int"})");
  // Two entries with key "k": 1 then 2.
  const std::string bytes("\x04\x02k\x02\x02k\x04\x00", 8);
  Datum d = Decode(s, bytes);
  REQUIRE(d.as<Map>().entries.size() == 2);
  CHECK(ToAvroJson(s, d) == json{{"k", 2}});
}

// RowSerde against an in-memory schema source: wire format, round trips, resolution to a
// reader schema, and every per-record failure as a value (never an exception).
#include <catch2/catch.hpp>

#include "sluice/core/error.hpp"
#include "sluice/runtime/serde.hpp"

using namespace sluice;
using runtime::InMemorySchemaSource;
using runtime::RowSerde;

namespace {

const char* kV1 = R"({"type":"record","name":"Loan","namespace":"t","fields":[
  {"name":"id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"term","type":"int"},
  {"name":"state","type":["null","string"],"default":null},
  {"name":"ok","type":"boolean"},
  {"name":"day","type":{"type":"int","logicalType":"date"}}]})";
// v2 adds a field with a default and widens term to long.
const char* kV2 = R"({"type":"record","name":"Loan","namespace":"t","fields":[
  {"name":"id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"term","type":"long"},
  {"name":"state","type":["null","string"],"default":null},
  {"name":"ok","type":"boolean"},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"grade","type":"string","default":"unknown"}]})";

stages::Row Sample() {
  return stages::Row{{"id", std::string("LC-1")}, {"amount", 1000.5}, {"term", std::int64_t{36}},
                     {"state", std::string("CA")}, {"ok", true}, {"day", std::int64_t{16801}}};
}

// A source whose registry is down.
class DownSource : public runtime::SchemaSource {
 public:
  std::int32_t Register(const std::string&, const std::string&) override {
    throw core::InfraError("registry unreachable", core::Retry::kYes);
  }
  std::optional<std::string> SchemaText(std::int32_t) override {
    throw core::InfraError("registry unreachable", core::Retry::kYes);
  }
};

}  // namespace

TEST_CASE("serde: encode writes the Confluent wire format under <topic>-value") {
  InMemorySchemaSource source;
  RowSerde serde(source);
  auto id = serde.RegisterOutput("loans.clean", avro::ParseSchema(kV1));
  CHECK(source.Subjects().at("loans.clean-value") == std::vector<std::int32_t>{id});
  auto bytes = serde.Encode("loans.clean", Sample());
  REQUIRE(bytes);
  const std::string& b = *bytes.value;
  REQUIRE(b.size() > 5);
  CHECK(b[0] == '\0');
  std::uint32_t wire_id = (static_cast<unsigned char>(b[1]) << 24) |
                          (static_cast<unsigned char>(b[2]) << 16) |
                          (static_cast<unsigned char>(b[3]) << 8) | static_cast<unsigned char>(b[4]);
  CHECK(static_cast<std::int32_t>(wire_id) == id);
  // The payload is plain Avro binary of the schema.
  auto datum = avro::Decode(avro::ParseSchema(kV1), std::string_view(b).substr(5));
  CHECK(datum.as<avro::Record>().fields[0].as<std::string>() == "LC-1");
}

TEST_CASE("serde: round trip with the same schema keeps every cell") {
  InMemorySchemaSource source;
  RowSerde serde(source);
  auto schema = avro::ParseSchema(kV1);
  serde.RegisterOutput("t", schema);
  auto bytes = serde.Encode("t", Sample());
  REQUIRE(bytes);
  auto row = serde.Decode(*bytes.value, &schema);
  REQUIRE(row);
  CHECK(*row.value == Sample());
  auto no_reader = serde.Decode(*bytes.value);
  REQUIRE(no_reader);
  CHECK(*no_reader.value == Sample());
  CHECK(serde.LastWriterId() == serde.OutputId("t"));
}

TEST_CASE("serde: nulls, missing nullable fields and numeric widening on encode") {
  InMemorySchemaSource source;
  RowSerde serde(source);
  auto schema = avro::ParseSchema(kV1);
  serde.RegisterOutput("t", schema);
  stages::Row row = Sample();
  row.Erase("state");                      // missing nullable -> null
  row.Set("amount", std::int64_t{2000});  // long into double
  row.Set("term", 60.0);                  // integral double into int
  auto bytes = serde.Encode("t", row);
  REQUIRE(bytes);
  auto back = serde.Decode(*bytes.value, &schema);
  REQUIRE(back);
  CHECK(stages::IsNull(back.value->Get("state")));
  CHECK(std::get<double>(back.value->Get("amount")) == 2000.0);
  CHECK(std::get<std::int64_t>(back.value->Get("term")) == 60);
}

TEST_CASE("serde: rows that do not fit the schema are unencodable values") {
  InMemorySchemaSource source;
  RowSerde serde(source);
  serde.RegisterOutput("t", avro::ParseSchema(kV1));
  stages::Row missing = Sample();
  missing.Erase("id");
  auto a = serde.Encode("t", missing);
  CHECK_FALSE(a);
  CHECK(a.error.rfind("unencodable: field 'id'", 0) == 0);
  stages::Row wrong = Sample();
  wrong.Set("term", std::string("36 months"));
  auto b = serde.Encode("t", wrong);
  CHECK_FALSE(b);
  CHECK(b.error.find("term") != std::string::npos);
  stages::Row frac = Sample();
  frac.Set("term", 36.5);
  CHECK_FALSE(serde.Encode("t", frac));
  stages::Row big = Sample();
  big.Set("term", std::int64_t{1} << 40);  // does not fit an Avro int
  auto c = serde.Encode("t", big);
  CHECK_FALSE(c);
  CHECK(c.error.rfind("unencodable: ", 0) == 0);
}

TEST_CASE("serde: an old writer is resolved into the reader schema (defaults, promotion)") {
  InMemorySchemaSource source;
  RowSerde writer(source);
  writer.RegisterOutput("t", avro::ParseSchema(kV1));
  auto bytes = writer.Encode("t", Sample());
  REQUIRE(bytes);

  RowSerde reader(source);
  auto v2 = avro::ParseSchema(kV2);
  auto row = reader.Decode(*bytes.value, &v2);
  REQUIRE(row);
  CHECK(row.value->size() == 7);
  CHECK(std::get<std::string>(row.value->Get("grade")) == "unknown");
  CHECK(std::get<std::int64_t>(row.value->Get("term")) == 36);
  CHECK(std::get<std::string>(row.value->Get("state")) == "CA");
  CHECK(row.value->cells().back().first == "grade");  // reader field order
  // A second record takes the cached plan and gives the same answer.
  auto again = reader.Decode(*bytes.value, &v2);
  REQUIRE(again);
  CHECK(*again.value == *row.value);
}

TEST_CASE("serde: a writer the reader can never read is undecodable, per record") {
  InMemorySchemaSource source;
  RowSerde writer(source);
  writer.RegisterOutput("t", avro::ParseSchema(kV1));
  auto bytes = writer.Encode("t", Sample());
  REQUIRE(bytes);
  auto incompatible = avro::ParseSchema(R"({"type":"record","name":"Loan","namespace":"t",
    "fields":[{"name":"must","type":"string"}]})");
  RowSerde reader(source);
  auto row = reader.Decode(*bytes.value, &incompatible);
  CHECK_FALSE(row);
  CHECK(row.error.rfind("undecodable: writer schema id", 0) == 0);
}

TEST_CASE("serde: malformed frames and unknown ids are values, not exceptions") {
  InMemorySchemaSource source;
  RowSerde serde(source);
  auto schema = avro::ParseSchema(kV1);
  auto id = serde.RegisterOutput("t", schema);
  auto good = *serde.Encode("t", Sample()).value;

  auto short_frame = serde.Decode(std::string("\0\0\0", 3), &schema);
  CHECK_FALSE(short_frame);
  CHECK(short_frame.error.find("shorter than the 5-byte") != std::string::npos);

  std::string bad_magic = good;
  bad_magic[0] = 1;
  auto m = serde.Decode(bad_magic, &schema);
  CHECK_FALSE(m);
  CHECK(m.error == "undecodable: magic byte 1, expected 0");

  std::string unknown = good;
  unknown[4] = static_cast<char>(id + 40);
  auto u = serde.Decode(unknown, &schema);
  CHECK_FALSE(u);
  CHECK(u.error == "undecodable: unknown schema id " + std::to_string(id + 40));

  auto truncated = serde.Decode(good.substr(0, good.size() - 3), &schema);
  CHECK_FALSE(truncated);
  CHECK(truncated.error.rfind("undecodable: schema id", 0) == 0);

  auto trailing = serde.Decode(good + "xx", &schema);
  CHECK_FALSE(trailing);

  // Every prefix of a good record fails cleanly.
  for (std::size_t n = 0; n < good.size(); ++n) CHECK_FALSE(serde.Decode(good.substr(0, n), &schema));
}

TEST_CASE("serde: an unreachable registry is an InfraError that a retry may cure") {
  DownSource down;
  RowSerde serde(down);
  CHECK_THROWS_AS(serde.RegisterOutput("t", avro::ParseSchema(kV1)), core::InfraError);
  try {
    (void)serde.Decode(std::string("\0\0\0\0\1\2", 6));
    FAIL("no exception");
  } catch (const core::InfraError& e) {
    CHECK(e.Retryable());
  }
}

TEST_CASE("serde: non-flat output schemas are refused at registration") {
  InMemorySchemaSource source;
  RowSerde serde(source);
  auto nested = avro::ParseSchema(R"({"type":"record","name":"N","fields":[
    {"name":"xs","type":{"type":"array","items":"int"}}]})");
  CHECK_THROWS_AS(serde.RegisterOutput("t", nested), core::DataError);
}

// Parsing Canonical Form and CRC-64-AVRO against the Avro project's published vectors
// (tests/data/avro/canonical_vectors.json), plus identity properties of our own.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "sluice/avro/schema.hpp"

using namespace sluice::avro;
using nlohmann::json;

namespace {

json LoadVectors() {
  std::ifstream in(std::string(SLUICE_TEST_DATA_DIR) + "/avro/canonical_vectors.json");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

}  // namespace

TEST_CASE("canonical form and fingerprint match the Avro test vectors", "[avro][canonical]") {
  json doc = LoadVectors();
  const json& vectors = doc.at("vectors");
  REQUIRE(vectors.size() == 34);
  int fingerprints = 0;
  for (const json& v : vectors) {
    INFO("vector " << v.at("id").get<std::string>());
    ParseOptions options;
    options.validate_defaults = v.value("validate_defaults", true);
    Schema s = ParseSchema(v.at("input").get<std::string>(), options);
    CHECK(CanonicalForm(s) == v.at("canonical").get<std::string>());
    if (v.contains("fingerprint")) {
      ++fingerprints;
      CHECK(static_cast<std::int64_t>(Fingerprint64(s)) == v.at("fingerprint").get<std::int64_t>());
    }
    // The full form re-parses to the same identity.
    Schema again = ParseSchema(ToJson(s), options);
    CHECK(CanonicalForm(again) == CanonicalForm(s));
  }
  CHECK(fingerprints == 26);
}

TEST_CASE("fingerprint of raw bytes: empty input is the CRC-64-AVRO seed", "[avro][canonical]") {
  CHECK(Fingerprint64(std::string_view()) == 0xc15d213aa4d7a795ULL);
  CHECK(Fingerprint64(std::string_view("\"int\"")) == static_cast<std::uint64_t>(8247732601305521295LL));
}

TEST_CASE("canonical form strips attributes and uses full names", "[avro][canonical]") {
  Schema s = ParseSchema(R"({
    "type": "record", "name": "Loan", "namespace": "com.acme", "doc": "a loan",
    "aliases": ["OldLoan"], "x-owner": "risk",
    "fields": [
      {"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "key"},
      {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
      {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OPEN", "CLOSED"], "default": "OPEN"}},
      {"name": "prev", "type": ["null", "Status"], "default": null},
      {"name": "hash", "type": {"type": "fixed", "name": "other.Hash", "size": 4}},
      {"name": "next", "type": ["null", "Loan"], "default": null, "order": "ignore"}
    ]})");
  CHECK(CanonicalForm(s) ==
        R"({"name":"com.acme.Loan","type":"record","fields":[)"
        R"({"name":"id","type":"string"},)"
        R"({"name":"amount","type":"bytes"},)"
        R"({"name":"status","type":{"name":"com.acme.Status","type":"enum","symbols":["OPEN","CLOSED"]}},)"
        R"({"name":"prev","type":["null","com.acme.Status"]},)"
        R"({"name":"hash","type":{"name":"other.Hash","type":"fixed","size":4}},)"
        R"({"name":"next","type":["null","com.acme.Loan"]}]})");
}

TEST_CASE("schemas differing only in doc, order of attributes or whitespace share a fingerprint",
          "[avro][canonical]") {
  Schema a = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})");
  Schema b = ParseSchema(R"({ "fields" : [ {"type":"int","name":"a","doc":"x"} ], "name":"R", "type":"record", "doc":"y" })");
  Schema c = ParseSchema(R"({"type":"record","name":"R","fields":[{"name":"a","type":"long"}]})");
  CHECK(Fingerprint64(a) == Fingerprint64(b));
  CHECK(Fingerprint64(a) != Fingerprint64(c));
}

TEST_CASE("ToJson keeps logical types, defaults, doc, aliases, order and properties", "[avro][canonical]") {
  const char* text = R"({"type":"record","name":"R","namespace":"n","doc":"d","aliases":["Q"],"x-a":1,
    "fields":[
      {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis","x-b":true},"default":0,
       "aliases":["t"],"order":"descending","doc":"when","x-c":"c"},
      {"name":"d","type":{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":3}},
      {"name":"inner","type":{"type":"record","name":"I","namespace":"","fields":[]}},
      {"name":"u","type":{"type":"string","logicalType":"not-a-real-one"}}
    ]})";
  Schema s = ParseSchema(text);
  json j = ToJson(s);
  CHECK(j["doc"] == "d");
  CHECK(j["aliases"] == json::array({"n.Q"}));
  CHECK(j["x-a"] == 1);
  const json& ts = j["fields"][0];
  CHECK(ts["type"]["logicalType"] == "timestamp-millis");
  CHECK(ts["type"]["x-b"] == true);
  CHECK(ts["default"] == 0);
  CHECK(ts["aliases"] == json::array({"t"}));
  CHECK(ts["order"] == "descending");
  CHECK(ts["doc"] == "when");
  CHECK(ts["x-c"] == "c");
  CHECK(j["fields"][1]["type"]["precision"] == 10);
  CHECK(j["fields"][1]["type"]["scale"] == 3);
  CHECK(j["fields"][2]["type"]["namespace"] == "");
  CHECK(j["fields"][3]["type"]["logicalType"] == "not-a-real-one");
  // Re-parsing the full form gives the same structure.
  Schema again = ParseSchema(j);
  CHECK(ToJson(again) == j);
  CHECK(again.FindNamed("I") != nullptr);
  CHECK(again.FindNamed("n.I") == nullptr);
}

// Schema parser: the model it builds, and precise errors for invalid schemas.
#include <catch2/catch.hpp>

#include "sluice/avro/schema.hpp"

using namespace sluice::avro;
using nlohmann::json;

namespace {

// Parses text that must fail; returns the error.
SchemaParseError ParseError(const std::string& text, const ParseOptions& options = {}) {
  try {
    ParseSchema(text, options);
  } catch (const SchemaParseError& e) {
    return e;
  }
  FAIL("schema parsed but should not: " << text);
  throw;  // unreachable
}

}  // namespace

TEST_CASE("primitives parse in both forms", "[avro][schema]") {
  for (const char* name : {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}) {
    Schema a = ParseSchema(json(name).dump());
    Schema b = ParseSchema(json{{"type", name}});
    CHECK(TypeName(a.root().type()) == name);
    CHECK(a.root().type() == b.root().type());
    CHECK_FALSE(a.root().is_named());
  }
  Schema def;
  CHECK(def.root().type() == Type::kNull);
}

TEST_CASE("records expose fields, defaults, aliases, order and properties", "[avro][schema]") {
  Schema s = ParseSchema(R"({
    "type": "record", "name": "Loan", "namespace": "com.acme", "aliases": ["Credit", "x.Old"],
    "doc": "A loan", "owner": "risk",
    "fields": [
      {"name": "id", "type": "string", "aliases": ["loan_id"], "doc": "key"},
      {"name": "amount", "type": "double", "default": 1.5, "order": "descending", "pii": false},
      {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
      {"name": "attrs", "type": {"type": "map", "values": "long"}, "default": {"a": 1}},
      {"name": "note", "type": ["null", "string"], "default": null, "order": "ignore"}
    ]})");
  const Node& r = s.root();
  REQUIRE(r.type() == Type::kRecord);
  CHECK(r.name() == "Loan");
  CHECK(r.name_space() == "com.acme");
  CHECK(r.full_name() == "com.acme.Loan");
  CHECK(r.aliases() == std::vector<std::string>{"com.acme.Credit", "x.Old"});
  CHECK(r.doc() == "A loan");
  CHECK(r.props() == json{{"owner", "risk"}});
  REQUIRE(r.fields().size() == 5);
  const Field& id = r.fields()[0];
  CHECK(id.name() == "id");
  CHECK(id.aliases() == std::vector<std::string>{"loan_id"});
  CHECK(id.doc() == "key");
  CHECK_FALSE(id.has_default());
  CHECK(id.order() == FieldOrder::kAscending);
  const Field& amount = r.fields()[1];
  CHECK(amount.index() == 1);
  CHECK(amount.has_default());
  CHECK(amount.default_value() == 1.5);
  CHECK(amount.order() == FieldOrder::kDescending);
  CHECK(amount.props() == json{{"pii", false}});
  CHECK(r.fields()[2].type().type() == Type::kArray);
  CHECK(r.fields()[2].type().items().type() == Type::kString);
  CHECK(r.fields()[3].type().values().type() == Type::kLong);
  const Node& note = r.fields()[4].type();
  REQUIRE(note.type() == Type::kUnion);
  REQUIRE(note.branches().size() == 2);
  CHECK(note.branches()[0]->type() == Type::kNull);
  CHECK(r.fields()[4].default_value().is_null());
  CHECK(r.fields()[4].order() == FieldOrder::kIgnore);
  CHECK(r.FindField("amount") == &amount);
  CHECK(r.FindField("nope") == nullptr);
  CHECK(s.FindNamed("com.acme.Loan") == &r);
}

TEST_CASE("namespaces: inherited, overridden, dotted names and references", "[avro][schema]") {
  Schema s = ParseSchema(R"({
    "type": "record", "name": "Outer", "namespace": "a.b",
    "fields": [
      {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}},
      {"name": "f", "type": {"type": "fixed", "name": "F", "namespace": "c", "size": 2}},
      {"name": "g", "type": {"type": "record", "name": "d.G", "namespace": "ignored", "fields": [
        {"name": "h", "type": {"type": "enum", "name": "H", "symbols": ["Z"]}}]}},
      {"name": "n", "type": {"type": "record", "name": "N", "namespace": "", "fields": []}},
      {"name": "r1", "type": "E"},
      {"name": "r2", "type": "c.F"},
      {"name": "r3", "type": "d.H"},
      {"name": "r4", "type": "N"},
      {"name": "r5", "type": "a.b.Outer"}
    ]})");
  CHECK(s.FindNamed("a.b.E") != nullptr);
  CHECK(s.FindNamed("c.F") != nullptr);
  CHECK(s.FindNamed("d.G") != nullptr);
  CHECK(s.FindNamed("d.H") != nullptr);  // inherits the namespace of its dotted parent
  CHECK(s.FindNamed("N") != nullptr);
  const auto& f = s.root().fields();
  CHECK(&f[4].type() == s.FindNamed("a.b.E"));
  CHECK(&f[5].type() == s.FindNamed("c.F"));
  CHECK(&f[6].type() == s.FindNamed("d.H"));
  CHECK(&f[7].type() == s.FindNamed("N"));  // falls back to the null namespace
  CHECK(&f[8].type() == &s.root());
  CHECK(s.named_types().size() == 6);
  CHECK(s.named_types()[0]->full_name() == "a.b.Outer");
}

TEST_CASE("recursive types are pointer cycles in one node table", "[avro][schema]") {
  Schema s = ParseSchema(R"({"type":"record","name":"Node","fields":[
      {"name":"value","type":"long"},
      {"name":"children","type":{"type":"array","items":"Node"}},
      {"name":"next","type":["null","Node"],"default":null}]})");
  const Node& root = s.root();
  CHECK(&root.fields()[1].type().items() == &root);
  CHECK(root.fields()[2].type().branches()[1] == &root);
  // Copies share the table; nodes stay valid after the original goes away.
  const Node* kept = nullptr;
  Schema copy;
  {
    Schema tmp = ParseSchema(R"({"type":"record","name":"L","fields":[{"name":"n","type":["null","L"]}]})");
    copy = tmp;
    kept = &tmp.root();
  }
  CHECK(&copy.root() == kept);
  CHECK(copy.root().fields()[0].type().branches()[1] == kept);
  CHECK(copy.node(kept->id()).full_name() == "L");
}

TEST_CASE("logical types annotate their underlying node", "[avro][schema]") {
  Schema dec = ParseSchema(R"({"type":"bytes","logicalType":"decimal","precision":9,"scale":2})");
  CHECK(dec.root().logical_type() == LogicalType::kDecimal);
  CHECK(dec.root().precision() == 9);
  CHECK(dec.root().scale() == 2);
  CHECK(dec.root().props().empty());
  Schema fdec = ParseSchema(R"({"type":"fixed","name":"M","size":8,"logicalType":"decimal","precision":18})");
  CHECK(fdec.root().logical_type() == LogicalType::kDecimal);
  CHECK(fdec.root().scale() == 0);
  struct Case {
    const char* text;
    LogicalType expected;
  };
  const Case cases[] = {
      {R"({"type":"int","logicalType":"date"})", LogicalType::kDate},
      {R"({"type":"int","logicalType":"time-millis"})", LogicalType::kTimeMillis},
      {R"({"type":"long","logicalType":"time-micros"})", LogicalType::kTimeMicros},
      {R"({"type":"long","logicalType":"timestamp-millis"})", LogicalType::kTimestampMillis},
      {R"({"type":"long","logicalType":"timestamp-micros"})", LogicalType::kTimestampMicros},
      {R"({"type":"long","logicalType":"local-timestamp-millis"})", LogicalType::kLocalTimestampMillis},
      {R"({"type":"long","logicalType":"local-timestamp-micros"})", LogicalType::kLocalTimestampMicros},
      {R"({"type":"string","logicalType":"uuid"})", LogicalType::kUuid},
      {R"({"type":"fixed","name":"D","size":12,"logicalType":"duration"})", LogicalType::kDuration},
      // Invalid ones are ignored, as the specification says, and kept as properties.
      {R"({"type":"long","logicalType":"date"})", LogicalType::kNone},
      {R"({"type":"bytes","logicalType":"decimal","precision":2,"scale":3})", LogicalType::kNone},
      {R"({"type":"bytes","logicalType":"decimal"})", LogicalType::kNone},
      {R"({"type":"fixed","name":"S","size":2,"logicalType":"decimal","precision":5})", LogicalType::kNone},
      {R"({"type":"fixed","name":"D","size":11,"logicalType":"duration"})", LogicalType::kNone},
      {R"({"type":"string","logicalType":"rainbow"})", LogicalType::kNone},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    Schema s = ParseSchema(c.text);
    CHECK(s.root().logical_type() == c.expected);
    if (c.expected == LogicalType::kNone) CHECK(s.root().props().contains("logicalType"));
  }
}

TEST_CASE("enum symbols and default", "[avro][schema]") {
  Schema s = ParseSchema(R"({"type":"enum","name":"S","symbols":["A","B","C"],"default":"B"})");
  CHECK(s.root().symbols().size() == 3);
  CHECK(s.root().SymbolIndex("C") == 2u);
  CHECK_FALSE(s.root().SymbolIndex("D").has_value());
  CHECK(s.root().enum_default() == std::optional<std::string>("B"));
}

TEST_CASE("schema references make other schemas' named types visible", "[avro][schema]") {
  Schema address = ParseSchema(R"({"type":"record","name":"Address","namespace":"geo","fields":[{"name":"zip","type":"string"}]})");
  ParseOptions options;
  options.references.push_back(address);
  Schema customer = ParseSchema(R"({"type":"record","name":"Customer","fields":[{"name":"home","type":"geo.Address"}]})", options);
  CHECK(customer.root().fields()[0].type().full_name() == "geo.Address");
  CHECK(CanonicalForm(customer) ==
        R"({"name":"Customer","type":"record","fields":[{"name":"home","type":{"name":"geo.Address","type":"record","fields":[{"name":"zip","type":"string"}]}}]})");
  CHECK_THROWS_AS(ParseSchema(R"({"type":"record","name":"Customer","fields":[{"name":"home","type":"geo.Address"}]})"),
                  SchemaParseError);
}

TEST_CASE("invalid schemas report the JSON path and the reason", "[avro][schema]") {
  struct Case {
    const char* text;
    const char* path;
    const char* reason_part;
  };
  const Case cases[] = {
      {R"({"type":"record","name":"R","fields":[)", "$", "invalid JSON"},
      {R"(42)", "$", "expected a type name"},
      {R"("Nope")", "$", "unknown type"},
      {R"({"name":"x"})", "$", "missing \"type\""},
      {R"({"type":"record","fields":[]})", "$", "missing \"name\""},
      {R"({"type":"record","name":"R"})", "$", "missing \"fields\""},
      {R"({"type":"record","name":"R","fields":{}})", "$.fields", "must be an array"},
      {R"({"type":"record","name":"1R","fields":[]})", "$.name", "invalid name"},
      {R"({"type":"record","name":"R","namespace":"a..b","fields":[]})", "$.namespace", "invalid namespace"},
      {R"({"type":"record","name":"int","fields":[]})", "$.name", "cannot redefine primitive"},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"int"},{"name":"d","type":{"type":"array","items":"Missing"}}]})",
       "$.fields[3].type.items", "unknown type \"Missing\""},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]})",
       "$.fields[1].name", "duplicate field"},
      {R"({"type":"record","name":"R","fields":[{"name":"a"}]})", "$.fields[0]", "missing \"type\""},
      {R"({"type":"record","name":"R","fields":[{"name":"a-b","type":"int"}]})", "$.fields[0].name", "invalid field name"},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"up"}]})", "$.fields[0].order", "order"},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]})", "$.fields[0].default", "does not match"},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":"x"}]})", "$.fields[0].default", "does not match"},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":"int","default":3000000000}]})", "$.fields[0].default", "does not match"},
      {R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]})", "$.fields[0].type.name", "already defined"},
      {R"({"type":"enum","name":"E","symbols":["A","A"]})", "$.symbols[1]", "duplicate symbol"},
      {R"({"type":"enum","name":"E","symbols":["A","9"]})", "$.symbols[1]", "invalid symbol"},
      {R"({"type":"enum","name":"E","symbols":["A"],"default":"B"})", "$.default", "one of the symbols"},
      {R"({"type":"enum","name":"E"})", "$", "missing \"symbols\""},
      {R"({"type":"fixed","name":"F"})", "$", "missing \"size\""},
      {R"({"type":"fixed","name":"F","size":-1})", "$.size", "non-negative"},
      {R"({"type":"fixed","name":"F","size":"4"})", "$.size", "non-negative"},
      {R"({"type":"array"})", "$", "missing \"items\""},
      {R"({"type":"map","values":"Nope"})", "$.values", "unknown type"},
      {R"(["int","int"])", "$[1]", "duplicate type"},
      {R"(["null",["int"]])", "$[1]", "may not immediately contain a union"},
      {R"({"type":"record","name":"R","fields":[{"name":"u","type":[{"type":"fixed","name":"F","size":1},"F"]}]})", "$.fields[0].type[1]", "duplicate type"},
      {R"({"type":"frob"})", "$.type", "unknown type"},
      {R"("record")", "$", "must be written as an object"},
      {R"({"type":"record","name":"R","aliases":["ok","no way"],"fields":[]})", "$.aliases[1]", "invalid alias"},
      {R"({"type":"record","name":"R","doc":5,"fields":[]})", "$.doc", "must be a string"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    SchemaParseError e = ParseError(c.text);
    CHECK(e.path() == c.path);
    CHECK_THAT(e.reason(), Catch::Contains(c.reason_part));
    CHECK_THAT(std::string(e.what()), Catch::Contains(c.path));
  }
}

TEST_CASE("default validation can be turned off", "[avro][schema]") {
  const char* text = R"({"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]})";
  ParseOptions lax;
  lax.validate_defaults = false;
  Schema s = ParseSchema(text, lax);
  CHECK(s.root().fields()[0].default_value() == "x");
}

TEST_CASE("valid defaults of every type are accepted", "[avro][schema]") {
  Schema s = ParseSchema(R"({"type":"record","name":"R","fields":[
    {"name":"n","type":"null","default":null},
    {"name":"b","type":"boolean","default":true},
    {"name":"i","type":"int","default":-5},
    {"name":"l","type":"long","default":9007199254740993},
    {"name":"f","type":"float","default":1},
    {"name":"d","type":"double","default":"NaN"},
    {"name":"by","type":"bytes","default":"\u00ff\u0000"},
    {"name":"s","type":"string","default":"héllo"},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"},
    {"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"ab"},
    {"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
    {"name":"m","type":{"type":"map","values":"string"},"default":{"k":"v"}},
    {"name":"u1","type":["null","int"],"default":null},
    {"name":"u2","type":["int","null"],"default":4},
    {"name":"r","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":1}]},"default":{"x":2}}
  ]})");
  CHECK(s.root().fields().size() == 15);
  CHECK(IsValidDefault(s.root().fields()[14].type(), json{{"x", 1}}));
  CHECK_FALSE(IsValidDefault(s.root().fields()[14].type(), json{{"y", 1}}));
  CHECK_FALSE(IsValidDefault(s.root().fields()[9].type(), "abc"));
  CHECK_FALSE(IsValidDefault(s.root().fields()[6].type(), "\u0100"));
}

TEST_CASE("deeply nested schemas are rejected, not a stack overflow", "[avro][schema]") {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += R"({"type":"array","items":)";
  text += "\"int\"";
  for (int i = 0; i < 5000; ++i) text += "}";
  SchemaParseError e = ParseError(text);
  CHECK_THAT(e.reason(), Catch::Contains("nested too deeply"));
}

TEST_CASE("absurdly nested JSON in properties is refused before it is copied", "[avro][schema]") {
  std::string deep = R"({"type":"int","x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  SchemaParseError e = ParseError(deep);
  CHECK(e.path() == "$");
  CHECK_THAT(e.reason(), Catch::Contains("nested too deeply"));
  // Brackets inside strings do not count.
  Schema s = ParseSchema(R"({"type":"int","x":")" + std::string(1000, '[') + "\\\"\"}");
  CHECK(s.root().props()["x"].get<std::string>().size() == 1001);
}

TEST_CASE("a JSON number too large for a double is a parse error, not a crash", "[avro][schema]") {
  // Found by avro_schema_fuzz: nlohmann throws out_of_range, not parse_error, here.
  SchemaParseError e = ParseError("2222.22E222222222");
  CHECK(e.path() == "$");
  CHECK_THAT(e.reason(), Catch::Contains("invalid JSON"));
  CHECK_THROWS_AS(ParseSchema(R"({"type":"int","x":1e999999})"), SchemaParseError);
}

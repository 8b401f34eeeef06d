// Schema resolution: the specification's rules one by one, the round trips listed in the
// compatibility vectors, a property check (whatever the checker accepts, the resolver reads),
// and malformed input.
#include "sluice/avro/resolution.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/compatibility.hpp"
#include "sluice/avro/schema.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace sluice::avro;

namespace {

Schema Parse(std::string_view text) { return ParseSchema(text); }

// Encodes `datum_json` (Avro JSON encoding) with `writer`, decodes through the resolver.
Datum Through(const Schema& writer, const Schema& reader, const json& datum_json) {
  std::string bytes;
  Encode(writer, FromAvroJson(writer, datum_json), bytes);
  return Decode(Resolver::Build(writer, reader), bytes);
}

json Resolved(const char* writer, const char* reader, const json& datum_json) {
  const Schema w = Parse(writer);
  const Schema r = Parse(reader);
  return ToAvroJson(r, Through(w, r, datum_json));
}

std::string BuildError(const char* writer, const char* reader) {
  try {
    Resolver::Build(Parse(writer), Parse(reader));
  } catch (const ResolutionError& e) {
    return e.path() + " | " + e.reason();
  }
  return "no error";
}

// A random datum of `node`; recursion is cut by preferring leaf branches and empty
// collections below a depth.
class RandomDatum {
 public:
  explicit RandomDatum(unsigned seed) : rng_(seed) {}

  Datum Make(const Node& node, int depth = 0) {
    const bool deep = depth > 4;
    switch (node.type()) {
      case Type::kNull:
        return Null{};
      case Type::kBoolean:
        return Pick(2) == 1;
      case Type::kInt:
        return static_cast<std::int32_t>(Pick(2001)) - 1000;
      case Type::kLong:
        return static_cast<std::int64_t>(Pick(1u << 30)) * (Pick(2) ? 1 : -4096);
      case Type::kFloat:
        return static_cast<float>(Pick(1000)) / 8.0f;
      case Type::kDouble:
        return static_cast<double>(Pick(100000)) / 16.0;
      case Type::kBytes:
        return Bytes{Text(Pick(6))};
      case Type::kString:
        return Text(Pick(6));
      case Type::kFixed:
        return Fixed{Text(node.fixed_size())};
      case Type::kEnum:
        return EnumValue{Pick(node.symbols().size())};
      case Type::kArray: {
        Array a;
        for (std::size_t i = 0, n = deep ? 0 : Pick(4); i < n; ++i) {
          a.items.push_back(Make(node.items(), depth + 1));
        }
        return a;
      }
      case Type::kMap: {
        Map m;
        for (std::size_t i = 0, n = deep ? 0 : Pick(4); i < n; ++i) {
          m.entries.emplace_back("k" + std::to_string(i), Make(node.values(), depth + 1));
        }
        return m;
      }
      case Type::kRecord: {
        Record r;
        for (const Field& f : node.fields()) {
          r.fields.push_back(Make(f.type(), depth + 1));
        }
        return r;
      }
      case Type::kUnion: {
        std::size_t branch = Pick(node.branches().size());
        if (deep) {
          for (std::size_t i = 0; i < node.branches().size(); ++i) {
            const Type t = node.branches()[i]->type();
            if (t != Type::kRecord && t != Type::kArray && t != Type::kMap) {
              branch = i;
              break;
            }
          }
        }
        return Union(branch, Make(*node.branches()[branch], depth + 1));
      }
    }
    return Null{};
  }

 private:
  std::size_t Pick(std::size_t n) { return n == 0 ? 0 : rng_() % n; }
  std::string Text(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      s.push_back(static_cast<char>('a' + Pick(26)));
    }
    return s;
  }
  std::mt19937 rng_;
};

std::vector<json> CompatVectors() {
  std::vector<json> out;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(SLUICE_TEST_DATA_DIR) / "avro/compat")) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    json v = json::parse(buffer.str());
    v["file"] = path.filename().string();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

// ---- The rules of the specification's "Schema Resolution" section, one by one.

TEST_CASE("spec: record fields are matched by name, whatever their order") {
  json out = Resolved(
      R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]})",
      R"({"type":"record","name":"R","fields":[{"name":"b","type":"string"},{"name":"a","type":"int"}]})",
      {{"a", 1}, {"b", "x"}});
  CHECK(out == json{{"b", "x"}, {"a", 1}});
}

TEST_CASE("spec: writer fields the reader lacks are ignored, whatever their type") {
  const char* writer = R"({"type":"record","name":"R","fields":[
      {"name":"skip_array","type":{"type":"array","items":{"type":"record","name":"S","fields":[
          {"name":"m","type":{"type":"map","values":["null","bytes"]}}]}}},
      {"name":"keep","type":"long"},
      {"name":"skip_fixed","type":{"type":"fixed","name":"F","size":3}},
      {"name":"skip_union","type":["null","string","double"]}]})";
  const char* reader = R"({"type":"record","name":"R","fields":[{"name":"keep","type":"long"}]})";
  json datum = {{"skip_array", json::array({{{"m", {{"x", {{"bytes", "\u0001\u0002"}}}, {"y", nullptr}}}},
                                            {{"m", json::object()}}})},
                {"keep", 42},
                {"skip_fixed", "abc"},
                {"skip_union", {{"double", 2.5}}}};
  CHECK(Resolved(writer, reader, datum) == json{{"keep", 42}});
}

TEST_CASE("spec: reader fields the writer lacks take their default") {
  const char* writer = R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})";
  const char* reader = R"({"type":"record","name":"R","fields":[
      {"name":"a","type":"int"},
      {"name":"s","type":"string","default":"dflt"},
      {"name":"u","type":["null","int"],"default":null},
      {"name":"arr","type":{"type":"array","items":"int"},"default":[1,2]},
      {"name":"rec","type":{"type":"record","name":"In","fields":[{"name":"q","type":"double"}]},
       "default":{"q":1.5}},
      {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]},"default":"Y"}]})";
  CHECK(Resolved(writer, reader, {{"a", 5}}) ==
        json{{"a", 5}, {"s", "dflt"}, {"u", nullptr}, {"arr", {1, 2}}, {"rec", {{"q", 1.5}}}, {"e", "Y"}});
}

TEST_CASE("spec: a reader field with no default that the writer lacks is an error") {
  CHECK(BuildError(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})",
                   R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]})") ==
        "/fields/1 | reader field 'b' of R has no default value and the writer has no field of "
        "that name or alias");
}

TEST_CASE("spec: every promotion, and nothing else, between primitives") {
  struct Case {
    const char* writer;
    const char* reader;
    json in;
    json out;
  };
  const std::vector<Case> ok = {
      {"\"int\"", "\"long\"", -7, -7},
      {"\"int\"", "\"float\"", 3, 3.0},
      {"\"int\"", "\"double\"", 2147483647, 2147483647.0},
      {"\"long\"", "\"float\"", 1LL << 40, static_cast<double>(1LL << 40)},
      {"\"long\"", "\"double\"", -9007199254740993LL, static_cast<double>(-9007199254740993LL)},
      {"\"float\"", "\"double\"", 0.25, 0.25},
      {"\"string\"", "\"bytes\"", "h\u00e9", "h\u00c3\u00a9"},  // UTF-8 bytes as code points
      {"\"bytes\"", "\"string\"", "ab", "ab"},
  };
  for (const auto& c : ok) {
    INFO(c.writer << " -> " << c.reader);
    CHECK(Resolved(c.writer, c.reader, c.in) == c.out);
  }
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"\"long\"", "\"int\""},     {"\"double\"", "\"float\""}, {"\"float\"", "\"long\""},
      {"\"boolean\"", "\"int\""},  {"\"int\"", "\"string\""},   {"\"string\"", "\"int\""},
      {"\"null\"", "\"boolean\""}, {"\"double\"", "\"long\""},
  };
  for (const auto& [w, r] : bad) {
    INFO(w << " -> " << r);
    CHECK(BuildError(w, r).find("cannot be read as") != std::string::npos);
  }
}

TEST_CASE("spec: enums map symbols by name, then to the reader's default, else fail per record") {
  const char* writer = R"({"type":"enum","name":"E","symbols":["A","B","C"]})";
  const char* with_default = R"({"type":"enum","name":"E","symbols":["C","A","UNK"],"default":"UNK"})";
  CHECK(Resolved(writer, with_default, "A") == "A");
  CHECK(Resolved(writer, with_default, "C") == "C");
  CHECK(Resolved(writer, with_default, "B") == "UNK");
  const char* no_default = R"({"type":"enum","name":"E","symbols":["A","C"]})";
  CHECK(Resolved(writer, no_default, "C") == "C");
  CHECK_THROWS_AS(Resolved(writer, no_default, "B"), DecodeError);
}

TEST_CASE("spec: arrays and maps resolve their items and values recursively") {
  CHECK(Resolved(R"({"type":"array","items":"int"})", R"({"type":"array","items":"double"})",
                 {1, 2}) == json{1.0, 2.0});
  CHECK(Resolved(R"({"type":"map","values":"string"})", R"({"type":"map","values":"bytes"})",
                 {{"k", "v"}}) == json{{"k", "v"}});
  CHECK(BuildError(R"({"type":"array","items":"long"})", R"({"type":"array","items":"int"})") ==
        "/items | writer type long cannot be read as int");
  CHECK(BuildError(R"({"type":"map","values":"int"})", R"({"type":"array","items":"int"})")
            .find("writer type map cannot be read as array") != std::string::npos);
}

TEST_CASE("spec: both unions: the writer's branch goes to the first matching reader branch") {
  const char* writer = R"(["null","int","string"])";
  const char* reader = R"(["string","long","null"])";
  CHECK(Resolved(writer, reader, nullptr) == nullptr);
  CHECK(Resolved(writer, reader, {{"int", 3}}) == json{{"long", 3}});
  CHECK(Resolved(writer, reader, {{"string", "s"}}) == json{{"string", "s"}});
}

TEST_CASE("spec: reader union, writer not: exact branch first, then a promotion") {
  // int is promotable to long and double, but the exact int branch wins.
  CHECK(Resolved(R"("int")", R"(["null","long","int","double"])", 5) == json{{"int", 5}});
  CHECK(Resolved(R"("int")", R"(["null","double","long"])", 5) == json{{"double", 5.0}});
  CHECK(Resolved(R"("string")", R"(["null","bytes"])", "z") == json{{"bytes", "z"}});
  CHECK(BuildError(R"("boolean")", R"(["null","int"])") ==
        " | the reader union has no branch for writer type boolean");
  // A record goes to the record branch of the same name, not to another record.
  const char* rec_writer = R"({"type":"record","name":"B","fields":[{"name":"x","type":"int"}]})";
  const char* rec_reader = R"(["null",{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]},
                                      {"type":"record","name":"B","fields":[{"name":"x","type":"long"}]}])";
  CHECK(Resolved(rec_writer, rec_reader, {{"x", 1}}) == json{{"B", {{"x", 1}}}});
}

TEST_CASE("spec: writer union, reader not: each branch resolves or fails its own records") {
  const char* writer = R"(["null","int","long"])";
  const Schema w = Parse(writer);
  const Schema r = Parse(R"("long")");
  const Resolver resolver = Resolver::Build(w, r);
  std::string bytes;
  Encode(w, FromAvroJson(w, json{{"int", 9}}), bytes);
  CHECK(Decode(resolver, bytes) == Datum(std::int64_t{9}));
  bytes.clear();
  Encode(w, FromAvroJson(w, nullptr), bytes);
  try {
    Decode(resolver, bytes);
    FAIL("decoding a null the reader cannot take must fail");
  } catch (const DecodeError& e) {
    CHECK(std::string(e.what()).find("writer union branch 0 (null)") != std::string::npos);
  }
  // No branch readable at all: the plan itself fails.
  CHECK(BuildError(R"(["null","boolean"])", R"("int")").find("no branch of the writer union") !=
        std::string::npos);
}

TEST_CASE("spec: aliases: a reader named Bar with alias Foo reads data written as Foo") {
  const char* writer = R"({"type":"record","name":"Foo","namespace":"ex","fields":[
      {"name":"old_name","type":"int"}]})";
  const char* reader = R"({"type":"record","name":"Bar","namespace":"ex","aliases":["Foo"],"fields":[
      {"name":"new_name","type":"int","aliases":["old_name"]}]})";
  CHECK(Resolved(writer, reader, {{"old_name", 8}}) == json{{"new_name", 8}});
  CHECK(BuildError(writer, R"({"type":"record","name":"Bar","namespace":"ex","fields":[
      {"name":"old_name","type":"int"}]})")
            .find("matches neither") != std::string::npos);
}

TEST_CASE("spec: named types match by unqualified name across namespaces") {
  // The specification compares unqualified names; the checker follows Java's full names, which
  // is stricter, so everything the registry accepts still resolves.
  CHECK(Resolved(R"({"type":"fixed","name":"F","namespace":"a","size":2})",
                 R"({"type":"fixed","name":"F","namespace":"b","size":2})", "xy") == "xy");
  CHECK(BuildError(R"({"type":"fixed","name":"F","size":2})", R"({"type":"fixed","name":"F","size":3})")
            .find("size 3") != std::string::npos);
}

TEST_CASE("spec: decimals keep their meaning, other logical types are ignored") {
  const char* d10_2 = R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})";
  const char* d12_2 = R"({"type":"bytes","logicalType":"decimal","precision":12,"scale":2})";
  const char* d10_3 = R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":3})";
  CHECK(Resolved(d10_2, d12_2, "\u0004\u00d2") == "\u0004\u00d2");
  CHECK(BuildError(d10_2, d10_3).find("scale") != std::string::npos);
  CHECK(BuildError(d12_2, d10_2).find("precision narrows") != std::string::npos);
  CHECK(Resolved(R"({"type":"int","logicalType":"date"})", R"("long")", 19000) == 19000);
  CHECK(Resolved(R"("bytes")", d10_2, "\u0001") == "\u0001");
  // Canonical forms are equal (logical types are not part of them), yet the plan refuses.
  CHECK(BuildError(R"(["null",{"type":"bytes","logicalType":"decimal","precision":4,"scale":1}])",
                   R"(["null",{"type":"bytes","logicalType":"decimal","precision":4,"scale":1}])") == "no error");
  const Schema w = Parse(R"(["null",{"type":"bytes","logicalType":"decimal","precision":4,"scale":1}])");
  const Schema r = Parse(R"(["null",{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}])");
  const Resolver partial = Resolver::Build(w, r);
  CHECK_FALSE(partial.is_identity());
  std::string bytes;
  Encode(w, FromAvroJson(w, json{{"bytes", "\u0001"}}), bytes);
  CHECK_THROWS_AS(Decode(partial, bytes), DecodeError);
}

TEST_CASE("spec: doc attributes do not matter") {
  CHECK(Resolver::Build(
            Parse(R"({"type":"record","name":"R","doc":"one","fields":[{"name":"a","type":"int","doc":"x"}]})"),
            Parse(R"({"type":"record","name":"R","doc":"two","fields":[{"name":"a","type":"int"}]})"))
            .is_identity());
}

TEST_CASE("errors carry the JSON pointer of the reader schema node") {
  CHECK(BuildError(R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"S","fields":[{"name":"b","type":"string"}]}}]})",
                   R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"S","fields":[{"name":"b","type":"int"}]}}]})") ==
        "/fields/0/type/fields/0/type | writer type string cannot be read as int");
  CHECK(BuildError(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})",
                   R"({"type":"record","name":"R","fields":[{"name":"a","type":["null",{"type":"array","items":"int"}]}]})") ==
        "/fields/0/type | the reader union has no branch for writer type int");
  try {
    Resolver::Build(Parse(R"("int")"), Parse(R"("boolean")"));
    FAIL("expected a ResolutionError");
  } catch (const ResolutionError& e) {
    CHECK(std::string(e.what()) ==
          "cannot resolve the writer schema to the reader schema at '/': writer type int cannot be read as boolean");
  }
}

TEST_CASE("recursive types resolve once per pair and decode deep data") {
  const char* writer = R"({"type":"record","name":"Node","fields":[
      {"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]})";
  const char* reader = R"({"type":"record","name":"Node","fields":[
      {"name":"next","type":["null","Node"]},{"name":"v","type":"long"},{"name":"tag","type":"string","default":"t"}]})";
  json list = nullptr;
  json expected = nullptr;
  for (int i = 0; i < 60; ++i) {  // 60 nested records: within the default depth cap of 64
    list = json{{"v", i}, {"next", list.is_null() ? json(nullptr) : json{{"Node", list}}}};
    expected = json{{"next", expected.is_null() ? json(nullptr) : json{{"Node", expected}}}, {"v", i}, {"tag", "t"}};
  }
  CHECK(Resolved(writer, reader, list) == expected);
  // Mutual recursion through a map and an array.
  const char* a1 = R"({"type":"record","name":"A","fields":[{"name":"bs","type":{"type":"array","items":
      {"type":"record","name":"B","fields":[{"name":"as","type":{"type":"map","values":"A"}}]}}}]})";
  const char* a2 = R"({"type":"record","name":"A","fields":[{"name":"n","type":"int","default":0},{"name":"bs","type":{"type":"array","items":
      {"type":"record","name":"B","fields":[{"name":"as","type":{"type":"map","values":"A"}}]}}}]})";
  CHECK(Resolved(a1, a2, {{"bs", {{{"as", {{"k", {{"bs", json::array()}}}}}}}}}) ==
        json{{"n", 0}, {"bs", {{{"as", {{"k", {{"n", 0}, {"bs", json::array()}}}}}}}}});
}

TEST_CASE("decoding untrusted bytes through a plan fails cleanly") {
  const Schema w = Parse(R"({"type":"record","name":"Node","fields":[
      {"name":"v","type":"int"},{"name":"next","type":["null","Node"]},
      {"name":"xs","type":{"type":"array","items":"long"}},
      {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}]})");
  const Schema r = Parse(R"({"type":"record","name":"Node","fields":[
      {"name":"next","type":["null","Node"]},{"name":"v","type":"long"},
      {"name":"e","type":{"type":"enum","name":"E","symbols":["B","A"]}}]})");
  const Resolver resolver = Resolver::Build(w, r);
  std::string good;
  Encode(w, FromAvroJson(w, json{{"v", 1}, {"next", nullptr}, {"xs", {1, 2}}, {"e", "B"}}), good);
  CHECK(ToAvroJson(r, Decode(resolver, good)) == json{{"next", nullptr}, {"v", 1}, {"e", "B"}});

  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    INFO("truncated to " << cut);
    CHECK_THROWS_AS(Decode(resolver, std::string_view(good).substr(0, cut)), DecodeError);
  }
  CHECK_THROWS_AS(Decode(resolver, good + "x"), DecodeError);  // trailing byte
  // Union branch out of range (zigzag 4 = branch 2).
  CHECK_THROWS_AS(Decode(resolver, std::string("\x02\x04", 2)), DecodeError);
  // Enum index out of range (zigzag 6 = 3) after v=1, next=null, xs=[].
  CHECK_THROWS_AS(Decode(resolver, std::string("\x02\x00\x00\x06", 4)), DecodeError);
  // An array claiming a billion items with two bytes left.
  CHECK_THROWS_AS(Decode(resolver, std::string("\x02\x00\x80\xa8\xd6\xb9\x07\x02\x02", 9)),
                  DecodeError);
  // Nesting beyond the depth cap of 64: 100 list nodes.
  std::string deep;
  for (int i = 0; i < 100; ++i) {
    deep += std::string("\x02\x02", 2);  // v=1, next = branch 1 (Node)
  }
  deep += std::string("\x02\x00\x00\x00", 4);
  for (int i = 0; i < 100; ++i) {
    deep += std::string("\x00\x00", 2);  // xs=[], e=A for each enclosing node
  }
  try {
    Decode(resolver, deep);
    FAIL("deep nesting must be refused");
  } catch (const DecodeError& e) {
    CHECK(std::string(e.what()).find("nesting") != std::string::npos);
  }
  // With a higher cap the same bytes decode: the refusal above was the cap, not a bug.
  DecodeLimits roomy;
  roomy.max_depth = 200;
  CHECK_NOTHROW(Decode(resolver, deep, roomy));
}

TEST_CASE("an identical schema takes the plain codec path") {
  const Schema s = Parse(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"}]})");
  const Resolver resolver = Resolver::Build(s, s);
  CHECK(resolver.is_identity());
  std::string bytes;
  Encode(s, FromAvroJson(s, json{{"a", 3}}), bytes);
  CHECK(ToAvroJson(s, Decode(resolver, bytes)) == json{{"a", 3}});
  CHECK_THROWS_AS(Decode(resolver, bytes + "z"), DecodeError);
}

// ---- Data-driven: round trips listed in the compatibility vectors.

TEST_CASE("round trips listed in the compatibility vectors") {
  int count = 0;
  for (const json& v : CompatVectors()) {
    if (!v.contains("roundtrips")) {
      continue;
    }
    std::vector<Schema> history;
    for (const auto& s : v.at("history")) {
      history.push_back(ParseSchema(s));
    }
    const Schema fresh = ParseSchema(v.at("new"));
    auto pick = [&](const json& which) -> const Schema& {
      return which.is_string() ? fresh : history.at(which.get<std::size_t>());
    };
    for (const auto& trip : v.at("roundtrips")) {
      INFO(v.at("file").get<std::string>() << ": " << trip.dump());
      const Schema& writer = pick(trip.at("writer"));
      const Schema& reader = pick(trip.at("reader"));
      if (trip.contains("error")) {
        try {
          Through(writer, reader, trip.at("datum"));
          FAIL("expected a decode error");
        } catch (const DecodeError& e) {
          CHECK(std::string(e.what()).find(trip.at("error").get<std::string>()) != std::string::npos);
        }
      } else {
        const Datum got = Through(writer, reader, trip.at("datum"));
        CHECK(got == FromAvroJson(reader, trip.at("expected")));
        // The result has the reader's shape: it encodes with the reader schema.
        std::string again;
        CHECK_NOTHROW(Encode(reader, got, again));
      }
      ++count;
    }
  }
  CHECK(count >= 30);
}

// ---- Property: whatever the compatibility checker accepts, the resolver builds and reads.

TEST_CASE("every pair the checker accepts resolves, and random data round-trips into the reader shape") {
  RandomDatum random(20261122);
  int accepted_pairs = 0;
  int datums = 0;
  for (const json& v : CompatVectors()) {
    std::vector<Schema> schemas;
    for (const auto& s : v.at("history")) {
      schemas.push_back(ParseSchema(s));
    }
    schemas.push_back(ParseSchema(v.at("new")));
    for (std::size_t wi = 0; wi < schemas.size(); ++wi) {
      for (std::size_t ri = 0; ri < schemas.size(); ++ri) {
        const Schema& writer = schemas[wi];
        const Schema& reader = schemas[ri];
        if (!CheckCompatibility(reader, writer).empty()) {
          continue;
        }
        INFO(v.at("file").get<std::string>() << " writer #" << wi << " reader #" << ri);
        ++accepted_pairs;
        REQUIRE_NOTHROW(Resolver::Build(writer, reader));
        const Resolver resolver = Resolver::Build(writer, reader);
        for (int i = 0; i < 25; ++i) {
          const Datum datum = random.Make(writer.root());
          std::string bytes;
          Encode(writer, datum, bytes);
          Datum got;
          REQUIRE_NOTHROW(got = Decode(resolver, bytes));
          std::string again;
          REQUIRE_NOTHROW(Encode(reader, got, again));
          if (wi == ri) {
            CHECK(got == datum);
          }
          ++datums;
        }
      }
    }
  }
  CHECK(accepted_pairs >= 100);
  CHECK(datums >= 2500);
}

// ---- Mutated bytes: decoding through any plan either succeeds or throws DecodeError.

TEST_CASE("mutated and random bytes through every accepted plan fail only with DecodeError") {
  RandomDatum random(7);
  std::mt19937 rng(99);
  int runs = 0;
  int rejected = 0;
  for (const json& v : CompatVectors()) {
    std::vector<Schema> schemas;
    for (const auto& s : v.at("history")) {
      schemas.push_back(ParseSchema(s));
    }
    schemas.push_back(ParseSchema(v.at("new")));
    for (std::size_t wi = 0; wi < schemas.size(); ++wi) {
      for (std::size_t ri = 0; ri < schemas.size(); ++ri) {
        if (!CheckCompatibility(schemas[ri], schemas[wi]).empty()) {
          continue;
        }
        const Resolver resolver = Resolver::Build(schemas[wi], schemas[ri]);
        std::string bytes;
        Encode(schemas[wi], random.Make(schemas[wi].root()), bytes);
        for (int m = 0; m < 40; ++m) {
          std::string mutated = bytes;
          switch (rng() % 4) {
            case 0:
              if (!mutated.empty()) mutated[rng() % mutated.size()] = static_cast<char>(rng());
              break;
            case 1:
              mutated.resize(mutated.empty() ? 0 : rng() % mutated.size());
              break;
            case 2:
              mutated.insert(mutated.begin() + (mutated.empty() ? 0 : rng() % mutated.size()),
                             static_cast<char>(rng()));
              break;
            default:
              mutated.assign(rng() % 24, '\0');
              for (char& c : mutated) c = static_cast<char>(rng());
              break;
          }
          ++runs;
          try {
            Datum got = Decode(resolver, mutated);
            std::string again;
            Encode(schemas[ri], got, again);  // whatever decodes has the reader's shape
          } catch (const DecodeError&) {
            ++rejected;
          }
        }
      }
    }
  }
  CHECK(runs >= 4000);
  CHECK(rejected > runs / 4);
}

// libFuzzer target: arbitrary bytes decoded against a few fixed schemas (generic decode,
// skip, flat decode). Decoding must either succeed or throw DecodeError; a decoded datum
// must re-encode, decode again and re-encode to the same bytes, and survive a JSON round trip.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/flat_row.hpp"

namespace {

using namespace sluice::avro;

const char* const kSchemas[] = {
    // 0: a flat record, as the stages use.
    R"({"type":"record","name":"Loan","fields":[
      {"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"rate","type":["null","float"]},
      {"name":"term","type":"int"},{"name":"active","type":"boolean"},
      {"name":"opened","type":{"type":"int","logicalType":"date"}},
      {"name":"updated","type":[{"type":"long","logicalType":"timestamp-millis"},"null"]},
      {"name":"status","type":{"type":"enum","name":"Status","symbols":["OPEN","CLOSED","DEFAULTED"]}},
      {"name":"hash","type":{"type":"fixed","name":"H","size":4}},
      {"name":"blob","type":["null","bytes"]},{"name":"nothing","type":"null"}]})",
    // 1: a recursive tree with maps and unions.
    R"({"type":"record","name":"Tree","fields":[
      {"name":"value","type":"long"},
      {"name":"children","type":{"type":"array","items":"Tree"}},
      {"name":"attrs","type":{"type":"map","values":["null","string","bytes","double"]}},
      {"name":"next","type":["null","Tree"]}]})",
    // 2: nested containers, logical types, empty records and zero-size items.
    R"({"type":"record","name":"Mix","namespace":"f","fields":[
      {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":4}},
      {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
      {"name":"nulls","type":{"type":"array","items":"null"}},
      {"name":"empties","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}},
      {"name":"grid","type":{"type":"array","items":{"type":"array","items":["int","boolean","E"]}}},
      {"name":"index","type":{"type":"map","values":{"type":"map","values":"Dur"}}},
      {"name":"u","type":["null","string","Dur","E",{"type":"enum","name":"K","symbols":["A","B"]}]}]})",
    // 3: a bare union of primitives.
    R"(["null","boolean","int","long","float","double","bytes","string"])",
};
constexpr std::size_t kCount = sizeof(kSchemas) / sizeof(kSchemas[0]);

struct Fixture {
  Schema schemas[kCount];
  std::shared_ptr<const FlatLayout> flat;
  DecodeLimits limits;
  Fixture() {
    for (std::size_t i = 0; i < kCount; ++i) schemas[i] = ParseSchema(kSchemas[i]);
    flat = FlatLayout::Compile(schemas[0]);
    // Small caps keep each execution fast: zero-size items (null, empty records) reach
    // the caps with a few input bytes, and the caps themselves are what is under test.
    limits.max_collection = 1u << 12;
    limits.max_total_items = 1u << 14;
    limits.max_bytes = 1u << 20;
  }
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  if (size == 0) return 0;
  const Schema& schema = fx.schemas[data[0] % kCount];
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  bool skipped = false;
  try {
    BinaryReader r(bytes, fx.limits);
    SkipValue(schema.root(), r);
    skipped = r.at_end();
  } catch (const DecodeError&) {
  }

  bool decoded = false;
  try {
    Datum d = Decode(schema, bytes, fx.limits);
    decoded = true;
    std::string once;
    Encode(schema, d, once);
    std::string twice;
    Encode(schema, Decode(schema, once, fx.limits), twice);
    Check(once == twice, "binary re-encode is stable");
    // JSON objects cannot hold duplicate map keys (binary maps can), and NaN != NaN, so
    // compare the JSON text after one JSON round trip.
    nlohmann::json j = ToAvroJson(schema, d);
    nlohmann::json back = ToAvroJson(schema, FromAvroJson(schema, j));
    auto text = [](const nlohmann::json& v) {
      return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    Check(text(back) == text(j), "JSON round trip keeps the value");
  } catch (const DecodeError&) {
  }
  Check(decoded == skipped, "skip and decode agree on validity");

  if (data[0] % kCount == 0) {
    static FlatRow row;
    bool flat_ok = false;
    try {
      DecodeFlat(fx.flat, bytes, row, fx.limits);
      flat_ok = true;
      std::string out;
      EncodeFlat(row, out);
      Datum a = Decode(schema, out, fx.limits);
      std::string again;
      Encode(schema, a, again);
      Check(again == out, "flat encode is canonical");
    } catch (const DecodeError&) {
    }
    Check(flat_ok == decoded, "flat and generic decode agree on validity");
  }
  return 0;
}

// libFuzzer target: arbitrary text parsed as an Avro schema. Parsing must succeed or throw
// SchemaParseError; a parsed schema must give a canonical form and fingerprint, and its
// full JSON form must re-parse to the same canonical form and full form.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sluice/avro/schema.hpp"

namespace {

void Check(bool ok, const char* what, const std::string& detail) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n%s\n", what, detail.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice::avro;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Schema schema;
  try {
    schema = ParseSchema(text);
  } catch (const SchemaParseError&) {
    return 0;
  }
  std::string canonical = CanonicalForm(schema);
  std::uint64_t fingerprint = Fingerprint64(schema);
  Check(fingerprint == Fingerprint64(canonical), "fingerprint is of the canonical form", canonical);
  nlohmann::json full = ToJson(schema);
  Schema again;
  try {
    again = ParseSchema(full);
  } catch (const SchemaParseError& e) {
    Check(false, "full form re-parses", full.dump() + "\n" + e.what());
  }
  Check(CanonicalForm(again) == canonical, "full form keeps the canonical form", full.dump());
  Check(ToJson(again) == full, "full form is stable", full.dump());
  return 0;
}

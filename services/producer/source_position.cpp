#include "source_position.hpp"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"
#include "sluice/stages/csv_reader.hpp"

namespace sluice::producer {

std::string ComputeFileIdentity(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::InfraError(path + ": cannot open source file", core::Retry::kNo);
  std::string chunk(64 * 1024, '\0');
  std::uint64_t hash = 0;
  std::uint64_t size = 0;
  for (;;) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    hash = stages::StableHash64(std::string_view(chunk.data(), got), hash);
    size += got;
    if (got < chunk.size()) break;
  }
  if (in.bad()) throw core::InfraError(path + ": read error", core::Retry::kNo);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::to_string(size) + "-" + hex;
}

std::string PositionKey(const std::string& source, const std::string& identity) {
  return source + "/" + identity;
}

std::string EncodePosition(const SourcePosition& p) {
  nlohmann::json j = {{"source", p.source},       {"file", p.file},   {"identity", p.identity},
                      {"byte_offset", p.byte_offset}, {"line", p.line}, {"done", p.done},
                      {"records", p.records},     {"rejected", p.rejected}};
  return j.dump();
}

std::optional<SourcePosition> DecodePosition(const std::string& text, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<SourcePosition> {
    if (why) *why = w;
    return std::nullopt;
  };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  // get<uint64_t> would wrap a negative number silently: offsets must be unsigned JSON numbers.
  for (const char* field : {"byte_offset", "line", "records", "rejected"}) {
    if (j.contains(field) && !j[field].is_number_unsigned()) {
      return fail(std::string("bad position record: ") + field + " is not a non-negative integer");
    }
  }
  SourcePosition p;
  try {
    p.source = j.at("source").get<std::string>();
    p.file = j.value("file", std::string());
    p.identity = j.at("identity").get<std::string>();
    p.byte_offset = j.at("byte_offset").get<std::uint64_t>();
    p.line = j.at("line").get<std::uint64_t>();
    p.done = j.at("done").get<bool>();
    p.records = j.value("records", std::uint64_t{0});
    p.rejected = j.value("rejected", std::uint64_t{0});
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("bad position record: ") + e.what());
  }
  if (p.identity.empty()) return fail("bad position record: empty identity");
  if (p.line == 0) return fail("bad position record: line 0");
  return p;
}

}  // namespace sluice::producer

#pragma once
// The producer's provenance headers, beyond runtime's sluice-origin / sluice-source-ts: every
// record (row or DLQ) says which source read it and where. One list for every source plug-in.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/stages/row.hpp"

namespace sluice::producer {

inline constexpr const char* kHeaderSourceName = "sluice-source";          // the source's name
inline constexpr const char* kHeaderSourceFile = "sluice-source-file";     // csv: file name
inline constexpr const char* kHeaderSourceLine = "sluice-source-line";     // csv: 1-based line
inline constexpr const char* kHeaderSourceOffset = "sluice-source-offset"; // csv: byte offset
inline constexpr const char* kHeaderSourceUrl = "sluice-source-url";       // http: the request URL
inline constexpr const char* kHeaderSourcePage = "sluice-source-page";     // http: page number/token
inline constexpr const char* kHeaderSourceIndex = "sluice-source-index";   // http: record in page
inline constexpr const char* kHeaderSourceTable = "sluice-source-table";   // postgres, postgres_cdc: the table
inline constexpr const char* kHeaderSourceXmin = "sluice-source-xmin";     // postgres: the row's xmin
inline constexpr const char* kHeaderSourceOp = "sluice-source-op";         // postgres_cdc: c u d r t

inline std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The record key: the values of producer.key joined with '|' (null: empty).
inline std::string KeyOf(const stages::Row& row, const std::vector<std::string>& fields) {
  std::string key;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) key += '|';
    const stages::Value& v = row.Get(fields[i]);
    if (const auto* s = std::get_if<std::string>(&v)) key += *s;
    else if (!stages::IsNull(v)) key += stages::Describe(v);
  }
  return key;
}

}  // namespace sluice::producer

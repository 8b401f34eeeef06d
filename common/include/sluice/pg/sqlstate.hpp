#pragma once
// SQLSTATE classification: what the caller should do about a PostgreSQL error.
// The table and the reasoning behind each entry are in common/include/sluice/pg/README.md.
#include <string_view>

namespace sluice::pg {

enum class SqlStateClass {
  kRetryable,  // transient: reconnect or back off, then run the same unit of work again
  kBadRecord,  // this row's data is at fault: send it to the DLQ, keep the rest of the batch
  kFatal,      // retrying cannot help (auth, missing database, bad SQL, anything unknown)
};

// Classifies a five-character SQLSTATE. Anything malformed or unknown is kFatal, so that a new
// server error code stops the daemon loudly instead of silently dropping rows or spinning.
SqlStateClass Classify(std::string_view sqlstate) noexcept;

std::string_view ToString(SqlStateClass cls) noexcept;

}  // namespace sluice::pg

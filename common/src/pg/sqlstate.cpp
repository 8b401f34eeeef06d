#include "sluice/pg/sqlstate.hpp"

#include <array>

namespace sluice::pg {
namespace {

struct Rule {
  std::string_view code;  // five characters for an exact code, two for a whole class
  SqlStateClass cls;
};

// Exact codes win over their class; see README.md for why each entry is here.
constexpr std::array kExact{
    // Class 25: the session is in the wrong state. Only these three are about the server
    // (failover to a standby, server-side timeouts); the rest are our bugs.
    Rule{"25006", SqlStateClass::kRetryable},  // read_only_sql_transaction: hit a standby
    Rule{"25P03", SqlStateClass::kRetryable},  // idle_in_transaction_session_timeout
    Rule{"25P04", SqlStateClass::kRetryable},  // transaction_timeout (PostgreSQL 17)
    // Class 40: rollbacks are retryable, except a deferred constraint failing at commit.
    Rule{"40002", SqlStateClass::kBadRecord},  // transaction_integrity_constraint_violation
    // Class 42 is fatal (our SQL or the target schema is wrong) except a value whose type
    // does not fit its column.
    Rule{"42804", SqlStateClass::kBadRecord},  // datatype_mismatch
    // Class 54: a value too large for an index is the row's fault; other limits are ours.
    Rule{"54000", SqlStateClass::kBadRecord},  // program_limit_exceeded (index row size)
    // Class 55: only lock contention and busy objects go away by themselves.
    Rule{"55P03", SqlStateClass::kRetryable},  // lock_not_available
    Rule{"55006", SqlStateClass::kRetryable},  // object_in_use
    // Class 57: shutdowns and cancellations are transient; a dropped database is not.
    Rule{"57P04", SqlStateClass::kFatal},  // database_dropped
    // Class 58: I/O and system errors may be transient; missing/duplicate files are not.
    Rule{"58000", SqlStateClass::kRetryable},  // system_error
    Rule{"58030", SqlStateClass::kRetryable},  // io_error
    // PL/pgSQL RAISE EXCEPTION without a code: a validation trigger rejecting this row.
    Rule{"P0001", SqlStateClass::kBadRecord},  // raise_exception
};

constexpr std::array kByClass{
    Rule{"08", SqlStateClass::kRetryable},  // connection_exception
    Rule{"22", SqlStateClass::kBadRecord},  // data_exception
    Rule{"23", SqlStateClass::kBadRecord},  // integrity_constraint_violation
    Rule{"40", SqlStateClass::kRetryable},  // transaction_rollback (serialization, deadlock)
    Rule{"53", SqlStateClass::kRetryable},  // insufficient_resources (disk, memory, connections)
    Rule{"57", SqlStateClass::kRetryable},  // operator_intervention (shutdown, cancel)
    Rule{"72", SqlStateClass::kRetryable},  // snapshot_too_old
};

bool WellFormed(std::string_view sqlstate) {
  if (sqlstate.size() != 5) return false;
  for (char c : sqlstate) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

}  // namespace

SqlStateClass Classify(std::string_view sqlstate) noexcept {
  if (!WellFormed(sqlstate)) return SqlStateClass::kFatal;
  for (const auto& rule : kExact) {
    if (rule.code == sqlstate) return rule.cls;
  }
  for (const auto& rule : kByClass) {
    if (rule.code == sqlstate.substr(0, 2)) return rule.cls;
  }
  return SqlStateClass::kFatal;
}

std::string_view ToString(SqlStateClass cls) noexcept {
  switch (cls) {
    case SqlStateClass::kRetryable:
      return "retryable";
    case SqlStateClass::kBadRecord:
      return "bad_record";
    case SqlStateClass::kFatal:
      return "fatal";
  }
  return "fatal";
}

}  // namespace sluice::pg

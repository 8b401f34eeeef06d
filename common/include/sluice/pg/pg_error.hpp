#pragma once
// PostgreSQL failures as Sluice errors: every exception libpqxx throws is mapped to an SQLSTATE
// and a class, so callers decide on one value instead of a tree of pqxx exception types.
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/core/error.hpp"
#include "sluice/pg/sqlstate.hpp"

namespace sluice::pg {

// What went wrong in one database call. libpqxx 6.4 drops the SQLSTATE for some errors
// (connection loss, serialization failure, deadlock); those get the standard code back here.
struct PgFailure {
  std::string sqlstate;  // five characters, or empty when neither libpq nor pqxx gave one
  SqlStateClass cls = SqlStateClass::kFatal;
  bool connection_lost = false;  // the session is gone: reconnect before retrying
  std::string message;           // server message, trailing newlines removed
};

// Maps a pqxx exception; nullopt for exceptions that do not come from the database (those are
// bugs or the caller's own errors and must propagate unchanged).
std::optional<PgFailure> DescribeFailure(const std::exception& error);

// Maps the message of a failed connection attempt. libpq exposes no SQLSTATE for errors during
// connection start-up, so the server's well-known (English) messages are recognised: bad
// password or role → 28P01/28000, missing database → 3D000 (fatal, retrying cannot help);
// "too many clients" → 53300, starting up / shutting down → 57P03; anything else (refused,
// timeout, DNS) → 08001, retryable.
PgFailure DescribeConnectFailure(std::string_view message);

// A database error after Connection::Run gave up. Retryable() is true only for kRetryable
// errors whose retry budget is spent; the daemon exits and its supervisor restarts it.
class PgError : public core::InfraError {
 public:
  explicit PgError(PgFailure failure);
  const std::string& SqlState() const noexcept { return failure_.sqlstate; }
  SqlStateClass Class() const noexcept { return failure_.cls; }
  const std::string& ServerMessage() const noexcept { return failure_.message; }

 private:
  PgFailure failure_;
};

}  // namespace sluice::pg

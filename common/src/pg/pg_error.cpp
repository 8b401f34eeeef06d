#include "sluice/pg/pg_error.hpp"

#include <pqxx/except>

namespace sluice::pg {
namespace {

// One line: libpq messages carry newlines and tabs that break log lines and DLQ headers.
std::string Trim(std::string text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

PgFailure Make(std::string sqlstate, const std::exception& error, bool connection_lost) {
  PgFailure failure;
  failure.cls = Classify(sqlstate);
  failure.sqlstate = std::move(sqlstate);
  failure.connection_lost = connection_lost;
  failure.message = Trim(error.what());
  return failure;
}

std::string Describe(const PgFailure& f) {
  std::string text = "PostgreSQL error";
  if (!f.sqlstate.empty()) text += " " + f.sqlstate;
  text += " (" + std::string(ToString(f.cls)) + "): " + f.message;
  return text;
}

}  // namespace

std::optional<PgFailure> DescribeFailure(const std::exception& error) {
  // Most specific first: pqxx throws subclasses that lost their SQLSTATE in 6.4.
  if (dynamic_cast<const pqxx::too_many_connections*>(&error)) {
    return Make("53300", error, true);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&error)) {
    return Make("08006", error, true);  // connection_failure
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error)) {
    // The connection died during COMMIT; the server may or may not have committed.
    return Make("08007", error, true);  // transaction_resolution_unknown
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
    return Make(sql->sqlstate(), error, false);
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&error)) {
    return Make("40001", error, false);
  }
  if (dynamic_cast<const pqxx::deadlock_detected*>(&error)) {
    return Make("40P01", error, false);
  }
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&error)) {
    return Make("40003", error, false);
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&error)) {
    return Make("40000", error, false);
  }
  if (dynamic_cast<const pqxx::failure*>(&error)) {
    // pqxx's own failures without a server code (for example a COPY write that failed).
    // The caller checks whether the session survived; if it did, the cause is unknown: fatal.
    return Make("", error, false);
  }
  return std::nullopt;
}

PgFailure DescribeConnectFailure(std::string_view message) {
  struct Pattern {
    std::string_view text;
    std::string_view sqlstate;
  };
  // Server start-up messages (src/backend/libpq/auth.c, postinit.c, postmaster.c).
  static constexpr Pattern kPatterns[] = {
      {"password authentication failed", "28P01"},
      {"no pg_hba.conf entry", "28000"},
      {"authentication failed", "28000"},
      {"role \"", "28000"},  // role "x" does not exist / is not permitted to log in
      {"database \"", "3D000"},  // database "x" does not exist
      {"too many clients", "53300"},
      {"remaining connection slots are reserved", "53300"},
      {"the database system is starting up", "57P03"},
      {"the database system is shutting down", "57P03"},
      {"the database system is in recovery mode", "57P03"},
      {"the database system is not yet accepting connections", "57P03"},
  };
  std::string sqlstate = "08001";  // sqlclient_unable_to_establish_sqlconnection
  for (const auto& pattern : kPatterns) {
    if (message.find(pattern.text) != std::string_view::npos) {
      sqlstate = std::string(pattern.sqlstate);
      break;
    }
  }
  PgFailure failure;
  failure.cls = Classify(sqlstate);
  failure.sqlstate = std::move(sqlstate);
  failure.connection_lost = true;
  failure.message = Trim(std::string(message));
  return failure;
}

PgError::PgError(PgFailure failure)
    : core::InfraError(Describe(failure), failure.cls == SqlStateClass::kRetryable
                                              ? core::Retry::kYes
                                              : core::Retry::kNo),
      failure_(std::move(failure)) {}

}  // namespace sluice::pg

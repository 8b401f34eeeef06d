#include "sluice/pg/sqlstate.hpp"

#include <catch2/catch.hpp>

#include <pqxx/except>

#include "sluice/pg/pg_error.hpp"

using sluice::pg::Classify;
using sluice::pg::DescribeConnectFailure;
using sluice::pg::DescribeFailure;
using sluice::pg::SqlStateClass;

namespace {

struct Case {
  const char* sqlstate;
  SqlStateClass expected;
  const char* why;
};

// The README table, row by row. A change to the classification must change this table too.
const Case kCases[] = {
    // connection exceptions: reconnect
    {"08000", SqlStateClass::kRetryable, "connection_exception"},
    {"08003", SqlStateClass::kRetryable, "connection_does_not_exist"},
    {"08006", SqlStateClass::kRetryable, "connection_failure"},
    {"08001", SqlStateClass::kRetryable, "sqlclient_unable_to_establish_sqlconnection"},
    {"08004", SqlStateClass::kRetryable, "sqlserver_rejected_establishment_of_sqlconnection"},
    {"08007", SqlStateClass::kRetryable, "transaction_resolution_unknown"},
    {"08P01", SqlStateClass::kRetryable, "protocol_violation"},
    // transaction rollback
    {"40000", SqlStateClass::kRetryable, "transaction_rollback"},
    {"40001", SqlStateClass::kRetryable, "serialization_failure"},
    {"40003", SqlStateClass::kRetryable, "statement_completion_unknown"},
    {"40P01", SqlStateClass::kRetryable, "deadlock_detected"},
    {"40002", SqlStateClass::kBadRecord, "transaction_integrity_constraint_violation"},
    // insufficient resources
    {"53000", SqlStateClass::kRetryable, "insufficient_resources"},
    {"53100", SqlStateClass::kRetryable, "disk_full"},
    {"53200", SqlStateClass::kRetryable, "out_of_memory"},
    {"53300", SqlStateClass::kRetryable, "too_many_connections"},
    {"53400", SqlStateClass::kRetryable, "configuration_limit_exceeded"},
    // operator intervention
    {"57000", SqlStateClass::kRetryable, "operator_intervention"},
    {"57014", SqlStateClass::kRetryable, "query_canceled"},
    {"57P01", SqlStateClass::kRetryable, "admin_shutdown"},
    {"57P02", SqlStateClass::kRetryable, "crash_shutdown"},
    {"57P03", SqlStateClass::kRetryable, "cannot_connect_now"},
    {"57P05", SqlStateClass::kRetryable, "idle_session_timeout"},
    {"57P04", SqlStateClass::kFatal, "database_dropped"},
    // object state
    {"55P03", SqlStateClass::kRetryable, "lock_not_available"},
    {"55006", SqlStateClass::kRetryable, "object_in_use"},
    {"55000", SqlStateClass::kFatal, "object_not_in_prerequisite_state"},
    // invalid transaction state
    {"25006", SqlStateClass::kRetryable, "read_only_sql_transaction (standby after failover)"},
    {"25P03", SqlStateClass::kRetryable, "idle_in_transaction_session_timeout"},
    {"25P04", SqlStateClass::kRetryable, "transaction_timeout"},
    {"25001", SqlStateClass::kFatal, "active_sql_transaction"},
    {"25P02", SqlStateClass::kFatal, "in_failed_sql_transaction"},
    // system errors
    {"58000", SqlStateClass::kRetryable, "system_error"},
    {"58030", SqlStateClass::kRetryable, "io_error"},
    {"58P01", SqlStateClass::kFatal, "undefined_file"},
    {"72000", SqlStateClass::kRetryable, "snapshot_too_old"},
    // data exceptions: the row is bad
    {"22000", SqlStateClass::kBadRecord, "data_exception"},
    {"22001", SqlStateClass::kBadRecord, "string_data_right_truncation"},
    {"22003", SqlStateClass::kBadRecord, "numeric_value_out_of_range"},
    {"22007", SqlStateClass::kBadRecord, "invalid_datetime_format"},
    {"22008", SqlStateClass::kBadRecord, "datetime_field_overflow"},
    {"22012", SqlStateClass::kBadRecord, "division_by_zero"},
    {"22021", SqlStateClass::kBadRecord, "character_not_in_repertoire"},
    {"22P02", SqlStateClass::kBadRecord, "invalid_text_representation"},
    {"22P05", SqlStateClass::kBadRecord, "untranslatable_character"},
    // integrity constraints: the row is bad
    {"23000", SqlStateClass::kBadRecord, "integrity_constraint_violation"},
    {"23001", SqlStateClass::kBadRecord, "restrict_violation"},
    {"23502", SqlStateClass::kBadRecord, "not_null_violation"},
    {"23503", SqlStateClass::kBadRecord, "foreign_key_violation"},
    {"23505", SqlStateClass::kBadRecord, "unique_violation"},
    {"23514", SqlStateClass::kBadRecord, "check_violation"},
    {"23P01", SqlStateClass::kBadRecord, "exclusion_violation"},
    {"42804", SqlStateClass::kBadRecord, "datatype_mismatch"},
    {"54000", SqlStateClass::kBadRecord, "program_limit_exceeded (index row too large)"},
    {"P0001", SqlStateClass::kBadRecord, "raise_exception (validation trigger)"},
    // fatal: configuration, our SQL, the server itself
    {"28000", SqlStateClass::kFatal, "invalid_authorization_specification"},
    {"28P01", SqlStateClass::kFatal, "invalid_password"},
    {"3D000", SqlStateClass::kFatal, "invalid_catalog_name (database does not exist)"},
    {"3F000", SqlStateClass::kFatal, "invalid_schema_name"},
    {"42000", SqlStateClass::kFatal, "syntax_error_or_access_rule_violation"},
    {"42501", SqlStateClass::kFatal, "insufficient_privilege"},
    {"42601", SqlStateClass::kFatal, "syntax_error"},
    {"42703", SqlStateClass::kFatal, "undefined_column"},
    {"42883", SqlStateClass::kFatal, "undefined_function"},
    {"42P01", SqlStateClass::kFatal, "undefined_table"},
    {"42P07", SqlStateClass::kFatal, "duplicate_table"},
    {"54001", SqlStateClass::kFatal, "statement_too_complex"},
    {"0A000", SqlStateClass::kFatal, "feature_not_supported"},
    {"XX000", SqlStateClass::kFatal, "internal_error"},
    {"XX001", SqlStateClass::kFatal, "data_corrupted"},
    {"P0002", SqlStateClass::kFatal, "no_data_found"},
    {"HV000", SqlStateClass::kFatal, "fdw_error"},
    {"99999", SqlStateClass::kFatal, "unknown code"},
};

}  // namespace

TEST_CASE("SQLSTATE classification table") {
  for (const auto& c : kCases) {
    INFO(c.sqlstate << " " << c.why);
    CHECK(Classify(c.sqlstate) == c.expected);
  }
}

TEST_CASE("malformed SQLSTATEs are fatal, never retried or blamed on a record") {
  for (const char* bad : {"", "2", "22", "2200", "220000", "22p02", "22 02", "08\n06"}) {
    INFO('"' << bad << '"');
    CHECK(Classify(bad) == SqlStateClass::kFatal);
  }
}

TEST_CASE("pqxx exceptions that lost their SQLSTATE get the standard code back") {
  auto describe = [](const std::exception& e) {
    auto d = DescribeFailure(e);
    REQUIRE(d.has_value());
    return *d;
  };
  auto lost = describe(pqxx::broken_connection("server closed the connection unexpectedly\n"));
  CHECK(lost.sqlstate == "08006");
  CHECK(lost.cls == SqlStateClass::kRetryable);
  CHECK(lost.connection_lost);
  CHECK(lost.message == "server closed the connection unexpectedly");

  CHECK(describe(pqxx::serialization_failure("x")).sqlstate == "40001");
  CHECK(describe(pqxx::deadlock_detected("x")).sqlstate == "40P01");
  CHECK(describe(pqxx::statement_completion_unknown("x")).sqlstate == "40003");
  CHECK(describe(pqxx::too_many_connections("x")).sqlstate == "53300");
  CHECK(describe(pqxx::in_doubt_error("x")).sqlstate == "08007");
  CHECK(describe(pqxx::in_doubt_error("x")).connection_lost);

  auto unique = describe(pqxx::unique_violation("dup", "INSERT", "23505"));
  CHECK(unique.sqlstate == "23505");
  CHECK(unique.cls == SqlStateClass::kBadRecord);
  CHECK_FALSE(unique.connection_lost);

  CHECK_FALSE(DescribeFailure(std::runtime_error("not a database error")).has_value());
  CHECK_FALSE(DescribeFailure(pqxx::usage_error("programmer error")).has_value());
}

TEST_CASE("connection start-up failures are classified from the server message") {
  auto sqlstate = [](const char* message) { return DescribeConnectFailure(message).sqlstate; };
  CHECK(sqlstate("connection to server at \"127.0.0.1\", port 15432 failed: FATAL:  password "
                 "authentication failed for user \"sluice\"") == "28P01");
  CHECK(sqlstate("FATAL:  database \"nope\" does not exist") == "3D000");
  CHECK(sqlstate("FATAL:  role \"nobody\" does not exist") == "28000");
  CHECK(sqlstate("FATAL:  no pg_hba.conf entry for host \"10.0.0.1\"") == "28000");
  CHECK(sqlstate("FATAL:  the database system is starting up") == "57P03");
  CHECK(sqlstate("FATAL:  sorry, too many clients already") == "53300");
  CHECK(sqlstate("connection to server at \"127.0.0.1\", port 1 failed: Connection refused") ==
        "08001");
  CHECK(DescribeConnectFailure("FATAL:  password authentication failed").cls ==
        SqlStateClass::kFatal);
  CHECK(DescribeConnectFailure("Connection refused").cls == SqlStateClass::kRetryable);
}

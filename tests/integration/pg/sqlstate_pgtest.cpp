// The classification of errors that the real server raises: each statement below is run in its
// own transaction, fails, and the failure must map to the expected SQLSTATE and class.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include "pg_test_env.hpp"
#include "sluice/pg/connection.hpp"
#include "sluice/pg/pg_error.hpp"

using sluice::pg::Connection;
using sluice::pg::ConnectionOptions;
using sluice::pg::DescribeFailure;
using sluice::pg::PgError;
using sluice::pg::PgFailure;
using sluice::pg::SqlStateClass;
using sluice::pg::testing::RequirePgConninfo;
using sluice::pg::testing::UniqueName;

namespace {

// Runs sql in a fresh transaction on c and returns how it failed.
PgFailure FailureOf(pqxx::connection& c, const std::string& sql) {
  try {
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  } catch (const std::exception& e) {
    auto failure = DescribeFailure(e);
    REQUIRE(failure.has_value());
    return *failure;
  }
  FAIL("statement succeeded: " << sql);
  return {};
}

}  // namespace

TEST_CASE("real server errors are classified") {
  pqxx::connection c(RequirePgConninfo());
  {
    pqxx::work tx(c);
    tx.exec(
        "CREATE TEMP TABLE parent (id integer PRIMARY KEY);"
        "INSERT INTO parent VALUES (1);"
        "CREATE TEMP TABLE t ("
        "  id integer PRIMARY KEY,"
        "  name text NOT NULL,"
        "  qty integer CHECK (qty >= 0),"
        "  small smallint,"
        "  parent_id integer REFERENCES parent(id));"
        "INSERT INTO t VALUES (1, 'a', 1, 1, 1);");
    tx.commit();
  }

  struct Case {
    const char* what;
    const char* sql;
    const char* sqlstate;
    SqlStateClass cls;
  };
  const Case cases[] = {
      {"unique violation", "INSERT INTO t VALUES (1, 'b', 1, 1, 1)", "23505",
       SqlStateClass::kBadRecord},
      {"not-null violation", "INSERT INTO t VALUES (2, NULL, 1, 1, 1)", "23502",
       SqlStateClass::kBadRecord},
      {"check violation", "INSERT INTO t VALUES (3, 'c', -1, 1, 1)", "23514",
       SqlStateClass::kBadRecord},
      {"foreign key violation", "INSERT INTO t VALUES (4, 'd', 1, 1, 99)", "23503",
       SqlStateClass::kBadRecord},
      {"invalid text representation", "INSERT INTO t VALUES ('x', 'e', 1, 1, 1)", "22P02",
       SqlStateClass::kBadRecord},
      {"numeric out of range", "INSERT INTO t VALUES (5, 'f', 1, 70000, 1)", "22003",
       SqlStateClass::kBadRecord},
      {"division by zero", "SELECT 1 / 0", "22012", SqlStateClass::kBadRecord},
      {"invalid datetime", "SELECT '2024-13-45'::date", "22008", SqlStateClass::kBadRecord},
      {"datatype mismatch", "INSERT INTO t (id, name, qty) SELECT 6, 'g', now()", "42804",
       SqlStateClass::kBadRecord},
      {"undefined table", "SELECT * FROM no_such_table_sluice", "42P01", SqlStateClass::kFatal},
      {"syntax error", "SELEC 1", "42601", SqlStateClass::kFatal},
      {"undefined column", "SELECT no_such_column FROM t", "42703", SqlStateClass::kFatal},
      {"query canceled by statement_timeout",
       "SET LOCAL statement_timeout = '1ms'; SELECT pg_sleep(1)", "57014",
       SqlStateClass::kRetryable},
  };
  for (const auto& c_ : cases) {
    INFO(c_.what << ": " << c_.sql);
    const auto failure = FailureOf(c, c_.sql);
    INFO(failure.message);
    CHECK(failure.sqlstate == c_.sqlstate);
    CHECK(failure.cls == c_.cls);
    CHECK_FALSE(failure.connection_lost);
  }
}

TEST_CASE("real serialization failures and lock timeouts are retryable") {
  const std::string conninfo = RequirePgConninfo();
  const std::string table = UniqueName("sluice_test_sqlstate");
  pqxx::connection a(conninfo);
  pqxx::connection b(conninfo);
  const std::string quoted = a.quote_name(table);
  {
    pqxx::work tx(a);
    tx.exec("CREATE TABLE " + quoted + " (id integer PRIMARY KEY, v integer)");
    tx.exec("INSERT INTO " + quoted + " VALUES (1, 0)");
    tx.commit();
  }

  SECTION("40001: a repeatable-read update after a concurrent committed update") {
    pqxx::work ta(a);
    ta.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    ta.exec("SELECT v FROM " + quoted + " WHERE id = 1");  // takes the snapshot
    {
      pqxx::work tb(b);
      tb.exec("UPDATE " + quoted + " SET v = 1 WHERE id = 1");
      tb.commit();
    }
    try {
      ta.exec("UPDATE " + quoted + " SET v = 2 WHERE id = 1");
      FAIL("no serialization failure");
    } catch (const std::exception& e) {
      const auto failure = DescribeFailure(e);
      REQUIRE(failure.has_value());
      CHECK(failure->sqlstate == "40001");
      CHECK(failure->cls == SqlStateClass::kRetryable);
    }
  }

  SECTION("55P03: lock_timeout while another session holds the lock") {
    pqxx::work holder(a);
    holder.exec("LOCK TABLE " + quoted + " IN ACCESS EXCLUSIVE MODE");
    const auto failure =
        FailureOf(b, "SET LOCAL lock_timeout = '10ms'; SELECT * FROM " + quoted);
    CHECK(failure.sqlstate == "55P03");
    CHECK(failure.cls == SqlStateClass::kRetryable);
    holder.abort();
  }

  pqxx::work tx(a);
  tx.exec("DROP TABLE " + quoted);
  tx.commit();
}

TEST_CASE("Connection::Run surfaces real bad-record and fatal errors as PgError") {
  Connection conn(ConnectionOptions{RequirePgConninfo()});
  auto error_of = [&](const std::string& sql) -> PgError {
    try {
      conn.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        tx.exec(sql);
        tx.commit();
      });
    } catch (const PgError& e) {
      return e;
    }
    FAIL("statement succeeded: " << sql);
    throw std::logic_error("unreachable");
  };
  const auto not_null = error_of("SELECT NULL::integer FROM (VALUES (1)) v WHERE 1/0 = 1");
  CHECK(not_null.SqlState() == "22012");
  CHECK(not_null.Class() == SqlStateClass::kBadRecord);
  const auto fatal = error_of("SELECT * FROM no_such_table_sluice");
  CHECK(fatal.SqlState() == "42P01");
  CHECK(fatal.Class() == SqlStateClass::kFatal);
  CHECK_FALSE(fatal.Retryable());
  CHECK(std::string(fatal.what()).find("42P01") != std::string::npos);
}

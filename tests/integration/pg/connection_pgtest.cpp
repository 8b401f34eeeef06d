// Connection against the real PostgreSQL of the local stack: reconnects, budgets, Ping.
#include "sluice/pg/connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <pqxx/pqxx>

#include "pg_test_env.hpp"

using sluice::pg::Connection;
using sluice::pg::ConnectionOptions;
using sluice::pg::PgError;
using sluice::pg::SqlStateClass;
using sluice::pg::testing::RequirePgConninfo;

namespace {

int BackendPid(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
}

// A loopback port nobody listens on: bind an ephemeral port, then release it.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Counts the waits instead of sleeping, so budget tests are fast and check the attempt count.
struct CountingSleep {
  int* calls;
  void operator()(sluice::core::Duration) const { ++*calls; }
};

}  // namespace

TEST_CASE("Run reconnects after the PostgreSQL server restarts") {
  ConnectionOptions options;
  options.conninfo = RequirePgConninfo();
  options.budget.max_attempts = 60;
  options.budget.max_elapsed = std::chrono::seconds(120);
  options.budget.max_backoff = std::chrono::seconds(2);
  Connection conn(options);

  const int before = conn.Run(BackendPid);
  CHECK(conn.Reconnects() == 0);

  const std::string stack = std::string(SLUICE_SOURCE_DIR) + "/deploy/local/stack restart-pg";
  INFO("running " << stack);
  REQUIRE(std::system(stack.c_str()) == 0);

  // The old session is dead: the first attempt fails with a broken connection, Run reconnects
  // and runs the unit of work again on a new backend.
  const int after = conn.Run(BackendPid);
  CHECK(after != before);
  CHECK(conn.Reconnects() >= 1);
}

TEST_CASE("a session killed by the server is re-established and the unit of work re-run") {
  ConnectionOptions options;
  options.conninfo = RequirePgConninfo();
  options.budget.initial_backoff = std::chrono::milliseconds(10);
  Connection conn(options);

  int attempts = 0;
  int first_pid = 0;
  const int pid = conn.Run([&](pqxx::connection& c) {
    ++attempts;
    if (attempts == 1) {
      first_pid = BackendPid(c);
      pqxx::nontransaction tx(c);
      tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");  // admin_shutdown, 57P01
    }
    return BackendPid(c);
  });
  CHECK(attempts == 2);
  CHECK(pid != first_pid);
  CHECK(conn.Reconnects() == 1);
}

TEST_CASE("empty conninfo lets libpq read the PG* variables") {
  if (std::getenv("PGHOST") == nullptr) FAIL("PGHOST is not set: eval \"$(deploy/local/stack env)\"");
  Connection conn(ConnectionOptions{});
  CHECK(conn.Run([](pqxx::connection& c) { return std::string(c.port()); }) ==
        std::string(std::getenv("PGPORT") ? std::getenv("PGPORT") : "5432"));
  CHECK(conn.EffectiveConninfo().find("connect_timeout=") != std::string::npos);
}

TEST_CASE("a closed port exhausts the budget and throws a retryable InfraError") {
  const int port = ClosedPort();
  int sleeps = 0;
  ConnectionOptions options;
  options.conninfo = "postgresql://sluice:sluice@127.0.0.1:" + std::to_string(port) + "/sluice";
  options.budget.max_attempts = 4;
  options.sleep = CountingSleep{&sleeps};
  Connection conn(options);

  int ran = 0;
  try {
    conn.Run([&](pqxx::connection&) { ++ran; });
    FAIL("Run succeeded against a closed port " << port);
  } catch (const PgError& e) {
    CHECK(e.Retryable());
    CHECK(e.SqlState() == "08001");
    CHECK(e.Class() == SqlStateClass::kRetryable);
    CHECK(std::string(e.what()).find("gave up after 4 attempts") != std::string::npos);
  }
  // The same error must be catchable as the shared infrastructure error.
  CHECK_THROWS_MATCHES(conn.Connect(), sluice::core::InfraError,
                       Catch::Matchers::Predicate<sluice::core::InfraError>(
                           [](const auto& e) { return e.Retryable(); }, "retryable"));
  CHECK(ran == 0);
  CHECK(sleeps == 3 + 3);  // attempts - 1 waits per Run
  CHECK_FALSE(conn.Ping());
}

TEST_CASE("until_stopped: a closed port is retried past the budget until sleep throws") {
  const int port = ClosedPort();
  int sleeps = 0;
  ConnectionOptions options;
  options.conninfo = "postgresql://sluice:sluice@127.0.0.1:" + std::to_string(port) + "/sluice";
  options.budget.max_attempts = 2;
  options.budget.until_stopped = true;
  // The caller's shutdown, after 7 waits: far past the 2 attempts of the budget.
  options.sleep = [&sleeps](sluice::core::Duration) {
    if (++sleeps == 7) throw sluice::core::InfraError("stopped", sluice::core::Retry::kNo);
  };
  Connection conn(options);
  int ran = 0;
  CHECK_THROWS_WITH(conn.Run([&](pqxx::connection&) { ++ran; }), "stopped");
  CHECK(sleeps == 7);
  CHECK(ran == 0);
}

TEST_CASE("wrong password and unknown database are fatal at once, without retries") {
  const std::string base = RequirePgConninfo();
  const char* host = std::getenv("PGHOST");
  const char* port = std::getenv("PGPORT");
  if (host == nullptr || port == nullptr) FAIL("PGHOST/PGPORT must be set");
  const std::string prefix = std::string("host=") + host + " port=" + port;
  int sleeps = 0;

  auto expect_fatal = [&](const std::string& conninfo, const char* sqlstate) {
    ConnectionOptions options;
    options.conninfo = conninfo;
    options.sleep = CountingSleep{&sleeps};
    Connection conn(options);
    try {
      conn.Connect();
      FAIL("connected with " << conninfo);
    } catch (const PgError& e) {
      INFO(e.what());
      CHECK_FALSE(e.Retryable());
      CHECK(e.SqlState() == sqlstate);
      CHECK(e.Class() == SqlStateClass::kFatal);
    }
  };
  expect_fatal(prefix + " user=sluice password=definitely-wrong dbname=sluice", "28P01");
  expect_fatal(prefix + " user=sluice password=sluice dbname=no_such_db_sluice", "3D000");
  CHECK(sleeps == 0);
}

TEST_CASE("Ping reports a reachable server without opening a session") {
  Connection conn(ConnectionOptions{RequirePgConninfo()});
  CHECK(conn.Ping());
  CHECK(conn.Reconnects() == 0);
}

TEST_CASE("a bad-record error inside the unit of work is not retried") {
  Connection conn(ConnectionOptions{RequirePgConninfo()});
  int attempts = 0;
  try {
    conn.Run([&](pqxx::connection& c) {
      ++attempts;
      pqxx::work tx(c);
      tx.exec("SELECT 'not a number'::integer");
      tx.commit();
    });
    FAIL("invalid integer was accepted");
  } catch (const PgError& e) {
    CHECK(e.SqlState() == "22P02");
    CHECK(e.Class() == SqlStateClass::kBadRecord);
    CHECK_FALSE(e.Retryable());
  }
  CHECK(attempts == 1);
  // The session survived the error and is reused.
  CHECK(conn.Run([](pqxx::connection& c) { return BackendPid(c); }) > 0);
  CHECK(conn.Reconnects() == 0);
}

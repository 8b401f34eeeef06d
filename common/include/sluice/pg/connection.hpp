#pragma once
// One PostgreSQL session that survives server restarts: Run() executes a unit of work and, when
// the session breaks or the server answers with a retryable SQLSTATE, reconnects with
// exponential backoff and runs the unit of work again until the retry budget is spent.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <pqxx/connection>
#include <pqxx/errorhandler>

#include "sluice/core/duration.hpp"
#include "sluice/pg/pg_error.hpp"

namespace sluice::pg {

// How long Run() keeps trying before it gives up with a retryable PgError. A new attempt starts
// only while both limits hold; backoff doubles from initial_backoff up to max_backoff, with
// jitter so that several daemons restarted together do not reconnect in lockstep.
struct RetryBudget {
  int max_attempts = 10;  // per Run() call, the first attempt included
  core::Duration max_elapsed = std::chrono::seconds(60);
  core::Duration initial_backoff = std::chrono::milliseconds(200);
  core::Duration max_backoff = std::chrono::seconds(10);
  // A running stage that must outlast an outage of any length: Run() never gives up on a
  // retryable failure; past the limits above each retry is logged as an error instead of a
  // warning. It ends only when ConnectionOptions::sleep throws (the caller's shutdown).
  bool until_stopped = false;
};

struct ConnectionOptions {
  // libpq connection string (URL or key=value). Empty: libpq reads PGHOST, PGPORT, PGUSER,
  // PGPASSWORD, PGDATABASE and the other PG* variables. See ConninfoFromEnv().
  std::string conninfo;
  RetryBudget budget;
  // Added to the connection string unless it (or PGCONNECT_TIMEOUT) already sets one, so that a
  // black-holed server costs one attempt instead of hanging the daemon forever.
  std::chrono::seconds connect_timeout{10};
  std::string application_name = "sluice";
  // Called to wait between attempts; the runtime swaps in a wait that ends early on shutdown
  // (by throwing). Defaults to std::this_thread::sleep_for.
  std::function<void(core::Duration)> sleep;
};

// SLUICE_PG_URL if set, else "" (libpq then reads the PG* variables itself).
std::string ConninfoFromEnv();

// Owns one pqxx::connection. Not thread-safe: one thread runs units of work; Ping() alone may be
// called from another thread (it opens no session and touches no member but the options).
// Lifecycle: constructed disconnected; the first Run()/Connect() connects; the destructor closes.
class Connection {
 public:
  explicit Connection(ConnectionOptions options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs fn(pqxx::connection&) and returns its result. fn owns its transaction (pqxx::work) and
  // must be safe to run again from the start: it is re-run after a broken connection or a
  // retryable SQLSTATE, including a connection lost during COMMIT (08007), when the server may
  // have committed already — Sluice's units of work are idempotent upserts for that reason.
  // Throws PgError: Retryable() when the budget is spent, otherwise at once with the SQLSTATE
  // and class (kBadRecord, kFatal). Exceptions not from the database propagate unchanged.
  template <typename Fn>
  std::invoke_result_t<Fn&, pqxx::connection&> Run(Fn&& fn) {
    using Result = std::invoke_result_t<Fn&, pqxx::connection&>;
    if constexpr (std::is_void_v<Result>) {
      RunErased([&fn](pqxx::connection& c) { fn(c); });
    } else {
      std::optional<Result> out;
      RunErased([&fn, &out](pqxx::connection& c) { out.emplace(fn(c)); });
      return std::move(*out);
    }
  }

  // Connects now (within the retry budget) instead of on the first Run().
  void Connect();

  // True when the server accepts connections (libpq's PQping: no session, no authentication).
  // For /readyz; never throws, safe to call from any thread.
  bool Ping() const noexcept;

  // How many times the session was re-established after the first connect (for metrics/tests).
  std::uint64_t Reconnects() const noexcept { return reconnects_; }

  // The connection string actually used (connect_timeout and application_name added).
  const std::string& EffectiveConninfo() const noexcept { return conninfo_; }

 private:
  void RunErased(const std::function<void(pqxx::connection&)>& fn);
  pqxx::connection& EnsureConnected();
  void Drop() noexcept;

  ConnectionOptions options_;
  std::string conninfo_;
  std::uint64_t connects_ = 0;
  std::uint64_t reconnects_ = 0;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::errorhandler> notices_;  // server notices → log; registered on conn_
};

}  // namespace sluice::pg

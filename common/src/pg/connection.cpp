#include "sluice/pg/connection.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <random>
#include <thread>

#include <pqxx/except>

namespace sluice::pg {
namespace {

using Clock = std::chrono::steady_clock;

bool IsUrl(const std::string& conninfo) {
  return conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
}

bool EnvSet(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

std::string PercentEncode(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string QuoteKeyValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Adds a parameter unless the connection string or the environment already sets it: whatever
// the operator configured wins.
void AddParam(std::string& conninfo, const std::string& key, const std::string& value,
              const char* env_name) {
  if (value.empty() || EnvSet(env_name) || conninfo.find(key + "=") != std::string::npos) return;
  if (IsUrl(conninfo)) {
    conninfo += conninfo.find('?') == std::string::npos ? '?' : '&';
    conninfo += key + "=" + PercentEncode(value);
  } else {
    if (!conninfo.empty()) conninfo += ' ';
    conninfo += key + "=" + QuoteKeyValue(value);
  }
}

core::Duration Backoff(const RetryBudget& budget, int attempt) {
  auto delay = budget.initial_backoff;
  for (int i = 1; i < attempt && delay < budget.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, budget.max_backoff);
  // Equal jitter: at least half the delay, so backoff still grows, plus a random half.
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto half = delay.count() / 2;
  std::uniform_int_distribution<core::Duration::rep> jitter(0, half);
  return core::Duration(delay.count() - half + jitter(rng));
}

// Server NOTICEs and WARNINGs go to the log (debug/warn) instead of pqxx's default, stderr, which
// would break JSON log lines.
class NoticeLogger : public pqxx::errorhandler {
 public:
  explicit NoticeLogger(pqxx::connection_base& conn) : pqxx::errorhandler(conn) {}
  bool operator()(const char message[]) noexcept override {
    try {
      std::string_view text(message);
      while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
      if (text.rfind("WARNING", 0) == 0) {
        spdlog::warn("postgres: {}", text);
      } else {
        spdlog::debug("postgres: {}", text);
      }
    } catch (...) {
      // Logging must never throw into libpq's notice callback.
    }
    return false;  // handled: do not pass on to pqxx's stderr printer
  }
};

}  // namespace

std::string ConninfoFromEnv() {
  const char* url = std::getenv("SLUICE_PG_URL");
  return url != nullptr ? std::string(url) : std::string();
}

Connection::Connection(ConnectionOptions options) : options_(std::move(options)) {
  conninfo_ = options_.conninfo;
  if (options_.connect_timeout.count() > 0) {
    AddParam(conninfo_, "connect_timeout", std::to_string(options_.connect_timeout.count()),
             "PGCONNECT_TIMEOUT");
  }
  AddParam(conninfo_, "application_name", options_.application_name, "PGAPPNAME");
  if (!options_.sleep) {
    options_.sleep = [](core::Duration d) { std::this_thread::sleep_for(d); };
  }
}

Connection::~Connection() { Drop(); }

void Connection::Drop() noexcept {
  notices_.reset();  // unregisters from conn_, so it must go first
  if (conn_) {
    conn_->disconnect();
    conn_.reset();
  }
}

pqxx::connection& Connection::EnsureConnected() {
  if (conn_ && conn_->is_open()) return *conn_;
  Drop();
  conn_ = std::make_unique<pqxx::connection>(conninfo_);
  // pqxx 6 would silently reconnect a broken session on next use, losing TEMP staging tables
  // and session state mid-unit; Run() owns that decision (backoff, budget, re-running the
  // whole unit of work), so switch it off. Deprecated only because pqxx 7 dropped the feature.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  notices_ = std::make_unique<NoticeLogger>(*conn_);
  if (connects_++ > 0) ++reconnects_;
  return *conn_;
}

void Connection::Connect() {
  RunErased([](pqxx::connection&) {});
}

bool Connection::Ping() const noexcept { return PQping(conninfo_.c_str()) == PQPING_OK; }

void Connection::RunErased(const std::function<void(pqxx::connection&)>& fn) {
  const auto start = Clock::now();
  const auto& budget = options_.budget;
  for (int attempt = 1;; ++attempt) {
    PgFailure failure;
    try {
      pqxx::connection* conn = nullptr;
      try {
        conn = &EnsureConnected();
      } catch (const pqxx::broken_connection& e) {
        throw PgError(DescribeConnectFailure(e.what()));
      }
      fn(*conn);
      return;
    } catch (const PgError& e) {
      // From our connect above, or a nested Run(): already classified.
      if (!e.Retryable()) throw;
      failure.sqlstate = e.SqlState();
      failure.cls = e.Class();
      failure.message = e.ServerMessage();
      failure.connection_lost = true;
    } catch (const std::exception& e) {
      auto described = DescribeFailure(e);
      if (!described) throw;
      failure = std::move(*described);
      if (!failure.connection_lost && conn_ && !conn_->is_open()) {
        // The server ended the session (admin shutdown, crash) while answering us.
        failure.connection_lost = true;
        if (failure.sqlstate.empty()) {
          failure.sqlstate = "08006";
          failure.cls = Classify(failure.sqlstate);
        }
      }
      if (failure.cls != SqlStateClass::kRetryable) throw PgError(std::move(failure));
    }
    if (failure.connection_lost) Drop();

    const auto elapsed = std::chrono::duration_cast<core::Duration>(Clock::now() - start);
    const bool spent = attempt >= budget.max_attempts || elapsed >= budget.max_elapsed;
    if (spent && !budget.until_stopped) {
      failure.message += " (gave up after " + std::to_string(attempt) + " attempts in " +
                         core::FormatDuration(elapsed) + ")";
      throw PgError(std::move(failure));
    }
    const auto delay = spent ? Backoff(budget, attempt)
                             : std::min(Backoff(budget, attempt), budget.max_elapsed - elapsed);
    if (spent) {
      spdlog::error("postgres: {} {} (attempt {}, {} so far: past the retry budget), retrying in {} "
                    "until it is back",
                    failure.sqlstate, failure.message, attempt, core::FormatDuration(elapsed),
                    core::FormatDuration(delay));
    } else {
      spdlog::warn("postgres: {} {} (attempt {}/{}), retrying in {}", failure.sqlstate,
                   failure.message, attempt, budget.max_attempts, core::FormatDuration(delay));
    }
    options_.sleep(delay);
  }
}

}  // namespace sluice::pg

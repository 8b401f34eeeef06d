#pragma once
// The enricher's stage logic: steps from the pipeline file (enricher.steps) add fields to a
// clean row, then the row is typed into the enriched schema.
//
//   pg_lookup   - join an in-memory copy of a reference table (LookupTable), reloaded on an
//                 interval through a loader the wiring supplies (it reads PostgreSQL);
//   derive      - substr, concat, installment, date_part, copy;
//   http_lookup - a JSON API value through HttpLookup: cache with TTL and size bound,
//                 timeout, fallback value; the fetch function is injected;
//   pg_asof_lookup - the version of a key valid at the record's time in a versioned (SCD-2)
//                 table, through VersionedTable: an event-time temporal join whose watermark
//                 is the table's horizon; a record beyond the horizon waits a bounded time.
//
// Time is passed in (steady clock), so refresh and TTL behaviour is tested without sleeping.
#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/core/duration.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/field_use.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

using SteadyTime = std::chrono::steady_clock::time_point;

// An in-memory copy of a reference table keyed by one column, reloaded when older than the
// refresh interval. A failed reload keeps serving the previous copy (and reports the error);
// a failed first load throws. Single-threaded (one per enricher).
class LookupTable {
 public:
  // Returns every row of the table (each row holds the key column and the value columns).
  // Throws core::InfraError when the table cannot be read.
  using Loader = std::function<std::vector<Row>()>;

  LookupTable(std::string key_column, core::Duration refresh, Loader loader);

  // Reloads first if the copy is missing or stale. nullptr when the key is absent.
  const Row* Find(std::string_view key, SteadyTime now);
  // Loads now regardless of age. Throws when it fails and there is no copy to keep.
  void Refresh(SteadyTime now);

  std::size_t size() const { return rows_.size(); }
  std::uint64_t loads() const { return loads_; }
  // The error of the last failed reload ("" after a successful one).
  const std::string& last_error() const { return last_error_; }

 private:
  std::string key_column_;
  core::Duration refresh_;
  Loader loader_;
  std::unordered_map<std::string, Row> rows_;
  std::optional<SteadyTime> loaded_at_;
  std::uint64_t loads_ = 0;
  std::string last_error_;
};

// A versioned (SCD-2) reference table for point-in-time joins: every version of every key, a
// version valid from its `valid_from` until the key's next version, and the table's horizon:
// the time up to which every version is known (by default the greatest valid_from). This is
// Flink's event-time temporal join, the horizon playing the versioned table's watermark.
//
// Resolve(key, t) decides for a record at time t:
//   t <= horizon: final. The version valid at t (the greatest valid_from <= t), status
//     confirmed; none: status missing.
//   t > horizon: a version starting before t may still come. The record waits: Resolve asks
//     the caller to come back (Decision::wait, at retry_at) while it re-reads the table every
//     min(refresh, 1 s), until the horizon passes t, or `wait` has passed since this horizon
//     value was first waited on; then the latest known version valid at t (or none), status
//     unconfirmed. A horizon that has been waited on for a full `wait` without moving holds no
//     later record (each gets unconfirmed at once) until it moves.
// Outside waits the table is re-read when older than `refresh`. A failed re-read keeps the
// previous copy (last_error() says why); a failed first load throws. Time is passed in (steady
// clock). Single-threaded (one per step).
class VersionedTable {
 public:
  struct Version {
    std::int64_t valid_from_ms = 0;
    Row row;  // the value columns, as the loader returns them
  };
  struct Snapshot {
    std::vector<std::pair<std::string, Version>> versions;  // (key as text, version), any order
    std::optional<std::int64_t> horizon_ms;                 // nullopt: none (an empty table)
  };
  // Reads the versions and the horizon in one snapshot of the database. Throws
  // core::InfraError when they cannot be read.
  using Loader = std::function<Snapshot()>;
  enum class Status { kConfirmed, kUnconfirmed, kMissing };
  struct Settings {
    core::Duration refresh = std::chrono::seconds(10);
    core::Duration wait = std::chrono::seconds(30);
    core::Duration poll = std::chrono::seconds(1);  // re-reads while waiting: min(refresh, poll)
  };
  struct Decision {
    bool wait = false;             // hold the record and call Resolve again at retry_at
    SteadyTime retry_at{};
    const Row* version = nullptr;  // !wait: the version valid at t, nullptr when none
    Status status = Status::kMissing;
  };

  VersionedTable(Settings settings, Loader loader);

  Decision Resolve(std::string_view key, std::int64_t t_ms, SteadyTime now);

  // The pure parts. The version of `versions` (sorted by valid_from) valid at t, or nullptr.
  static const Version* ValidAt(const std::vector<Version>& versions, std::int64_t t_ms);
  // The status of a final answer: t within the horizon is confirmed (missing without a version).
  static Status StatusOf(bool has_version, std::int64_t t_ms, std::int64_t horizon_ms);
  static std::string_view StatusName(Status status);  // "confirmed", "unconfirmed", "missing"

  // Loads now regardless of age. Throws when it fails and there is no copy to keep.
  void Refresh(SteadyTime now);
  std::int64_t horizon_ms() const { return horizon_; }  // INT64_MIN when none
  std::uint64_t loads() const { return loads_; }
  const std::string& last_error() const { return last_error_; }

 private:
  Decision Final(std::string_view key, std::int64_t t_ms) const;

  Settings settings_;
  Loader loader_;
  std::unordered_map<std::string, std::vector<Version>> versions_;  // sorted by valid_from
  std::int64_t horizon_ = INT64_MIN;
  std::optional<SteadyTime> loaded_at_;
  std::optional<SteadyTime> wait_since_;  // when the record being held began to wait
  // The time of the record whose full `wait` ran out: later records are not held until the
  // horizon passes it (a horizon that stands still, or one that follows the clock while the
  // records are ahead of it, must not hold each record in turn).
  std::optional<std::int64_t> given_up_;
  std::uint64_t loads_ = 0;
  std::string last_error_;
};

// What an HTTP GET returned; nullopt from the fetch function means no answer (timeout,
// connection refused).
struct HttpResponse {
  int status = 0;
  std::string body;
};
using HttpFetch = std::function<std::optional<HttpResponse>(const std::string& url, core::Duration timeout)>;

// A JSON HTTP lookup: URL template with {field} placeholders (URL-encoded values), a JSON
// pointer to the value, an LRU cache with a TTL, and a fallback when the API fails.
// Failures are cached for a tenth of the TTL (at least 1s) so an API outage costs one
// timeout per key and interval, not one per record. Single-threaded.
class HttpLookup {
 public:
  struct Settings {
    std::string url;                   // e.g. http://127.0.0.1:8089/rate/{currency}/{date}
    std::string json_pointer;          // "" = the whole body
    core::Duration ttl = std::chrono::minutes(10);
    std::size_t cache_size = 10000;
    core::Duration timeout = std::chrono::seconds(2);
    Value fallback = Null{};
  };
  struct Result {
    Value value;
    bool from_cache = false;
    bool fallback = false;  // the API failed (error says why) and the fallback was used
    std::string error;
  };

  HttpLookup(Settings settings, HttpFetch fetch);
  Result Lookup(const Row& row, SteadyTime now);

  // The URL for a row; nullopt (and *why) when a placeholder's field is null or unknown.
  std::optional<std::string> Url(const Row& row, std::string* why) const;
  const std::string& UrlTemplate() const { return settings_.url; }
  std::uint64_t fetches() const { return fetches_; }

 private:
  struct Entry {
    std::string url;
    Result result;
    SteadyTime expires;
  };
  Settings settings_;
  HttpFetch fetch_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::uint64_t fetches_ = 0;
};

// Where the enricher's external lookups come from (the wiring fills these; tests fake them).
struct EnricherDeps {
  // For a pg_lookup step: a loader of `table` returning rows with `key_column` and `columns`.
  std::function<LookupTable::Loader(const std::string& table, const std::string& key_column,
                                    const std::vector<std::string>& columns)>
      table_loader;
  // For http_lookup steps.
  HttpFetch http_fetch;
  // {env:NAME} in an http_lookup URL: the variable's value, nullopt when unset. Unset: getenv.
  std::function<std::optional<std::string>(const std::string& name)> env;
  // For a pg_asof_lookup step: a loader of the versions and the horizon of a versioned table.
  struct VersionedQuery {
    std::string table, key_column, valid_from_column;
    std::vector<std::string> columns;  // value columns
    std::string horizon_query;         // "" = SELECT max(valid_from_column) FROM table
  };
  std::function<VersionedTable::Loader(const VersionedQuery&)> versioned_loader;
  // Blocks until `until` and returns the clock's time then (pg_asof_lookup's waits). Throws
  // core::InfraError when the wait must end early (the daemon is stopping). Unset: sleeps.
  std::function<SteadyTime(SteadyTime until)> wait_until;
};

// The verdict (emit or reject, with the deciding step and reason) is the shared Outcome; the
// row and the fallbacks are the enricher's own.
struct EnrichResult {
  Outcome outcome;                     // emit or reject
  Row row;                             // emit: typed into the enriched schema
  std::vector<std::string> fallbacks;  // http_lookup steps that used their fallback
};

namespace steps {
class Step;
}

// The step types (common/src/stages/steps/, one file each): declarations, factories, examples.
const ComponentList<steps::Step, const EnricherDeps&>& EnricherSteps();

// One per consumer; not thread-safe. Throws core::ConfigError from the constructor.
class Enricher {
 public:
  Enricher(const YAML::Node& steps, RecordSpec output, const std::string& origin, EnricherDeps deps);
  ~Enricher();
  Enricher(Enricher&&) noexcept;
  Enricher& operator=(Enricher&&) noexcept;

  // Throws core::InfraError when a reference table cannot be loaded at all.
  EnrichResult Process(Row clean, SteadyTime now);
  const RecordSpec& output() const { return output_; }
  // The fields each step names, one list per step in order (checked by --check).
  std::vector<std::vector<FieldUse>> FieldUses() const;

 private:
  std::vector<std::shared_ptr<steps::Step>> steps_;
  RecordSpec output_;
  std::vector<std::size_t> slots_;  // TypeInPlace's cell positions, reused across records
};

// The monthly payment of an amortized loan: P*r/(1-(1+r)^-n), r = annual_rate_pct/1200;
// P/n when the rate is 0. Rounded to cents.
double MonthlyInstallment(double principal, double annual_rate_pct, std::int64_t months);

}  // namespace sluice::stages

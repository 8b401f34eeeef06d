#pragma once
// The enricher's stage logic: steps from the pipeline file (enricher.steps) add fields to a
// clean row, then the row is typed into the enriched schema.
//
//   pg_lookup   - join an in-memory copy of a reference table (LookupTable), reloaded on an
//                 interval through a loader the wiring supplies (it reads PostgreSQL);
//   derive      - substr, concat, installment, date_part, copy;
//   http_lookup - a JSON API value through HttpLookup: cache with TTL and size bound,
//                 timeout, fallback value; the fetch function is injected.
//
// Time is passed in (steady clock), so refresh and TTL behaviour is tested without sleeping.
#include <chrono>
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

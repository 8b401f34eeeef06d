#pragma once
// The enricher as a runtime::TransformStage: a thin adapter from stages::Enricher (steps from
// the pipeline file's `enricher.steps`) to the stage contract, plus the I/O the pure logic
// needs injected:
//   - pg_lookup tables are read from PostgreSQL through sluice::pg::Connection (libpq's PG*
//     variables or SLUICE_PG_URL), refreshed on each step's interval by stages::LookupTable;
//     a table that cannot be read is an infrastructure error (retried by the loop), never a
//     DLQ record;
//   - http_lookup steps fetch through sluice::http::Client with the step's timeout; a timeout
//     or refused connection is "no answer" and the step's fallback is used.
// One per transform loop; single-threaded.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sluice/core/shutdown.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/http/client.hpp"
#include "sluice/pg/connection.hpp"
#include "sluice/runtime/stage.hpp"
#include "sluice/stages/enricher.hpp"

namespace sluice::enricher {

// An HttpFetch over sluice::http::Client: one client (keep-alive) per distinct timeout.
// Not thread-safe (one per enricher).
class HttpFetcher {
 public:
  std::optional<stages::HttpResponse> Fetch(const std::string& url, core::Duration timeout);

 private:
  std::map<core::Duration::rep, std::unique_ptr<http::Client>> clients_;
};

// Reads `table` (optionally "schema.table") with the key column and value columns, every
// value as text (null stays null). Throws core::InfraError(kYes) when PostgreSQL or the
// table is not available.
std::vector<stages::Row> LoadTable(pg::Connection& conn, const std::string& table,
                                   const std::string& key_column,
                                   const std::vector<std::string>& columns);

// Reads a pg_asof_lookup step's versioned table (key, valid_from as epoch milliseconds, the
// value columns as text) and its horizon (q.horizon_query, default max(valid_from)) in one
// REPEATABLE READ snapshot. Rows with a null key or valid_from are skipped. Throws
// core::InfraError(kYes) when PostgreSQL, the table or the query fails.
stages::VersionedTable::Snapshot LoadVersions(pg::Connection& conn, const stages::EnricherDeps::VersionedQuery& q);

class EnricherStage : public runtime::TransformStage {
 public:
  // Throws core::ConfigError (bad steps or schema). `shutdown` ends a pg_asof_lookup wait.
  explicit EnricherStage(const pipeline::PipelineConfig& config, core::ShutdownToken shutdown = {});
  // The real lookups: tables through `pg`, HTTP through `http`, waits that end on `shutdown`.
  static stages::EnricherDeps MakeDeps(std::shared_ptr<pg::Connection> pg, std::shared_ptr<HttpFetcher> http,
                                       core::ShutdownToken shutdown);
  // For tests: explicit steps, output spec and dependencies.
  EnricherStage(stages::Enricher enricher) : enricher_(std::move(enricher)) {}
  runtime::StageResult Process(runtime::Record record) override;

 private:
  std::shared_ptr<pg::Connection> pg_;
  std::shared_ptr<HttpFetcher> http_;
  std::optional<stages::Enricher> enricher_;
};

}  // namespace sluice::enricher

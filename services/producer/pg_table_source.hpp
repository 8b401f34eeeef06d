#pragma once
// The postgres source plug-in of the source loop (runtime::SourceLoop): polls one table
// incrementally by transaction windows (stages/pg_source.hpp has the argument; README.md,
// "postgres source", the long form), a page of at most batch_size rows per query.
//
// Position (one per source, key "window"): stages::PgPosition - the window [h, e) being read
// and the (by, key) of the last row taken. It is written in the same Kafka transaction as the
// rows, so a restart re-runs the query of the page it was in, strictly after that row: nothing
// skipped, nothing repeated.
//
// Failures:
// - a broken connection, a server restart, a statement timeout (57014) or any retryable
//   SQLSTATE throws core::InfraError(kYes): the loop aborts the batch, restores the committed
//   position and retries with backoff for as long as the outage lasts; the session is
//   re-established on the next Poll;
// - a missing table or column, a missing privilege, bad SQL in `where`: core::ConfigError
//   (exit 2) naming the source;
// - a row that does not fit the raw schema goes to the DLQ (pg_row) with the reason, and the
//   source moves past it.
//
// Connection: libpq's PG* variables or SLUICE_PG_URL (pg::ConninfoFromEnv), never the file.
// Lifecycle: connects on the first Poll; called on the loop's thread only.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/obs/log.hpp"
#include "sluice/pg/connection.hpp"
#include "sluice/runtime/source_loop.hpp"
#include "provenance.hpp"
#include "sluice/stages/pg_source.hpp"

namespace sluice::producer {


// One postgres entry of producer.sources.
struct PgTableSourceOptions {
  stages::PgSourceSettings settings;
  stages::RecordSpec raw;               // the raw schema's fields
  std::vector<std::string> key_fields;  // producer.key: values joined with '|'
  bool once = false;                    // read up to the first empty window, then finish
  std::string conninfo;                 // "" = pg::ConninfoFromEnv() (else the PG* variables)
};

class PgTableSource : public runtime::Source {
 public:
  PgTableSource(PgTableSourceOptions options, obs::Logger log);
  ~PgTableSource() override;

  const std::string& Name() const override { return opt_.settings.name; }
  void Restore(const std::map<std::string, std::string>& committed) override;
  runtime::PollStatus Poll(runtime::SourceBatch& batch, std::size_t max) override;
  void Committed() override;
  core::Duration PollInterval() const override { return opt_.settings.poll_interval; }

  const stages::PgPosition& position() const { return pos_; }

 private:
  struct Page {
    std::vector<std::vector<std::optional<std::string>>> rows;  // the cells of each row, as text
  };
  void LoadPlan(pqxx::connection& c);
  Page ReadPage(pqxx::connection& c, std::size_t limit);
  void NoteHeld(std::uint64_t xmin, std::uint64_t xmax);
  void TakeRow(runtime::SourceBatch& batch, const std::vector<std::optional<std::string>>& cells);

  PgTableSourceOptions opt_;
  obs::Logger log_;
  std::unique_ptr<pg::Connection> conn_;
  std::optional<stages::PgQueryPlan> plan_;
  stages::PgPosition pos_;        // after what was handed to the loop
  stages::PgPosition committed_;  // after the last commit
  bool finished_ = false;         // once: the first empty window was reached
  // The oldest running transaction seen at the last window start, and since when (a warning
  // once a minute while one transaction holds the windows back).
  std::uint64_t held_xid_ = 0;
  std::chrono::steady_clock::time_point held_since_{}, held_warned_{};
};

}  // namespace sluice::producer

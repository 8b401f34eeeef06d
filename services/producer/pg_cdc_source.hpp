#pragma once
// The postgres_cdc source plug-in of the source loop (runtime::SourceLoop): PostgreSQL changes
// by logical replication (pgoutput, proto_version 1), after an optional initial snapshot,
// exactly once. libpq directly: libpqxx 6.4 has no replication protocol.
//
// Position (key "stream"): stages::PgCdcPosition - the end LSN of the last PostgreSQL
// transaction written whole, and for a transaction written in part its commit LSN and how
// many of its changes were written. It goes in the same Kafka transaction as the records; the
// slot's flush LSN is acknowledged (Standby Status Update) only in Committed(), after that
// Kafka commit. A restart streams from the committed LSN; whatever the server sends again is
// skipped (transactions that commit before the position, the written part of a split one).
//
// Snapshot (snapshot: initial): the slot is created with EXPORT_SNAPSHOT, the tables are read
// in that snapshot (SET TRANSACTION SNAPSHOT, REPEATABLE READ) as rows with _op 'r', then the
// stream starts at the slot's consistent point: no gap, no duplicate. An aborted batch
// re-reads from the committed row in the same snapshot; a new process (or a lost snapshot
// connection) drops the slot and snapshots again - rows written before are written again
// (same keys: the sink's upsert makes the table exact).
//
// Failures: a lost connection or a server error is a retryable core::InfraError (the loop
// aborts, restores and retries with backoff: a PostgreSQL restart is survived); a missing
// table, a privilege missing or a slot used by another process is core::ConfigError unless
// transient. A change that does not fit the raw schema, and a TRUNCATE, go to the DLQ
// (pg_change). Single-threaded: called on the loop's thread only.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/obs/log.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/source_loop.hpp"
#include "sluice/stages/pg_cdc_source.hpp"

namespace sluice::producer {

// One postgres_cdc entry of producer.sources.
struct PgCdcSourceOptions {
  stages::PgCdcSourceSettings settings;
  stages::RecordSpec raw;               // the raw schema's fields
  std::vector<std::string> key_fields;  // producer.key: values joined with '|'
  bool once = false;                    // stop when caught up (after the snapshot)
  std::string conninfo;                 // "" = SLUICE_PG_URL, else libpq's PG* variables
};

class PgCdcSource : public runtime::Source {
 public:
  PgCdcSource(PgCdcSourceOptions options, obs::Logger log);
  ~PgCdcSource() override;

  const std::string& Name() const override { return opt_.settings.name; }
  void Restore(const std::map<std::string, std::string>& committed) override;
  runtime::PollStatus Poll(runtime::SourceBatch& batch, std::size_t max) override;
  void Committed() override;
  core::Duration PollInterval() const override { return core::Duration(100); }

  struct Counters {
    std::uint64_t connects = 0, snapshots = 0, snapshot_rows = 0, changes = 0, skipped = 0, acks = 0;
    stages::Lsn acked = 0;  // the last flush LSN sent
  };
  Counters counters() const { return counters_; }

 private:
  struct Conn;  // one libpq connection (RAII)
  using Clock = std::chrono::steady_clock;

  void Disconnect();
  void PrepareServer();          // publication and slot; the snapshot when due
  void StartSnapshot();          // (re)creates the slot with EXPORT_SNAPSHOT, imports it
  void OpenSnapshotCursor();     // the cursor over tables[pos_.table], past pos_.rows
  runtime::PollStatus PollSnapshot(runtime::SourceBatch& batch, std::size_t max);
  void StartStreaming();
  runtime::PollStatus PollStream(runtime::SourceBatch& batch, std::size_t max);
  void Handle(const stages::PgOutputMessage& m, runtime::SourceBatch& batch);
  void AddChange(runtime::SourceBatch& batch, stages::CdcRow row, const std::string& table, const char* op);
  void SendStatus(bool force);
  runtime::SourceItem Provenance(const std::string& table, std::int64_t source_ms) const;
  [[noreturn]] void Fail(const std::string& what, bool retryable = true) const;

  PgCdcSourceOptions opt_;
  obs::Logger log_;
  stages::PgChangeMapper mapper_;
  std::unique_ptr<Conn> repl_;      // replication=database
  std::unique_ptr<Conn> snap_;      // the transaction holding the exported snapshot
  bool streaming_ = false;
  bool prepared_ = false;          // publication and slot checked since the last Restore
  bool cursor_open_ = false;
  std::vector<std::string> cursor_columns_;
  stages::PgCdcPosition pos_;        // after what was handed to the loop
  stages::PgCdcPosition committed_;  // after the last commit
  stages::Lsn consistent_point_ = 0;  // of the snapshot being read
  std::int64_t snapshot_time_ms_ = 0;  // server clock before its slot was created: its rows' source time
  std::map<std::uint32_t, stages::PgRelation> relations_;
  // The transaction being read from the stream.
  bool in_txn_ = false;
  bool skip_txn_ = false;          // committed before the position: already written
  stages::Lsn txn_lsn_ = 0;        // its commit LSN (Begin's final_lsn)
  std::int64_t txn_index_ = 0;     // its changes seen so far
  std::int64_t txn_time_ms_ = 0;   // its commit time
  // Acknowledgement.
  stages::Lsn idle_ack_ = 0;       // keepalive WAL end reached with nothing in flight
  Clock::time_point last_status_{};
  bool caught_up_ = false;         // --once: the stream had nothing more to send
  Counters counters_;
};

}  // namespace sluice::producer

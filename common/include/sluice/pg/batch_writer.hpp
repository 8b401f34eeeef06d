#pragma once
// Upserts a batch of rows into one table, in the caller's transaction: COPY into a TEMP staging
// table, then one INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE, so the last
// row of a key in the batch wins. When the batch's keys are distinct, a plain COPY straight into
// the table is tried first (under a savepoint): a pure-insert batch then costs what raw COPY
// costs, and a key that already exists (23505) falls back to the staged upsert.
// A row the server rejects (SQLSTATE class kBadRecord) is isolated by bisection under
// savepoints and reported; every other row is still written.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <pqxx/dbtransaction>

#include "sluice/pg/row_batch.hpp"
#include "sluice/pg/table_name.hpp"

namespace sluice::pg {

struct BatchWriterOptions {
  TableName table;
  std::vector<std::string> key_columns;  // the table's primary key (ON CONFLICT target)
  std::size_t copy_chunk_bytes = 256 * 1024;  // COPY data is sent in chunks of about this size
  // Try COPY straight into the table first when the batch's keys are distinct. After a batch
  // whose keys already existed, the next 1, 2, 4, then 8 batches skip the attempt (an
  // update-heavy stream stops paying for COPYs that fail); a successful attempt resets this.
  bool direct_copy_first = true;
};

enum class WritePath {
  kEmpty,         // nothing to write
  kDirectCopy,    // COPY into the table: every key was new
  kStagedUpsert,  // staging + INSERT … ON CONFLICT
  kBisected,      // bad rows were isolated by bisection
};

// One row PostgreSQL refused, for the DLQ.
struct RejectedRow {
  std::size_t index;     // position in the RowBatch
  std::string sqlstate;  // e.g. 23505, 22P02
  std::string message;   // the server's message, one line
};

struct WriteResult {
  std::size_t upserted = 0;  // rows inserted or updated in the table (duplicates collapsed)
  std::vector<RejectedRow> rejected;  // in batch order
  std::size_t savepoints = 0;  // 1 or 2 on the fast paths; more when bad rows were bisected
  WritePath path = WritePath::kEmpty;
};

// One per target table. Not thread-safe; caches the table's column types (refreshed when a batch
// names a column it has not seen, e.g. after AddMissingColumns). Holds no connection.
class BatchWriter {
 public:
  explicit BatchWriter(BatchWriterOptions options);

  // Writes batch inside tx (which stays usable: failures are contained in savepoints). Bad rows
  // come back in the result and were not written; retryable and fatal errors propagate as pqxx
  // exceptions, leaving tx to be aborted (Connection::Run then retries or reports).
  // Throws core::ConfigError if a key column is missing from the batch.
  WriteResult Write(pqxx::dbtransaction& tx, const RowBatch& batch);

  const BatchWriterOptions& options() const noexcept { return options_; }

 private:
  struct Plan;
  Plan Prepare(pqxx::dbtransaction& tx, const RowBatch& batch);
  void LoadColumnTypes(pqxx::dbtransaction& tx);

  bool DistinctKeys(const RowBatch& batch) const;

  BatchWriterOptions options_;
  std::map<std::string, std::string> column_types_;  // column → type without modifiers
  int direct_skip_ = 0;         // batches left to skip the direct COPY attempt
  int direct_skip_next_ = 1;    // how many to skip after the next conflict
};

}  // namespace sluice::pg

#pragma once
// Upserts a batch of rows into one table, in the caller's transaction: COPY into a TEMP staging
// table, then one INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE, so the last
// row of a key in the batch wins. A row the server rejects (SQLSTATE class kBadRecord) is
// isolated by bisection under savepoints and reported; every other row is still written.
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
  std::size_t savepoints = 0;  // 1 on the fast path; more when bad rows were bisected
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

  BatchWriterOptions options_;
  std::map<std::string, std::string> column_types_;  // column → type without modifiers
};

}  // namespace sluice::pg

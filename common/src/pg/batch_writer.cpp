#include "sluice/pg/batch_writer.hpp"

#include <algorithm>
#include <atomic>
#include <optional>

#include <pqxx/result>
#include <pqxx/subtransaction>
#include <pqxx/tablewriter>

#include "sluice/core/error.hpp"
#include "sluice/pg/pg_error.hpp"

namespace sluice::pg {
namespace {

// The staging column that carries each row's position in the batch. A dot cannot appear in an
// Avro field name, so it never collides with a data column.
constexpr const char* kSeqColumn = "sluice.seq";

std::string Join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

std::string NextStageName() {
  // Unique within the process, hence within every session it owns; TEMP tables are per session.
  static std::atomic<std::uint64_t> counter{0};
  return "sluice_stage_" + std::to_string(counter.fetch_add(1));
}

}  // namespace

struct BatchWriter::Plan {
  std::string target;         // quoted table
  std::string data_columns;   // quoted data columns, for COPY into the table
  std::string stage;          // quoted TEMP table name
  std::string stage_columns;  // quoted seq column + data columns, for COPY into staging
  std::string stage_ddl;      // CREATE TEMP TABLE …
  std::string insert_prefix;  // INSERT … SELECT DISTINCT ON … FROM (SELECT seq, casts FROM stage WHERE
  std::string insert_suffix;  // ) s ORDER BY … ON CONFLICT …
  std::string seq;            // quoted seq column
};

BatchWriter::BatchWriter(BatchWriterOptions options) : options_(std::move(options)) {
  SLUICE_ASSERT(!options_.key_columns.empty(), "a batch writer needs key columns");
}

void BatchWriter::LoadColumnTypes(pqxx::dbtransaction& tx) {
  // Types without modifiers: an explicit cast to varchar(n) or bit(n) would silently truncate,
  // while the assignment in INSERT checks the modifier and raises 22001 for the bad row.
  const auto rows = tx.exec_params(
      "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      options_.table.Quoted(tx.conn()));
  column_types_.clear();
  for (const auto& row : rows) column_types_[row[0].as<std::string>()] = row[1].as<std::string>();
}

BatchWriter::Plan BatchWriter::Prepare(pqxx::dbtransaction& tx, const RowBatch& batch) {
  const auto& columns = batch.columns();
  for (const auto& key : options_.key_columns) {
    if (std::find(columns.begin(), columns.end(), key) == columns.end()) {
      throw core::ConfigError("table " + options_.table.Display() + ": key column '" + key +
                              "' is not among the batch's columns");
    }
  }
  bool known = !column_types_.empty();
  for (const auto& column : columns) known = known && column_types_.count(column) > 0;
  if (!known) LoadColumnTypes(tx);
  if (column_types_.empty()) {
    PgFailure failure;
    failure.sqlstate = "42P01";
    failure.cls = Classify(failure.sqlstate);
    failure.message = "table " + options_.table.Display() + " does not exist";
    throw PgError(std::move(failure));
  }
  for (const auto& column : columns) {
    if (column_types_.count(column) == 0) {
      PgFailure failure;
      failure.sqlstate = "42703";
      failure.cls = Classify(failure.sqlstate);
      failure.message = "table " + options_.table.Display() + " has no column '" + column + "'";
      throw PgError(std::move(failure));
    }
  }

  auto& conn = tx.conn();
  Plan plan;
  plan.target = options_.table.Quoted(conn);
  plan.stage = conn.quote_name(NextStageName());
  plan.seq = conn.quote_name(kSeqColumn);

  std::vector<std::string> quoted;  // data columns
  std::vector<std::string> stage_defs{plan.seq + " bigint"};
  std::vector<std::string> casts{plan.seq};
  std::vector<std::string> updates;
  for (const auto& column : columns) {
    const std::string q = conn.quote_name(column);
    quoted.push_back(q);
    stage_defs.push_back(q + " text");
    const std::string& type = column_types_[column];
    casts.push_back(type == "text" ? q : "CAST(" + q + " AS " + type + ") AS " + q);
    if (std::find(options_.key_columns.begin(), options_.key_columns.end(), column) ==
        options_.key_columns.end()) {
      updates.push_back(q + " = EXCLUDED." + q);
    }
  }
  std::vector<std::string> keys;
  for (const auto& key : options_.key_columns) keys.push_back(conn.quote_name(key));

  plan.data_columns = Join(quoted, ", ");
  plan.stage_ddl =
      "CREATE TEMP TABLE " + plan.stage + " (" + Join(stage_defs, ", ") + ") ON COMMIT DROP";
  plan.stage_columns = plan.seq + ", " + plan.data_columns;
  // Casting in a subquery makes DISTINCT ON compare typed keys ('1' and '01' are one integer
  // key), and a value that does not fit its type fails here, where bisection can find it.
  plan.insert_prefix = "INSERT INTO " + plan.target + " (" + plan.data_columns +
                       ") SELECT DISTINCT ON (" + Join(keys, ", ") + ") " + plan.data_columns +
                       " FROM (SELECT " + Join(casts, ", ") + " FROM " + plan.stage + " WHERE ";
  plan.insert_suffix = ") s ORDER BY " + Join(keys, ", ") + ", " + plan.seq +
                       " DESC ON CONFLICT (" + Join(keys, ", ") + ") DO " +
                       (updates.empty() ? "NOTHING" : "UPDATE SET " + Join(updates, ", "));
  return plan;
}

bool BatchWriter::DistinctKeys(const RowBatch& batch) const {
  // Compares hashes of the escaped text of the key cells: equal values have equal text, so
  // equal hashes are necessary for a duplicate. A collision only sends the batch down the
  // staged path, which is correct for any batch. Values that are equal only once typed ('1'
  // and '01') pass here and make the direct COPY fail with 23505, which falls back the same way.
  std::vector<std::uint64_t> hashes = batch.KeyHashesFor(options_.key_columns);
  std::sort(hashes.begin(), hashes.end());
  return std::adjacent_find(hashes.begin(), hashes.end()) == hashes.end();
}

namespace {

// COPY rows [first, last) of batch into table, in chunks of about chunk_bytes. With with_seq,
// each line is prefixed by its row index (the staging table's first column).
void Copy(pqxx::dbtransaction& tx, const std::string& table, const std::string& columns,
          const RowBatch& batch, std::size_t first, std::size_t last, std::size_t chunk_bytes,
          bool with_seq) {
  // tablewriter is deprecated in 6.4 only in favour of stream_to, which cannot take a run-time
  // column list and costs ~4x the client CPU (it escapes cell by cell through to_string).
  // write_raw_line hands a whole chunk of lines to one PQputCopyData call.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  std::vector<std::string> column_list{columns};
  pqxx::tablewriter writer(tx, table, column_list.begin(), column_list.end());
#pragma GCC diagnostic pop
  std::string chunk;
  std::size_t row = first;
  while (row < last) {
    chunk.clear();
    if (with_seq) {
      while (row < last && chunk.size() < chunk_bytes) {
        chunk += std::to_string(row);
        chunk += '\t';
        chunk += batch.CopyText(row, row + 1);
        ++row;
      }
    } else {
      // Whole rows up to about chunk_bytes, straight from the batch's buffer.
      std::size_t end = row;
      std::size_t bytes = 0;
      while (end < last && bytes < chunk_bytes) bytes += batch.CopyText(end, end + 1).size(), ++end;
      chunk.assign(batch.CopyText(row, end));
      row = end;
    }
    chunk.pop_back();  // write_raw_line appends the last '\n' itself
    writer.write_raw_line(chunk);
  }
  writer.complete();
}

}  // namespace

WriteResult BatchWriter::Write(pqxx::dbtransaction& tx, const RowBatch& batch) {
  WriteResult result;
  if (batch.empty()) return result;
  const Plan plan = Prepare(tx, batch);
  const std::size_t chunk = options_.copy_chunk_bytes;

  // Runs step in a savepoint; a kBadRecord failure is rolled back and returned, anything else
  // propagates (the caller's transaction is then lost and Connection::Run decides).
  auto attempt = [&](auto&& step) -> std::optional<PgFailure> {
    ++result.savepoints;
    pqxx::subtransaction savepoint(tx, "sluice_batch");
    try {
      step(savepoint);
      savepoint.commit();
      return std::nullopt;
    } catch (const std::exception& e) {
      auto failure = DescribeFailure(e);
      if (!failure || failure->cls != SqlStateClass::kBadRecord) throw;
      savepoint.abort();
      return failure;
    }
  };

  // Fastest path: every key is new, so the batch is one COPY into the table.
  const bool try_direct = options_.direct_copy_first && direct_skip_ == 0 && DistinctKeys(batch);
  if (direct_skip_ > 0) --direct_skip_;
  if (try_direct) {
    const auto failure = attempt([&](pqxx::subtransaction& sp) {
      Copy(sp, plan.target, plan.data_columns, batch, 0, batch.size(), chunk, false);
    });
    if (!failure) {
      direct_skip_next_ = 1;
      result.upserted = batch.size();
      result.path = WritePath::kDirectCopy;
      return result;
    }
    if (failure->sqlstate == "23505") {  // existing keys: an update-heavy stream, back off
      direct_skip_ = direct_skip_next_;
      direct_skip_next_ = std::min(direct_skip_next_ * 2, 8);
    }
  }

  tx.exec(plan.stage_ddl);
  auto insert = [&](pqxx::transaction_base& t, std::size_t first, std::size_t last) {
    const auto r = t.exec(plan.insert_prefix + plan.seq + " >= " + std::to_string(first) +
                          " AND " + plan.seq + " < " + std::to_string(last) + plan.insert_suffix);
    return static_cast<std::size_t>(r.affected_rows());
  };
  auto stage = [&](pqxx::dbtransaction& t, std::size_t first, std::size_t last) {
    Copy(t, plan.stage, plan.stage_columns, batch, first, last, chunk, true);
  };

  // Staged path: the whole batch in one COPY and one INSERT.
  bool copy_failed = false;
  std::size_t upserted = 0;
  auto failure = attempt([&](pqxx::subtransaction& sp) {
    copy_failed = true;
    stage(sp, 0, batch.size());
    copy_failed = false;
    upserted = insert(sp, 0, batch.size());
  });
  if (!failure) {
    result.upserted = upserted;
    result.path = WritePath::kStagedUpsert;
    return result;
  }

  // Some row is bad. When the COPY itself failed (bytes the server cannot store as text, e.g.
  // invalid UTF-8), every range re-sends its rows; otherwise stage everything once and bisect
  // only the INSERT. Ranges run left to right, so the last good row of a key still wins.
  result.path = WritePath::kBisected;
  const bool per_range_copy = copy_failed;
  if (!per_range_copy) stage(tx, 0, batch.size());
  std::vector<std::pair<std::size_t, std::size_t>> pending{{0, batch.size()}};
  std::optional<PgFailure> known_failure = std::move(failure);  // of the range on top
  while (!pending.empty()) {
    // Plain variables, not a structured binding: clang 14 cannot capture bindings in lambdas.
    const std::size_t first = pending.back().first;
    const std::size_t last = pending.back().second;
    pending.pop_back();
    std::optional<PgFailure> range_failure;
    if (known_failure) {
      range_failure = std::move(known_failure);
      known_failure.reset();
    } else {
      std::size_t n = 0;
      range_failure = attempt([&](pqxx::subtransaction& sp) {
        if (per_range_copy) stage(sp, first, last);
        n = insert(sp, first, last);
      });
      if (!range_failure) {
        result.upserted += n;
        continue;
      }
    }
    if (last - first == 1) {
      result.rejected.push_back({first, range_failure->sqlstate, range_failure->message});
      continue;
    }
    const std::size_t mid = first + (last - first) / 2;
    pending.emplace_back(mid, last);  // popped second
    pending.emplace_back(first, mid);
  }
  std::sort(result.rejected.begin(), result.rejected.end(),
            [](const RejectedRow& a, const RejectedRow& b) { return a.index < b.index; });
  return result;
}

}  // namespace sluice::pg

#pragma once
// The postgres source type (incremental polling of one table) : its settings and its pure logic:
// the SQL of a window page, the position a source commits, and a column's text turned into a
// raw-row cell. No I/O: the producer's plug-in (producer::PgTableSource) runs the queries.
//
// Commit-safe watermark (services/producer/README.md, "postgres source", has the long form).
// The position is not a value of the `by` column but a window of transaction ids. A window
// [h, e) is fixed when it starts: e = pg_snapshot_xmin(pg_current_snapshot()), so every
// transaction whose xid is below e has ended (committed or aborted) and no row version can
// ever again be created with an xid below e. The rows of the window are the visible row
// versions whose xmin lies in [h, e); that set can only shrink afterwards (an update or a
// delete hides a version; the new version's xmin is >= e, so it falls in a later window). The
// window is read in pages ordered by (by, key), key unique and not null, resuming strictly
// after the last (by, key) committed; when a page comes back short the window is done and the
// next one is [e, e'). Windows tile the xid line without a gap, so a row committed out of order
// (a smaller id or timestamp committing after a larger one was read) is read in the window of
// its own xid: never skipped; and within a window each version is read once.
//
// - xid width: rows carry a 32-bit xmin; h and e are 64-bit (xid8). A row is in [h, e) when
//   1 <= (e - xmin) mod 2^32 <= e - h. An unfrozen xmin is within 2^31 of the next xid
//   (PostgreSQL's wraparound protection), so the modular distance is exact for it.
// - The first window (h = 0), or a window wider than 2^31 (a source stopped for two billion
//   transactions), takes every visible version except those whose xmin lies in
//   [e, the statement's xmax): that is, everything old.
// - VACUUM FREEZE keeps the raw xmin (PostgreSQL >= 9.4 only sets a flag), so a frozen row
//   is still found in its window. A row frozen more than 2^32 transactions ago may alias a
//   later window and be read again: a duplicate (upserted away by the sink), never a skip.
//   xmin 1 and 2 (bootstrap, frozen before 9.4) belong to the first window only.
// - Updates: a new version is a new xmin, so the updated row is read again in the window of
//   the updating transaction (polling sees the latest state, not every change; deletes are
//   not seen: that is CDC's job, type postgres_cdc).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/config/spec.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

// Options of one postgres source (the pipeline file's producer.sources[i], type postgres).
struct PgSourceSettings : SourceSettings {
  std::string table;                          // "name" or "schema.name", as written
  std::map<std::string, std::string> columns;  // raw field -> column (others: same name)
  std::string by;                             // the ordering column (id or updated_at)
  std::vector<std::string> key;               // unique, not null tie-break ([] = primary key)
  std::string where;                          // extra SQL filter ("" = none)
  core::Duration poll_interval{1000};
  std::int64_t batch_size = 1000;             // rows per query
  core::Duration statement_timeout{30'000};
};

// The postgres type of SourceTypes(): its declaration, examples and factory.
void DeclarePgSource(config::Section& pg);
const std::vector<std::string>& PgSourceExamples();
std::shared_ptr<SourceSettings> MakePgSource(const ComponentInput& in, const RecordSpec& raw,
                                             const config::View& id);

// A table name as SQL: each dotted part double-quoted ("s"."t"). Names are taken as written
// (case-sensitive), never parsed from SQL.
std::string QuoteIdent(const std::string& name);
std::string QuoteTable(const std::string& table);

// What the catalog says about one column.
struct PgColumn {
  std::string name;
  std::string type;      // format_type(): "numeric(12,2)", "timestamp with time zone", "integer[]"
  char category = 'U';   // pg_type.typcategory: A array, N numeric, D date/time, S string, B bool...
  std::string typname;   // pg_type.typname: int4, numeric, timestamptz, jsonb, _int4...
  bool not_null = false;
};

// One raw field read from a column: the SELECT expression (text) and how to convert it.
struct PgFieldRead {
  std::string field;
  std::string column;
  FieldType type = FieldType::kString;
  bool nullable = false;
  std::string expr;  // SQL text expression
};

// The plan of a source against its table: the select list and the paging key. Built once
// the catalog is read; core::ConfigError when a column is missing or cannot feed its field.
struct PgQueryPlan {
  std::string table;                  // quoted
  std::vector<PgFieldRead> fields;    // in raw-schema order
  std::vector<PgColumn> order;        // by, then the key columns
  std::string where;
  std::int64_t batch_size = 1000;
};
PgQueryPlan BuildPgQueryPlan(const PgSourceSettings& s, const RecordSpec& raw,
                             const std::vector<PgColumn>& catalog,
                             const std::vector<std::string>& primary_key);

// The SELECT expression of a column read into a field of `type`, as text (see the mapping
// table in services/producer/README.md).
std::string PgReadExpression(const PgColumn& column, FieldType type);

// Where a source is: the committed position (key "window").
struct PgPosition {
  std::uint64_t h = 0;                 // every version with xmin < h was read (0: none yet)
  std::uint64_t e = 0;                 // the window being read: [h, e); 0 = none started
  bool resume = false;                 // rows of the window were read: after is meaningful
  std::vector<std::optional<std::string>> after;  // (by, key...) of the last row read, as text
  std::int64_t rows = 0;               // informational: rows and rejects so far
  std::int64_t windows = 0;            // informational: windows done
};
std::string EncodePgPosition(const PgPosition& p);
std::optional<PgPosition> DecodePgPosition(const std::string& text, std::string* why);

// The SQL of one page of window [p.h, p.e) after p.after; parameters $1.. are the after values
// (text), in order. The select list is the plan's fields, then the order columns as text, then
// the row's xmin. kFirstWindowMax: wider windows are read as the first one.
inline constexpr std::uint64_t kMaxWindow = std::uint64_t{1} << 31;
struct PgPageQuery {
  std::string sql;
  std::vector<std::optional<std::string>> params;
};
PgPageQuery BuildPageQuery(const PgQueryPlan& plan, const PgPosition& p);

// A column's text (nullopt = SQL NULL) as the field's cell; nullopt + *why when it does not
// fit (the row goes to the DLQ, code pg_row).
// A PostgreSQL value's text as a raw field's type (numeric "12.00" is an integer; NaN and
// +-Infinity are doubles; dates YYYY-MM-DD); nullopt with the problem in `why`. Shared by the
// postgres and postgres_cdc sources.
std::optional<Value> PgTextToValue(const std::string& text, FieldType type, std::string* why);
std::optional<Value> PgTextToValue(const std::optional<std::string>& text, const PgFieldRead& f,
                                   std::string* why);

}  // namespace sluice::stages

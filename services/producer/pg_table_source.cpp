#include "pg_table_source.hpp"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "provenance.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::producer {
namespace {

constexpr const char* kPositionKey = "window";

pg::ConnectionOptions ConnectionFor(const PgTableSourceOptions& o) {
  pg::ConnectionOptions c;
  c.conninfo = o.conninfo.empty() ? pg::ConninfoFromEnv() : o.conninfo;
  // One attempt per Poll: the source loop owns the backoff and the retry budget (it aborts
  // the Kafka transaction and restores the committed position before the next attempt).
  c.budget.max_attempts = 1;
  c.application_name = "sluice-producer-" + o.settings.name;
  return c;
}

std::optional<std::string> Cell(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}

}  // namespace

PgTableSource::PgTableSource(PgTableSourceOptions options, obs::Logger log)
    : opt_(std::move(options)), log_(std::move(log)),
      conn_(std::make_unique<pg::Connection>(ConnectionFor(opt_))) {}

PgTableSource::~PgTableSource() = default;

void PgTableSource::Restore(const std::map<std::string, std::string>& committed) {
  committed_ = stages::PgPosition{};
  if (const auto it = committed.find(kPositionKey); it != committed.end()) {
    std::string why;
    if (auto p = stages::DecodePgPosition(it->second, &why)) {
      committed_ = *p;
    } else {
      log_.Warn("ignoring a malformed position record; reading the table from its start",
                {{"source", Name()}, {"error", why}});
    }
  }
  pos_ = committed_;
  plan_.reset();  // read the catalog again: the table may have changed during an outage
  if (pos_.h == 0 && pos_.e == 0) return;
  log_.Info("resuming", {{"source", Name()}, {"window_start", std::to_string(pos_.h)},
                         {"window_end", std::to_string(pos_.e)}, {"in_window", pos_.resume}});
}

void PgTableSource::LoadPlan(pqxx::connection& c) {
  pqxx::read_transaction tx(c);
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(opt_.settings.statement_timeout.count()));
  const std::string table = stages::QuoteTable(opt_.settings.table);
  const pqxx::result cols = tx.exec_params(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, t.typname, a.attnotnull "
      "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
      "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      table);
  std::vector<stages::PgColumn> catalog;
  for (const auto& r : cols) {
    stages::PgColumn col;
    col.name = r[0].c_str();
    col.type = r[1].c_str();
    col.category = r[2].size() ? r[2].c_str()[0] : 'U';
    col.typname = r[3].c_str();
    col.not_null = r[4].as<bool>();
    catalog.push_back(std::move(col));
  }
  std::vector<std::string> primary_key;
  const pqxx::result pk = tx.exec_params(
      "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
      "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
      "WHERE i.indrelid = $1::regclass AND i.indisprimary "
      "ORDER BY array_position(i.indkey::int2[], a.attnum)",
      table);
  for (const auto& r : pk) primary_key.emplace_back(r[0].c_str());
  tx.commit();
  plan_ = stages::BuildPgQueryPlan(opt_.settings, opt_.raw, catalog, primary_key);
}

PgTableSource::Page PgTableSource::ReadPage(pqxx::connection& c, std::size_t limit) {
  Page page;
  pqxx::read_transaction tx(c);
  // Session settings that make every text form below stable and every value round-trip.
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(opt_.settings.statement_timeout.count()) +
          "; SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 3");
  if (pos_.e == 0) {
    // A new window ends at the oldest transaction still running: every xid below it is over.
    const pqxx::row r = tx.exec1("SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text FROM pg_current_snapshot() s");
    const std::uint64_t e = r[0].as<std::uint64_t>();
    NoteHeld(e, r[1].as<std::uint64_t>());
    if (e < pos_.h) {
      // The snapshot xmin never goes back on one cluster: the database was replaced or
      // restored from a backup, and its new transactions may have ids the windows already
      // passed. Read the table again from its start: duplicates (upserted by the sink), no gap.
      log_.Error("the database's transaction ids are behind the committed position (restored or replaced?); "
                 "reading the table again from its start",
                 {{"source", Name()}, {"window_start", std::to_string(pos_.h)}, {"snapshot_xmin", std::to_string(e)}});
      pos_.h = 0;
    }
    if (e <= pos_.h) {
      tx.commit();
      return page;  // nothing ended since the last window
    }
    pos_.e = e;
    pos_.resume = false;
    pos_.after.clear();
  }
  stages::PgQueryPlan plan = *plan_;
  plan.batch_size = static_cast<std::int64_t>(limit);
  const stages::PgPageQuery q = stages::BuildPageQuery(plan, pos_);
  std::vector<std::string> params;
  for (const auto& p : q.params) params.push_back(p.value_or(""));
  const pqxx::result rows = tx.exec_params(q.sql, pqxx::prepare::make_dynamic_params(params));
  tx.commit();
  page.rows.reserve(rows.size());
  for (const auto& r : rows) {
    std::vector<std::optional<std::string>> cells;
    cells.reserve(r.size());
    for (const auto& f : r) cells.push_back(Cell(f));
    page.rows.push_back(std::move(cells));
  }
  return page;
}

void PgTableSource::NoteHeld(std::uint64_t xmin, std::uint64_t xmax) {
  // xmin < xmax: transaction xmin is running, and rows of transactions that began after it
  // wait for it to end. Say so once a minute while the same one holds the window.
  const auto now = std::chrono::steady_clock::now();
  if (xmin >= xmax || xmin != held_xid_) {
    held_xid_ = xmin < xmax ? xmin : 0;
    held_since_ = now;
    held_warned_ = now;
    return;
  }
  if (now - held_warned_ < std::chrono::minutes(1)) return;
  held_warned_ = now;
  log_.Warn("a long transaction holds the source back: rows of later transactions wait until it ends",
            {{"source", Name()}, {"xid", std::to_string(xmin)},
             {"held_s", std::chrono::duration_cast<std::chrono::seconds>(now - held_since_).count()}});
}

void PgTableSource::TakeRow(runtime::SourceBatch& batch, const std::vector<std::optional<std::string>>& cells) {
  const stages::PgQueryPlan& plan = *plan_;
  const std::size_t nf = plan.fields.size(), no = plan.order.size();
  runtime::SourceItem item;
  runtime::Record& rec = item.record;
  const std::int64_t now_ms = NowMs();
  const std::string xmin = cells[nf + no].value_or("");
  rec.origin.kind = runtime::Origin::Kind::kPostgres;
  rec.origin.file = Name();
  rec.origin.line = pos_.rows;
  rec.source_time = runtime::SourceTime(std::chrono::milliseconds(now_ms));
  rec.headers = {{runtime::kHeaderOrigin, rec.origin.ToString()},
                 {runtime::kHeaderSourceTs, std::to_string(now_ms)},
                 {kHeaderSourceName, Name()},
                 {kHeaderSourceTable, opt_.settings.table},
                 {kHeaderSourceXmin, xmin}};
  // The original: the columns as read (text), a JSON object in raw-field order.
  nlohmann::ordered_json original = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < nf; ++i) {
    original[plan.fields[i].column] = cells[i] ? nlohmann::ordered_json(*cells[i]) : nlohmann::ordered_json(nullptr);
  }
  rec.original = original.dump();
  stages::Row row;
  row.Reserve(nf);
  std::string why;
  bool fits = true;
  for (std::size_t i = 0; i < nf && fits; ++i) {
    auto v = stages::PgTextToValue(cells[i], plan.fields[i], &why);
    if (!v) {
      fits = false;
      break;
    }
    row.Append(plan.fields[i].field, std::move(*v));
  }
  if (fits) {
    rec.key = KeyOf(row, opt_.key_fields);
    rec.value = std::move(row);
  } else {
    rec.value = rec.original;
    item.outcome = stages::Outcome::Reject(stages::DlqCode::kPgRow, why);
  }
  batch.items.push_back(std::move(item));
  pos_.after.assign(cells.begin() + static_cast<std::ptrdiff_t>(nf),
                    cells.begin() + static_cast<std::ptrdiff_t>(nf + no));
  pos_.resume = true;
  ++pos_.rows;
}

runtime::PollStatus PgTableSource::Poll(runtime::SourceBatch& batch, std::size_t max) {
  if (finished_) return runtime::PollStatus::kFinished;
  const std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(max, static_cast<std::size_t>(opt_.settings.batch_size)));
  Page page;
  try {
    conn_->Run([&](pqxx::connection& c) {
      if (!plan_) LoadPlan(c);
      page = ReadPage(c, limit);
    });
  } catch (const pg::PgError& e) {
    if (e.Retryable()) throw;
    throw core::ConfigError("source " + Name() + " (table " + opt_.settings.table + "): " + e.what());
  }
  for (const auto& cells : page.rows) TakeRow(batch, cells);
  const bool window_done = pos_.e != 0 && page.rows.size() < limit;
  if (window_done) {
    pos_.h = pos_.e;
    pos_.e = 0;
    pos_.resume = false;
    pos_.after.clear();
    ++pos_.windows;
  }
  if (batch.items.empty()) {
    // Nothing to write: an empty window is not worth a transaction (re-reading it after a
    // restart finds it empty again). --once ends at the first empty window.
    if (opt_.once && (window_done || pos_.e == 0)) {
      finished_ = true;
      return runtime::PollStatus::kFinished;
    }
    return runtime::PollStatus::kIdle;
  }
  batch.positions[kPositionKey] = stages::EncodePgPosition(pos_);
  return runtime::PollStatus::kBatch;
}

void PgTableSource::Committed() { committed_ = pos_; }

}  // namespace sluice::producer

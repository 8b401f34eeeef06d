#include "enricher_stage.hpp"

#include <algorithm>

#include <pqxx/pqxx>

#include "sluice/core/error.hpp"
#include "sluice/pg/pg_error.hpp"
#include "sluice/pg/table_name.hpp"

namespace sluice::enricher {

std::optional<stages::HttpResponse> HttpFetcher::Fetch(const std::string& url,
                                                       core::Duration timeout) {
  auto& client = clients_[timeout.count()];
  if (!client) {
    http::ClientOptions o;
    o.timeout = timeout;
    o.connect_timeout = std::min(timeout, core::Duration(3'000));
    client = std::make_unique<http::Client>(o);
  }
  try {
    auto r = client->Get(url);
    return stages::HttpResponse{static_cast<int>(r.status), std::move(r.body)};
  } catch (const core::InfraError&) {
    return std::nullopt;  // timeout, refused: the step uses its fallback
  }
}

std::vector<stages::Row> LoadTable(pg::Connection& conn, const std::string& table,
                                   const std::string& key_column,
                                   const std::vector<std::string>& columns) {
  pg::TableName name;
  if (auto dot = table.find('.'); dot != std::string::npos) {
    name.schema = table.substr(0, dot);
    name.name = table.substr(dot + 1);
  } else {
    name.name = table;
  }
  std::vector<std::string> wanted{key_column};
  for (const auto& c : columns) {
    if (c != key_column) wanted.push_back(c);
  }
  try {
    return conn.Run([&](pqxx::connection& c) {
      std::string sql = "SELECT ";
      for (std::size_t i = 0; i < wanted.size(); ++i) {
        sql += (i ? ", " : "") + c.quote_name(wanted[i]);
      }
      sql += " FROM " + name.Quoted(c);
      pqxx::read_transaction tx(c);
      pqxx::result res = tx.exec(sql);
      std::vector<stages::Row> rows;
      rows.reserve(res.size());
      for (const auto& r : res) {
        stages::Row row;
        for (std::size_t i = 0; i < wanted.size(); ++i) {
          if (r[static_cast<int>(i)].is_null()) {
            row.Set(wanted[i], stages::Null{});
          } else {
            row.Set(wanted[i], std::string(r[static_cast<int>(i)].c_str()));
          }
        }
        rows.push_back(std::move(row));
      }
      return rows;
    });
  } catch (const core::InfraError& e) {
    // A missing table is usually "not created yet" (the sink or the demo creates reference
    // tables): retry rather than exit, within the loop's retry budget.
    throw core::InfraError("reference table " + name.Display() + ": " + e.what(),
                           core::Retry::kYes);
  }
}

namespace {

pg::TableName ParseTableName(const std::string& table) {
  pg::TableName name;
  if (auto dot = table.find('.'); dot != std::string::npos) {
    name.schema = table.substr(0, dot);
    name.name = table.substr(dot + 1);
  } else {
    name.name = table;
  }
  return name;
}

// A timestamptz, timestamp or date expression as milliseconds since the epoch (text):
// -infinity as the smallest long, +infinity as the largest, null stays null.
std::string EpochMs(const std::string& expr) {
  return "CASE WHEN (" + expr + ") IS NULL THEN NULL WHEN isfinite(" + expr + ") THEN floor(extract(epoch from " +
         expr + ") * 1000)::bigint WHEN (" + expr + ") < 'epoch' THEN -9223372036854775807 ELSE 9223372036854775807 END";
}

}  // namespace

stages::VersionedTable::Snapshot LoadVersions(pg::Connection& conn, const stages::EnricherDeps::VersionedQuery& q) {
  const pg::TableName name = ParseTableName(q.table);
  std::vector<std::string> columns;
  for (const auto& c : q.columns) {
    if (std::find(columns.begin(), columns.end(), c) == columns.end()) columns.push_back(c);
  }
  try {
    return conn.Run([&](pqxx::connection& c) {
      const std::string table = name.Quoted(c);
      const std::string key = c.quote_name(q.key_column);
      const std::string valid_from = c.quote_name(q.valid_from_column);
      std::string sql = "SELECT " + key + ", " + EpochMs(valid_from);
      for (const auto& col : columns) sql += ", " + c.quote_name(col);
      sql += " FROM " + table + " WHERE " + key + " IS NOT NULL AND " + valid_from + " IS NOT NULL";
      const std::string horizon_sql = q.horizon_query.empty()
                                          ? "SELECT max(" + valid_from + ") FROM " + table
                                          : q.horizon_query;
      // One snapshot for both: the horizon never covers a version the copy does not hold.
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      const pqxx::result rows = tx.exec(sql);
      const pqxx::result horizon = tx.exec("SELECT " + EpochMs("h") + " FROM (" + horizon_sql + ") AS sluice_horizon(h)");
      tx.commit();
      if (horizon.size() > 1) {
        throw core::InfraError("the horizon query returned " + std::to_string(horizon.size()) +
                                   " rows, expected one: " + horizon_sql,
                               core::Retry::kYes);
      }
      stages::VersionedTable::Snapshot snapshot;
      if (horizon.size() == 1 && !horizon[0][0].is_null()) snapshot.horizon_ms = horizon[0][0].as<std::int64_t>();
      snapshot.versions.reserve(rows.size());
      for (const auto& r : rows) {
        if (r[1].is_null()) continue;  // valid from +infinity: never valid
        stages::VersionedTable::Version v;
        v.valid_from_ms = r[1].as<std::int64_t>();
        for (std::size_t i = 0; i < columns.size(); ++i) {
          const auto field = r[static_cast<int>(i + 2)];
          v.row.Set(columns[i], field.is_null() ? stages::Value{stages::Null{}} : stages::Value{std::string(field.c_str())});
        }
        snapshot.versions.emplace_back(std::string(r[0].c_str()), std::move(v));
      }
      return snapshot;
    });
  } catch (const core::InfraError& e) {
    // As LoadTable: a missing table is usually "not created yet"; retried within the budget.
    throw core::InfraError("versioned table " + name.Display() + ": " + e.what(), core::Retry::kYes);
  }
}

stages::EnricherDeps EnricherStage::MakeDeps(std::shared_ptr<pg::Connection> pg, std::shared_ptr<HttpFetcher> http,
                                             core::ShutdownToken shutdown) {
  stages::EnricherDeps deps;
  deps.table_loader = [pg](const std::string& table, const std::string& key_column,
                           const std::vector<std::string>& columns) {
    return stages::LookupTable::Loader(
        [pg, table, key_column, columns] { return LoadTable(*pg, table, key_column, columns); });
  };
  deps.versioned_loader = [pg](const stages::EnricherDeps::VersionedQuery& q) {
    return stages::VersionedTable::Loader([pg, q] { return LoadVersions(*pg, q); });
  };
  deps.http_fetch = [http](const std::string& url, core::Duration timeout) { return http->Fetch(url, timeout); };
  // A record held by pg_asof_lookup does not delay a stop: the wait ends, the transaction is
  // aborted and the record is redone by the next run.
  deps.wait_until = [shutdown](stages::SteadyTime until) {
    const auto now = std::chrono::steady_clock::now();
    if (until > now && shutdown.WaitFor(until - now)) {
      throw core::InfraError("stopping while a record waits for a versioned table", core::Retry::kNo);
    }
    return std::chrono::steady_clock::now();
  };
  return deps;
}

EnricherStage::EnricherStage(const pipeline::PipelineConfig& config, core::ShutdownToken shutdown)
    : http_(std::make_shared<HttpFetcher>()) {
  pg::ConnectionOptions options;
  options.conninfo = config.Endpoint().pg_conninfo;
  pg_ = std::make_shared<pg::Connection>(options);
  stages::EnricherDeps deps = MakeDeps(pg_, http_, std::move(shutdown));
  enricher_.emplace(config.SectionView("enricher").Child("steps").Node(),
                    stages::LoadRecordSpec(config.SchemaPath("enriched").string()),
                    config.File().string() + ": enricher.steps", std::move(deps));
}

runtime::StageResult EnricherStage::Process(runtime::Record record) {
  stages::EnrichResult result = enricher_->Process(std::move(record.Row()), std::chrono::steady_clock::now());
  if (!result.outcome.IsEmit()) return std::move(result.outcome);
  record.value = std::move(result.row);
  return runtime::EmitOne(std::move(record));
}

}  // namespace sluice::enricher

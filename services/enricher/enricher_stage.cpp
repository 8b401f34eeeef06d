#include "enricher_stage.hpp"

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

EnricherStage::EnricherStage(const pipeline::PipelineConfig& config)
    : http_(std::make_shared<HttpFetcher>()) {
  pg::ConnectionOptions options;
  options.conninfo = config.Endpoint().pg_conninfo;
  pg_ = std::make_shared<pg::Connection>(options);
  stages::EnricherDeps deps;
  deps.table_loader = [pg = pg_](const std::string& table, const std::string& key_column,
                                 const std::vector<std::string>& columns) {
    return stages::LookupTable::Loader(
        [pg, table, key_column, columns] { return LoadTable(*pg, table, key_column, columns); });
  };
  deps.http_fetch = [http = http_](const std::string& url, core::Duration timeout) {
    return http->Fetch(url, timeout);
  };
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

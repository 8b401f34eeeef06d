// The enricher's case files: `steps:` (or the pipeline file's enricher.steps) run through ONE
// Enricher in order, so reference-table copies and HTTP caches carry from case to case. `at:`
// is the enricher's clock (refresh intervals, cache TTLs). Inputs are typed into the input
// schema (the clean schema: what the cleaner emits). The outside world is the case file's:
//   tables: {ref_us_states: [{code: CT, name: Connecticut}, ...]}   # pg_lookup tables
//   http: {"http://rates/EUR": {status: 200, body: '{"rate": 1.1}'}, "http://rates/XXX": ~}
// (~: no answer, as a timeout). A table or URL the file does not list fails the case.
// pg_asof_lookup tables are `versioned_tables`, each with its rows (valid_from as a
// timestamp text) and optionally its `horizon` (default: the greatest valid_from):
//   versioned_tables: {units: {horizon: '2014-03-01T12:00:00', rows: [{unit_id: u1, valid_from: ..., name: ...}]}}
// A record that waits for the horizon waits on a virtual clock: the wait ends at once with the
// time it was asked to wait for, so `at:` of the following cases should lie beyond it.
// Marks are the http_lookup steps that used their fallback (`fallbacks:`).
#include "case_file.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "sluice/core/error.hpp"
#include "sluice/stages/enricher.hpp"

namespace sluice::cases {

namespace {

using stages::Row;

std::map<std::string, std::vector<Row>> TablesOf(const YAML::Node& node) {
  std::map<std::string, std::vector<Row>> tables;
  if (!node) return tables;
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto& rows = tables[it->first.as<std::string>()];
    const YAML::Node list = it->second;
    for (const auto& r : list) {
      Row row;
      // As the PostgreSQL loader returns them: text, or null.
      for (auto c = r.begin(); c != r.end(); ++c) {
        row.Set(c->first.as<std::string>(), c->second.IsNull() ? stages::Value{stages::Null{}}
                                                                : stages::Value{c->second.Scalar()});
      }
      rows.push_back(std::move(row));
    }
  }
  return tables;
}

std::int64_t TimeOf(const YAML::Node& node, const std::string& what) {
  std::string text = node.as<std::string>();
  if (!text.empty() && text.back() == 'Z') text.pop_back();
  for (const char* f : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"}) {
    if (auto ms = stages::ParseDateTime(text, f)) return *ms;
  }
  throw core::ConfigError(what + ": '" + node.as<std::string>() + "' is not a timestamp");
}

// versioned_tables: name -> the snapshot the loader returns, every column as text.
std::map<std::string, stages::VersionedTable::Snapshot> VersionedTablesOf(const YAML::Node& node,
                                                                          std::map<std::string, std::vector<Row>>* raw) {
  std::map<std::string, stages::VersionedTable::Snapshot> out;
  if (!node) return out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.as<std::string>();
    for (auto key = it->second.begin(); key != it->second.end(); ++key) {
      const std::string k = key->first.as<std::string>();
      if (k != "rows" && k != "horizon") {
        throw core::ConfigError("versioned_tables." + name + ": unknown key '" + k + "' (known: rows, horizon)");
      }
    }
    auto& rows = (*raw)[name];
    for (const auto& r : it->second["rows"]) {
      Row row;
      for (auto c = r.begin(); c != r.end(); ++c) {
        row.Set(c->first.as<std::string>(), c->second.IsNull() ? stages::Value{stages::Null{}} : stages::Value{c->second.Scalar()});
      }
      rows.push_back(std::move(row));
    }
    if (it->second["horizon"]) out[name].horizon_ms = TimeOf(it->second["horizon"], "versioned_tables." + name + ".horizon");
  }
  return out;
}

std::map<std::string, std::optional<stages::HttpResponse>> AnswersOf(const YAML::Node& node) {
  std::map<std::string, std::optional<stages::HttpResponse>> answers;
  if (!node) return answers;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::optional<stages::HttpResponse> answer;
    if (!it->second.IsNull()) {
      answer = stages::HttpResponse{it->second["status"].as<int>(200), it->second["body"].as<std::string>("")};
    }
    answers[it->first.as<std::string>()] = answer;
  }
  return answers;
}

// The case's input as the cleaner would have emitted it.
Row TypedInput(const YAML::Node& input, const std::optional<stages::RecordSpec>& spec) {
  Row row = InputOf(input);
  if (!spec) return row;
  for (const auto& [field, value] : row.cells()) {
    if (!spec->Find(field)) throw core::ConfigError("input field '" + field + "' is not in the input schema");
  }
  std::string why;
  auto typed = stages::TypeInto(row, *spec, &why);
  if (!typed) throw core::ConfigError("the input does not fit the input schema: " + why);
  return *typed;
}

}  // namespace

std::size_t RunEnricherCases(const CaseFile& file, Report& report) {
  const std::string path = file.path.string();
  const auto schema = file.SchemaOf("schema", "schema_file", "enriched");
  if (!schema) throw core::ConfigError("no enriched schema: give schema, schema_file or pipeline");
  const auto input_schema = file.SchemaOf("input_schema", "input_schema_file", "clean");

  const auto tables = TablesOf(file.doc["tables"]);
  const auto answers = AnswersOf(file.doc["http"]);
  std::map<std::string, std::vector<Row>> versioned_rows;
  const auto versioned = VersionedTablesOf(file.doc["versioned_tables"], &versioned_rows);
  stages::EnricherDeps deps;
  deps.versioned_loader = [&versioned, &versioned_rows](const stages::EnricherDeps::VersionedQuery& q) {
    return stages::VersionedTable::Loader([&versioned, &versioned_rows, q] {
      auto it = versioned_rows.find(q.table);
      if (it == versioned_rows.end()) {
        throw core::InfraError("table " + q.table + " is not in the case file's versioned_tables", core::Retry::kNo);
      }
      stages::VersionedTable::Snapshot snapshot = versioned.count(q.table) ? versioned.at(q.table) : stages::VersionedTable::Snapshot{};
      const bool default_horizon = !snapshot.horizon_ms;
      for (const auto& row : it->second) {
        for (const auto& column : q.columns) {
          if (!row.Find(column) || !row.Find(q.key_column) || !row.Find(q.valid_from_column)) {
            throw core::InfraError("versioned table " + q.table + ": a row has no column " + column + ", " +
                                       q.key_column + " or " + q.valid_from_column, core::Retry::kNo);
          }
        }
        if (IsNull(row.Get(q.key_column)) || IsNull(row.Get(q.valid_from_column))) continue;
        stages::VersionedTable::Version v;
        v.valid_from_ms = TimeOf(YAML::Node(stages::AsText(row.Get(q.valid_from_column))), "valid_from");
        for (const auto& column : q.columns) v.row.Set(column, row.Get(column));
        if (default_horizon) snapshot.horizon_ms = std::max(snapshot.horizon_ms.value_or(v.valid_from_ms), v.valid_from_ms);
        snapshot.versions.emplace_back(stages::AsText(row.Get(q.key_column)), std::move(v));
      }
      return snapshot;
    });
  };
  // A virtual clock: a wait ends at once, at the time it was for.
  deps.wait_until = [](stages::SteadyTime until) { return until; };
  deps.table_loader = [&tables](const std::string& table, const std::string& key_column,
                                 const std::vector<std::string>& columns) {
    return stages::LookupTable::Loader([&tables, table, key_column, columns] {
      auto it = tables.find(table);
      if (it == tables.end()) throw core::InfraError("table " + table + " is not in the case file's tables", core::Retry::kNo);
      // As PostgreSQL would refuse a SELECT of a column the table does not have.
      for (const auto& row : it->second) {
        for (const auto& column : columns) {
          if (!row.Find(column) || !row.Find(key_column)) {
            throw core::InfraError("table " + table + ": a row has no column " + (row.Find(key_column) ? column : key_column),
                                   core::Retry::kNo);
          }
        }
      }
      return it->second;
    });
  };
  deps.http_fetch = [&answers](const std::string& url, core::Duration) {
    auto it = answers.find(url);
    if (it == answers.end()) throw core::InfraError("URL " + url + " is not in the case file's http", core::Retry::kNo);
    return it->second;
  };

  std::size_t checked = RunConfigErrors(file, "steps", [&](const YAML::Node& steps) {
    stages::Enricher(steps, *schema, path + ": config_errors", deps);
  }, report);
  if (!file.doc["cases"]) return checked;

  stages::Enricher enricher(file.ListOf("enricher", "steps"), *schema, path + ": steps", deps);
  StageCases stage{"fallbacks", "fallback", false, &enricher.output(), [&](const YAML::Node& c) {
                     const auto now = stages::SteadyTime{} + std::chrono::milliseconds(MillisOf(c["at"]));
                     stages::EnrichResult r = enricher.Process(TypedInput(c["input"], input_schema), now);
                     return CaseResult{std::move(r.outcome), std::move(r.row), std::move(r.fallbacks)};
                   }};
  return checked + RunCases(file, stage, report);
}

}  // namespace sluice::cases

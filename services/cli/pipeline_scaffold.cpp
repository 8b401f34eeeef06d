#include "pipeline_scaffold.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "sluice/core/error.hpp"
#include "sluice/stages/csv_reader.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::cli {

namespace fs = std::filesystem;
using core::ConfigError;

namespace {

std::string Camel(const std::string& name) {
  std::string out;
  bool up = true;
  for (char c : name) {
    if (c == '_' || c == '-') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

std::string List(const std::vector<std::string>& items) {
  std::string s = "[";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + YamlScalar(items[i]);
  return s + "]";
}

const ColumnGuess* FindColumn(const std::vector<ColumnGuess>& cols, const std::string& name) {
  for (const auto& c : cols) {
    if (c.field == name || c.header == name || stages::ToLower(stages::Trim(c.header)) == stages::ToLower(name)) return &c;
  }
  return nullptr;
}

nlohmann::ordered_json AvroType(const ColumnGuess& c) {
  switch (c.type) {
    case ColumnType::kInt: return "int";
    case ColumnType::kLong: return "long";
    case ColumnType::kDouble: return "double";
    case ColumnType::kBoolean: return "boolean";
    case ColumnType::kDate: return {{"type", "int"}, {"logicalType", "date"}};
    // A CSV timestamp has no time zone: local-timestamp-millis, a `timestamp without time
    // zone` column in PostgreSQL holding the text's wall-clock time.
    case ColumnType::kTimestamp: return {{"type", "long"}, {"logicalType", "local-timestamp-millis"}};
    case ColumnType::kString: return "string";
  }
  return "string";
}

std::string SampleDoc(const ColumnGuess& c) {
  std::string doc = "CSV column '" + c.header + "': " + std::string(ColumnTypeName(c.type));
  for (std::size_t i = 0; i < c.formats.size(); ++i) doc += (i ? " or " : " (") + c.formats[i] + (i + 1 == c.formats.size() ? ")" : "");
  doc += " in the sample, " + std::to_string(c.empty) + " empty of " + std::to_string(c.empty + c.filled) + ".";
  return doc;
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw core::InfraError("cannot write " + path.string(), core::Retry::kNo);
}

}  // namespace

std::string YamlScalar(const std::string& s) {
  static const std::regex kPlain("^[A-Za-z_][A-Za-z0-9_.-]*$");
  static const std::set<std::string> kWords = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"};
  if (!s.empty() && std::regex_match(s, kPlain) && !kWords.count(stages::ToLower(s))) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void CheckPipelineName(const std::string& name) {
  static const std::regex kName("^[a-z][a-z0-9_-]*$");
  if (!std::regex_match(name, kName)) {
    throw ConfigError("pipeline name '" + name +
                      "' is not valid: lowercase letters, digits, '_' or '-', starting with a letter");
  }
}

CsvSample ReadCsvSample(const fs::path& csv, std::size_t max_rows, char delimiter) {
  if (!fs::is_regular_file(csv)) throw ConfigError(csv.string() + ": no such file");
  stages::CsvOptions options;
  options.delimiter = delimiter;
  stages::CsvFileReader reader(csv.string(), options);
  CsvSample sample;
  bool have_header = false;
  while (sample.rows.size() < max_rows) {
    auto item = reader.Next();
    if (!item) break;
    if (item->kind != stages::CsvItemKind::kRecord) continue;  // blank or malformed: not evidence
    if (!have_header) {
      sample.header = std::move(item->cells);
      have_header = true;
      reader.reader().SetExpectedColumns(sample.header.size());
      continue;
    }
    sample.rows.push_back(std::move(item->cells));
  }
  if (sample.header.empty()) throw ConfigError(csv.string() + ": no header line (the first line names the columns)");
  if (sample.rows.empty()) throw ConfigError(csv.string() + ": no data rows after the header to infer types from");
  return sample;
}

PipelineDraft DraftPipeline(const ScaffoldOptions& options, const CsvSample& sample) {
  CheckPipelineName(options.name);
  PipelineDraft d;
  d.name = options.name;
  d.source_file = options.csv.filename().string();
  d.sampled_rows = sample.rows.size();
  d.columns = InferColumns(sample.header, sample.rows, options.infer);
  if (!options.id_field.empty() && !options.key.empty()) throw ConfigError("give --id or --key, not both");
  if (!options.id_field.empty()) {
    if (options.id_field != FieldNameOf(options.id_field)) {
      throw ConfigError("--id " + options.id_field + ": not a field name (use e.g. " + FieldNameOf(options.id_field) + ")");
    }
    if (FindColumn(d.columns, options.id_field)) {
      throw ConfigError("--id " + options.id_field + ": the file already has a column of that name (use --key " +
                        options.id_field + ")");
    }
    d.id_field = options.id_field;
    d.key = {d.id_field};
  } else if (!options.key.empty()) {
    for (const auto& k : options.key) {
      const ColumnGuess* c = FindColumn(d.columns, k);
      if (!c) throw ConfigError("--key " + k + ": no such column in " + d.source_file);
      if (c->nullable) {
        throw ConfigError("--key " + k + ": the column has empty cells in the sample; a key must always be set "
                          "(use --id to derive one)");
      }
      d.key.push_back(c->field);
    }
  } else {
    for (const auto& c : d.columns) {
      if (!c.nullable && c.distinct == c.filled) {
        d.key = {c.field};
        break;
      }
    }
    if (d.key.empty()) {
      throw ConfigError("no column has a distinct value in every sampled row: give --key <columns>, or --id <field> "
                        "to derive an id from a hash of the columns");
    }
  }
  // The inbox: relative to the pipeline file when the folder is inside the repository (as
  // loans' ../../.stack/inbox/loans), else absolute.
  const fs::path folder = fs::weakly_canonical(fs::absolute(options.dir / options.name));
  const fs::path inbox = fs::weakly_canonical(fs::absolute(options.inbox));
  const fs::path root = options.repo_root.empty() ? fs::path() : fs::weakly_canonical(options.repo_root);
  const auto inside = [](const fs::path& p, const fs::path& base) {
    if (base.empty()) return false;
    const auto rel = p.lexically_relative(base);
    return !rel.empty() && *rel.begin() != "..";
  };
  d.inbox = inside(folder, root) && inside(inbox, root) ? inbox.lexically_relative(folder).string() : inbox.string();
  return d;
}

std::string PipelineYaml(const PipelineDraft& d) {
  std::ostringstream y;
  y << "# The " << d.name << " pipeline, drafted by `sluice pipeline new` from " << d.sampled_rows
    << " sampled rows of " << d.source_file << ".\n"
    << "# The types and rules below are what the sample suggests: review them (docs/pipeline-file.md,\n"
    << "# docs/cleaning-rules.md), add case files under cases/, and check with `sluice pipeline test`.\n"
    << "# Paths are relative to this file; endpoints and secrets come from the environment.\n"
    << "pipeline: " << d.name << "\n"
    << "description: " << YamlScalar("drafted from " + d.source_file) << "\n\n"
    << "schemas:\n"
    << "  raw: schemas/" << d.name << ".raw.v1.avsc\n"
    << "  clean: schemas/" << d.name << ".clean.v1.avsc\n"
    << "  enriched: schemas/" << d.name << ".enriched.v1.avsc\n\n";

  y << "producer:\n  sources:\n    - type: csv\n      name: " << YamlScalar(FieldNameOf(fs::path(d.source_file).stem().string()))
    << "\n      # A watched inbox: `sluice pipeline feed " << d.name << " <file>` drops files here.\n"
    << "      dir: " << YamlScalar(d.inbox) << "\n      watch: true\n";
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& c : d.columns) {
    if (stages::ToLower(stages::Trim(c.header)) != c.field) renames.emplace_back(c.header, c.field);
  }
  if (!renames.empty()) {
    y << "      # CSV headers that are not field names.\n      columns:\n";
    for (const auto& [h, f] : renames) y << "        " << YamlScalar(h) << ": " << f << "\n";
  }
  y << "  key: " << List(d.key) << "\n";
  if (!d.id_field.empty()) {
    std::vector<std::string> from;
    for (const auto& c : d.columns) from.push_back(c.field);
    y << "  # The file has no id: " << d.id_field << " is a hash of every column, so identical rows share an id\n"
      << "  # (a repeated line is a duplicate) and re-feeding a file changes nothing.\n"
      << "  id:\n    field: " << d.id_field << "\n    from: " << List(from) << "\n";
  }

  y << "\ncleaner:\n  rules:\n"
    << "    # Duplicates by key go to the DLQ, so rows in = rows loaded + rows in the DLQ.\n"
    << "    - name: duplicate\n      type: dedupe\n      key: " << List(d.key)
    << "\n      window: 24h\n      max_keys: 1000000\n      action: reject\n";
  std::vector<std::string> required;
  for (const auto& c : d.columns) {
    if (!c.nullable) required.push_back(c.field);
  }
  if (!required.empty()) {
    y << "\n    # Columns with no empty cell in the sample.\n"
      << "    - name: required_fields\n      type: required\n      fields: " << List(required) << "\n";
  }
  for (const auto& c : d.columns) {
    if (c.type == ColumnType::kString) continue;
    const std::string to = c.type == ColumnType::kBoolean ? "bool" : std::string(ColumnTypeName(c.type));
    y << "\n    - name: " << c.field << "_" << to << "\n      type: coerce\n      field: " << c.field
      << "\n      to: " << to << "\n";
    if (!c.formats.empty()) y << "      formats: " << List(c.formats) << "\n";
    if (!c.bool_map.empty()) {
      y << "      map: {";
      bool first = true;
      for (const auto& [from, val] : c.bool_map) {
        y << (first ? "" : ", ") << YamlScalar(from) << ": " << YamlScalar(val);
        first = false;
      }
      y << "}\n";
    }
  }
  for (const auto& c : d.columns) {
    if (c.categories.empty()) continue;
    y << "\n    # " << c.distinct << " distinct values in " << c.filled << " sampled cells.\n"
      << "    - name: " << c.field << "_value\n      type: allowed\n      field: " << c.field
      << "\n      values: " << List(c.categories) << "\n";
  }

  y << "\nenricher:\n  steps: []\n\n"
    << "sink:\n  table: " << FieldNameOf(d.name) << "\n  key: " << List(d.key) << "\n";
  return y.str();
}

nlohmann::ordered_json RawSchema(const PipelineDraft& d) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::array();
  if (!d.id_field.empty()) {
    fields.push_back({{"name", d.id_field}, {"type", "string"}, {"doc", "Id derived by the producer from a hash of the row's columns."}});
  }
  for (const auto& c : d.columns) {
    fields.push_back({{"name", c.field}, {"type", {"null", "string"}}, {"default", nullptr}, {"doc", "CSV column '" + c.header + "' as read."}});
  }
  return {{"type", "record"}, {"name", Camel(d.name) + "Raw"}, {"namespace", "sluice." + FieldNameOf(d.name)},
          {"doc", "One row of " + d.source_file + " as read: every column is the cell's text (null when empty)."},
          {"fields", fields}};
}

nlohmann::ordered_json CleanSchema(const PipelineDraft& d, const std::string& record_suffix) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::array();
  if (!d.id_field.empty()) fields.push_back({{"name", d.id_field}, {"type", "string"}, {"doc", "Id derived from the row (see raw)."}});
  for (const auto& c : d.columns) {
    nlohmann::ordered_json f = {{"name", c.field}};
    if (c.nullable) {
      f["type"] = nlohmann::ordered_json::array({"null", AvroType(c)});
      f["default"] = nullptr;
    } else {
      f["type"] = AvroType(c);
    }
    f["doc"] = SampleDoc(c);
    fields.push_back(std::move(f));
  }
  return {{"type", "record"}, {"name", Camel(d.name) + record_suffix}, {"namespace", "sluice." + FieldNameOf(d.name)},
          {"doc", "A validated, typed row of the " + d.name + " pipeline."}, {"fields", fields}};
}

fs::path ScaffoldPipeline(const ScaffoldOptions& options, PipelineDraft* draft_out) {
  CheckPipelineName(options.name);
  const fs::path folder = options.dir / options.name;
  const fs::path file = folder / "pipeline.yaml";
  if (fs::exists(file) && !options.force) {
    throw ConfigError(file.string() + " exists already (--force overwrites it)");
  }
  const CsvSample sample = ReadCsvSample(options.csv, options.sample_rows, options.delimiter);
  PipelineDraft draft = DraftPipeline(options, sample);
  fs::create_directories(folder / "schemas");
  fs::create_directories(folder / "cases");
  const std::string base = (folder / "schemas" / options.name).string();
  WriteFile(base + ".raw.v1.avsc", RawSchema(draft).dump(2) + "\n");
  WriteFile(base + ".clean.v1.avsc", CleanSchema(draft, "Clean").dump(2) + "\n");
  WriteFile(base + ".enriched.v1.avsc", CleanSchema(draft, "Enriched").dump(2) + "\n");
  WriteFile(file.string(), PipelineYaml(draft));
  if (draft_out) *draft_out = std::move(draft);
  return file;
}

}  // namespace sluice::cli

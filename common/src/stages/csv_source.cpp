#include "sluice/stages/csv_source.hpp"

#include <algorithm>

#include "sluice/core/error.hpp"
#include "sluice/stages/yaml_util.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::stages {

using core::ConfigError;

CsvSourceSettings CsvSourceSettingsFromYaml(const YAML::Node& source, const YAML::Node& id,
                                            const RecordSpec& raw, const std::string& origin) {
  CsvSourceSettings s;
  YamlMap m(source, origin);
  m.AllowOnly({"type", "name", "path", "dir", "glob", "watch", "poll_interval", "delimiter",
               "header", "columns", "null_values"});
  s.name = m.String("name", "csv");
  const std::string delim = m.String("delimiter", ",");
  if (delim.size() != 1) m.Fail("delimiter", "expected one character");
  s.csv.delimiter = delim[0];
  s.header = m.Bool("header", true);
  if (m.Has("columns")) {
    const auto node = m.Get("columns");
    if (!node.IsMap()) m.Fail("columns", "expected a map of CSV column: field");
    for (auto it = node.begin(); it != node.end(); ++it) s.columns[it->first.Scalar()] = it->second.Scalar();
  }
  if (m.Has("null_values")) {
    s.null_values.clear();
    for (const auto& v : m.Get("null_values")) s.null_values.push_back(v.Scalar());
  }
  if (id && id.IsMap()) {
    YamlMap im(id, origin + " id");
    im.AllowOnly({"field", "from", "prefix"});
    s.id_field = im.String("field");
    if (im.Has("from") && im.Get("from").size() > 0) s.id_from = im.StringList("from");
    s.id_prefix = im.String("prefix", "");
    if (!raw.Find(s.id_field)) im.Fail("field", "'" + s.id_field + "' is not a field of the raw schema");
  }
  for (const auto& f : raw.fields) {
    if (f.name != s.id_field) s.fields.push_back(f.name);
  }
  for (const auto& f : s.id_from) {
    if (std::find(s.fields.begin(), s.fields.end(), f) == s.fields.end()) {
      throw ConfigError(origin + " id.from: '" + f + "' is not a CSV-fed field of the raw schema");
    }
  }
  return s;
}

CsvSource::CsvSource(CsvSourceSettings settings, std::string file)
    : settings_(std::move(settings)), file_(std::move(file)) {
  if (!settings_.header) {
    // Without a header the columns are the fields, in schema order.
    UseHeader(settings_.fields);
  }
}

void CsvSource::UseHeader(const std::vector<std::string>& header) {
  mapping_ = HeaderMapping::Build(header, settings_.fields, settings_.columns, {}, file_);
}

SourceRecord CsvSource::Accept(const CsvItem& item) {
  SourceRecord out;
  out.start = item.start;
  out.next = item.next;
  out.raw = item.raw;
  if (item.kind == CsvItemKind::kEmptyLine) {
    out.outcome = Outcome::Reject(DlqCode::kEmptyLine, "empty line");
    return out;
  }
  if (item.kind == CsvItemKind::kError) {
    out.outcome = Outcome::Reject(item.too_large ? DlqCode::kTooLarge : DlqCode::kCsv, item.reason);
    return out;
  }
  if (!mapping_) {
    UseHeader(item.cells);  // throws ConfigError for a header that does not fit the schema
    out.outcome = Outcome::Skip();
    return out;
  }
  if (item.cells.size() != mapping_->columns()) {
    out.outcome = Outcome::Reject(DlqCode::kCsv, "expected " + std::to_string(mapping_->columns()) +
                                                     " columns, found " + std::to_string(item.cells.size()));
    return out;
  }
  out.row = mapping_->ToRow(item.cells, settings_.null_values);
  if (!settings_.id_field.empty()) {
    if (settings_.id_from.empty()) {
      // No content identity declared: the row's place in its source identifies it.
      Row keyed = out.row;
      keyed.Set("#source", settings_.name);
      keyed.Set("#line", static_cast<std::int64_t>(item.start.line));
      std::vector<std::string> from = settings_.fields;
      from.push_back("#source");
      from.push_back("#line");
      out.key = ContentKey(keyed, from, settings_.id_prefix);
    } else {
      out.key = ContentKey(out.row, settings_.id_from, settings_.id_prefix);
    }
    // The id goes first, as in the raw schema.
    Row with_id;
    with_id.Reserve(out.row.size() + 1);
    with_id.Append(settings_.id_field, out.key);
    for (const auto& [name, value] : out.row.cells()) with_id.Append(name, value);
    out.row = std::move(with_id);
  }
  out.outcome = Outcome::Emit();
  return out;
}

std::vector<std::string> CsvSource::ReadHeader(const std::string& path, const CsvOptions& options) {
  CsvFileReader reader(path, options);
  while (auto item = reader.Next()) {
    if (item->kind == CsvItemKind::kRecord) return item->cells;
    if (item->kind == CsvItemKind::kError) {
      throw ConfigError(path + ": line " + std::to_string(item->start.line) + ": bad header: " + item->reason);
    }
  }
  throw ConfigError(path + ": no header record");
}

}  // namespace sluice::stages

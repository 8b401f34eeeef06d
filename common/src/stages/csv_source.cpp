#include "sluice/stages/csv_source.hpp"

#include <algorithm>

#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"
#include "sluice/stages/http_source.hpp"
#include "sluice/stages/kafka_json_source.hpp"
#include "sluice/stages/pg_cdc_source.hpp"
#include "sluice/stages/pg_source.hpp"

namespace sluice::stages {

using core::ConfigError;

namespace {

// The csv source type: RFC 4180 files, one or a watched directory.
void DeclareCsv(config::Section& csv) {
  using T = config::OptionType;
  csv.Add("name", T::kString).Describe("Source name in provenance headers and positions; defaults to the type and index (csv0)").Example("lending_club");
  csv.Add("path", T::kString).Describe("One CSV file, relative to the pipeline file").Example("sample/lending_club_sample.csv");
  csv.Add("dir", T::kString).Describe("A directory of CSV files, relative to the pipeline file").Example("/var/spool/loans");
  csv.Add("glob", T::kString).Default("'*.csv'").Describe("File name pattern inside dir").Example("loans-*.csv");
  csv.Add("watch", T::kBool).Default("false").Describe("Keep running and pick up new files in dir").Example("true");
  csv.Add("poll_interval", T::kDuration).Default("200ms").Describe("How often a watched dir is scanned").Example("500ms");
  csv.Add("delimiter", T::kString).Default("','").Describe("Field separator (one character)").Example("';'");
  csv.Add("header", T::kBool).Default("true").Describe("The first row names the columns").Example("true");
  csv.Add("columns", T::kMap).Default("{}").Describe("CSV column -> schema field, for names that differ").Example("{Order ID: order_id}");
  csv.Add("null_values", T::kList).Default("['']").Describe("Cell values read as null").Example("['', NA]");
  csv.Check(config::OneOf({"path", "dir"}));
  csv.Check([](const YAML::Node& raw, const YAML::Node& eff, const std::string& path, config::Validator& v) {
    const YAML::Node delimiter = config::Lookup(eff, "delimiter");
    if (delimiter.IsScalar() && delimiter.Scalar().size() != 1) {
      v.Error(config::Lookup(raw, "delimiter"), config::JoinPath(path, "delimiter"),
              "expected one character, got '" + delimiter.Scalar() + "'");
    }
  });
}

std::shared_ptr<SourceSettings> MakeCsv(const ComponentInput& in, const RecordSpec& raw, const config::View& id) {
  auto s = std::make_shared<CsvSourceSettings>();
  const config::View& o = in.options;
  s->name = o.OptionalString("name").value_or("csv" + std::to_string(in.index));
  s->path = o.OptionalString("path").value_or("");
  s->dir = o.OptionalString("dir").value_or("");
  s->glob = o.String("glob");
  s->watch = o.Bool("watch");
  s->poll_interval = o.Duration("poll_interval");
  s->csv.delimiter = o.String("delimiter")[0];
  s->header = o.Bool("header");
  s->columns = o.StringMap("columns");
  s->null_values = o.Strings("null_values");
  if (id.Exists()) {
    s->id_field = id.String("field");
    // producer.id is declared with the producer; a raw (unvalidated) section may lack the
    // defaulted keys.
    if (id.Has("from")) s->id_from = id.Strings("from");
    s->id_prefix = id.OptionalString("prefix").value_or("");
    if (!raw.Find(s->id_field)) {
      throw ConfigError(in.where + ": producer.id.field: '" + s->id_field + "' is not a field of the raw schema");
    }
  }
  for (const auto& f : raw.fields) {
    if (f.name != s->id_field) s->fields.push_back(f.name);
  }
  for (const auto& f : s->id_from) {
    if (std::find(s->fields.begin(), s->fields.end(), f) == s->fields.end()) {
      throw ConfigError(in.where + ": producer.id.from: '" + f + "' is not a CSV-fed field of the raw schema");
    }
  }
  return s;
}

}  // namespace

const SourceList& SourceTypes() {
  static const SourceList list(
      "source", {{"csv", "RFC 4180 CSV files: one file, or a directory watched for new files", DeclareCsv,
                  {"{name: loans, path: loans.csv, delimiter: ';', header: false, columns: {ID: id}, null_values: ['', NA]}",
                   "{dir: inbox, glob: '*.txt', watch: true, poll_interval: 200ms}"},
                  MakeCsv},
                 {"http", "A JSON HTTP API polled page by page, incrementally from the last position",
                  DeclareHttpSource, HttpSourceExamples(), MakeHttpSource},
                 {"kafka_json", "A topic of JSON messages written by another team, one record per message",
                  DeclareKafkaJsonSource, KafkaJsonSourceExamples(), MakeKafkaJsonSource},
                 {"postgres_cdc", "PostgreSQL changes by logical replication (pgoutput): an initial snapshot, then inserts, updates and deletes",
                  DeclarePgCdcSource, PgCdcSourceExamples(), MakePgCdcSource},
                 {"postgres", "A PostgreSQL table polled incrementally, by transaction windows that never skip a row committed out of order (connection: SLUICE_PG_URL or the PG* variables)",
                  DeclarePgSource, PgSourceExamples(), MakePgSource}});
  return list;
}

CsvSourceSettings CsvSourceSettingsFromYaml(const YAML::Node& source, const YAML::Node& id,
                                            const RecordSpec& raw, const std::string& origin) {
  YAML::Node items(YAML::NodeType::Sequence);
  items.push_back(source);
  auto built = SourceTypes().Build(items, origin, raw, config::View(id, "producer.id"));
  const auto* csv = dynamic_cast<const CsvSourceSettings*>(built.at(0).get());
  if (!csv) throw ConfigError(origin + ": not a csv source");
  return *csv;
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

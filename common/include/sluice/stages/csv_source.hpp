#pragma once
// The producer's CSV stage logic: turns the items of one CSV file (CsvReader) into raw rows
// keyed by a stable id, or into rejects for the DLQ. Pure: the wiring reads the file, sends
// the rows and commits positions.
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/core/duration.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/csv_reader.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

// What a source type's factory makes: the settings of one source of producer.sources, read
// from the pipeline file. The producer turns each into its plug-in (a runtime::Source).
struct SourceSettings {
  virtual ~SourceSettings() = default;
  std::string name;  // provenance: the source's name (`name`, else "<type><index>")
};

// Options of one csv source (the pipeline file's producer.sources[i] and producer.id).
struct CsvSourceSettings : SourceSettings {
  std::string path;                               // one file, or
  std::string dir;                                // a directory of files matching glob
  std::string glob = "*.csv";
  bool watch = false;                             // keep scanning dir for new files
  core::Duration poll_interval{1000};
  CsvOptions csv;                                 // delimiter, quote, record cap
  bool header = true;                             // false: columns are the fields in order
  std::map<std::string, std::string> columns;     // CSV column -> field, where names differ
  std::vector<std::string> null_values = {""};    // cell texts read as null
  std::vector<std::string> fields;                // raw-schema fields the CSV provides
  std::string id_field;                           // field receiving the derived id ("" = none)
  std::vector<std::string> id_from;               // fields hashed into the id ([] = all + source + line)
  std::string id_prefix;
};

// The source types: a factory gets the raw schema and the producer's id section.
using SourceList = ComponentList<SourceSettings, const RecordSpec&, const config::View&>;
const SourceList& SourceTypes();

// Reads one csv item of producer.sources and producer.id (`id` may be undefined) into
// settings; path and dir stay as written (relative to the pipeline file). Throws
// core::ConfigError.
CsvSourceSettings CsvSourceSettingsFromYaml(const YAML::Node& source, const YAML::Node& id,
                                            const RecordSpec& raw, const std::string& origin);

// What one CSV item became: the shared Outcome (emit a row; skip the header line; reject a
// malformed row as csv, too_large or empty_line) and the source's own payload.
struct SourceRecord {
  Outcome outcome;     // emit, skip (the header line) or reject
  Row row;             // emit: raw row (strings/nulls) including the id field
  std::string key;     // emit: the id (also in row), "" when no id field
  std::string raw;     // the item's original bytes (for the DLQ)
  CsvPosition start;   // provenance: line and byte offset of the item
  CsvPosition next;    // the source position to commit after this item
};

// One instance per file being read; not thread-safe.
class CsvSource {
 public:
  CsvSource(CsvSourceSettings settings, std::string file);

  // The first record of a file (read from offset 0) is its header when settings.header.
  // Throws core::ConfigError when the header does not match the schema (the whole file is
  // unusable: one clear message naming the file, the unknown and the missing columns).
  SourceRecord Accept(const CsvItem& item);
  // Resuming in the middle of a file: the header is read separately (ReadHeader).
  void UseHeader(const std::vector<std::string>& header);
  bool has_header() const { return mapping_.has_value(); }

  // Reads the first record of a file. Throws core::InfraError when unreadable,
  // core::ConfigError when the file has no header record.
  static std::vector<std::string> ReadHeader(const std::string& path, const CsvOptions& options);

 private:
  CsvSourceSettings settings_;
  std::string file_;
  std::optional<HeaderMapping> mapping_;
};

}  // namespace sluice::stages

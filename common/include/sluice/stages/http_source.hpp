#pragma once
// The http source type's settings and its pure logic: templates, reading a response page into
// raw rows (records path, field mapping with type checks), the next page of each pagination
// style, and the position a source commits. No I/O: the producer's plug-in
// (producer::HttpApiSource) sends the requests and feeds the responses through here.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/config/spec.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/dlq_code.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

enum class Pagination { kNone, kNextLink, kPage, kOffset, kCursor };
enum class CursorKind { kString, kNumber, kDate };

// Options of one http source (the pipeline file's producer.sources[i], type http).
struct HttpSourceSettings : SourceSettings {
  std::string method = "GET";
  std::string url;                           // template
  std::map<std::string, std::string> query;  // name -> template
  std::map<std::string, std::string> headers;
  std::string body;                          // template (POST)
  std::string records;                       // JSON path of the record list ("" = the body)
  std::map<std::string, std::string> fields;  // raw field -> JSON path (in the record; "$." = body)
  // Incremental reading: {cursor} in a template is the greatest value of `cursor_field` read
  // so far (cursor_start before the first record).
  std::string cursor_field;                  // "" = no incremental cursor
  std::string cursor_start;
  CursorKind cursor_kind = CursorKind::kString;
  Pagination pagination = Pagination::kNone;
  std::string page_param;                    // query parameter of page/offset/cursor styles
  std::int64_t page_start = 1;               // first page (page) or offset (offset)
  std::int64_t page_size = 0;                // offset: records per page ({limit} too)
  std::string page_path;                     // next_link: URL path; cursor: token path; page: last page
  core::Duration every{3'600'000};           // a sweep (all pages) per interval
  core::Duration timeout{10'000};
  std::int64_t max_response_bytes = 10 * 1024 * 1024;
  std::int64_t max_records_per_page = 10'000;
  double rate_per_second = 10;               // requests per second at most (0 = no limit)
};

// The http type of SourceTypes(): its declaration, examples and factory.
void DeclareHttpSource(config::Section& http);
const std::vector<std::string>& HttpSourceExamples();
std::shared_ptr<SourceSettings> MakeHttpSource(const ComponentInput& in, const RecordSpec& raw,
                                               const config::View& id);

// The checks every JSON source's factory makes (`type` names it in messages): each mapped
// field is a raw field, no raw field is a date (read as text, coerced in the cleaner), and
// producer.id (for CSV rows) is not set. Fails through `in`.
void CheckJsonSourceFields(const ComponentInput& in, const RecordSpec& raw,
                           const std::map<std::string, std::string>& fields, const config::View& id,
                           const std::string& type);

// Reads "10/s", "600/m", "3600/h" into requests per second. nullopt when malformed.
std::optional<double> ParseRate(const std::string& text);

// Expands {name} placeholders: {env:NAME} from `env` (nullopt -> core::ConfigError naming the
// variable and `where`), any other name from `vars` (unknown -> core::ConfigError). "{{" and
// "}}" are literal braces, as is a brace not around a name ({"page": {page}} is JSON).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::string ExpandTemplate(const std::string& text, const std::map<std::string, std::string>& vars,
                           const EnvLookup& env, const std::string& where);
// The placeholder names of a template other than env:..., for validating a pipeline file.
std::vector<std::string> TemplateNames(const std::string& text);

// A JSON value by dotted path with [n] indexes ("data", "rates.INR", "items[0].id"); "" is the
// value itself. nullptr when any step is missing.
const nlohmann::json* JsonAt(const nlohmann::json& value, const std::string& path);

// Where a sweep is: the committed position of an http source.
struct HttpPosition {
  std::string sweep_cursor;  // {cursor} of this sweep's requests
  std::string last_cursor;   // greatest cursor value read in this sweep ("" = none)
  std::string page;          // the page being read: page/offset number, token or URL ("" = first)
  std::int64_t index = 0;    // records of that page already taken
  bool sweep_done = false;   // the last page of the sweep was read
  std::string dead_page;     // a page (its `page`) already dead-lettered and not moved past
  std::int64_t records = 0;  // informational: rows and rejects so far
  std::int64_t pages = 0;
};
std::string EncodeHttpPosition(const HttpPosition& p);
std::optional<HttpPosition> DecodeHttpPosition(const std::string& text, std::string* why);

// One JSON record mapped onto the raw schema: a row (strings, numbers, booleans, nulls as the
// JSON had them, checked against the field's type) or a reject under the mapper's code.
struct HttpRecord {
  Outcome outcome;
  Row row;
  std::string original;  // the record's JSON text (the DLQ value)
  std::string cursor;    // the cursor field's value as text ("" when absent or not valid)
};

// Maps JSON records onto a raw schema: each field from `fields` (raw field -> JSON path in the
// record, or in the enclosing body with "$."; unlisted fields by name), type-checked. Shared by
// the http source (records of a page) and the kafka_json source (one record per message).
class JsonRowMapper {
 public:
  // `reject` is the DLQ code of a record that does not fit (kHttpRecord, kJsonMessage).
  JsonRowMapper(std::map<std::string, std::string> fields, RecordSpec raw, DlqCode reject);
  HttpRecord Map(const nlohmann::json& record, const nlohmann::json& body) const;
  const RecordSpec& raw() const { return raw_; }

 private:
  std::map<std::string, std::string> fields_;
  RecordSpec raw_;
  DlqCode reject_;
};

// A page read: the records (mapped) and where the next page is.
struct HttpPage {
  bool readable = false;
  std::string problem;               // !readable: why (not JSON, no list at the path, limit)
  std::vector<HttpRecord> records;
  std::optional<std::string> next;   // the next page's state; nullopt: the sweep ends here
};

class HttpPageReader {
 public:
  HttpPageReader(HttpSourceSettings settings, RecordSpec raw);
  // `page` is the state the page was requested with ("" = first).
  HttpPage Read(const std::string& body, const std::string& page) const;
  // The next page's state when a page cannot be read: known for page and offset pagination
  // (moving past is safe), nullopt otherwise.
  std::optional<std::string> NextWithoutBody(const std::string& page) const;
  // True when `a` is past `b` in the cursor's order (numbers numerically, dates and strings
  // as text); a value of the wrong kind (a date that is not YYYY-MM-DD...) is never past.
  bool CursorAfter(const std::string& a, const std::string& b) const;
  bool ValidCursor(const std::string& v) const;

 private:
  HttpSourceSettings settings_;
  JsonRowMapper mapper_;
};

}  // namespace sluice::stages

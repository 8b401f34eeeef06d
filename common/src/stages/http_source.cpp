#include "sluice/stages/http_source.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::stages {

using core::ConfigError;
using nlohmann::json;

namespace {

// Names a template may use besides env:NAME.
const std::vector<std::string> kTemplateVars = {"cursor", "page"};

// A header whose value is a credential: it must come from the environment.
bool IsSecretHeader(const std::string& name) {
  std::string n;
  for (unsigned char c : name) n += static_cast<char>(std::tolower(c));
  for (const char* word : {"auth", "token", "key", "secret", "cookie", "password"}) {
    if (n.find(word) != std::string::npos) return true;
  }
  return false;
}

bool IsDate(const std::string& v) {
  static const std::regex kDate(R"(\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?)");
  return std::regex_match(v, kDate);
}

std::string JsonType(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    case json::value_t::array: return "an array";
    default: return "an object";
  }
}

void DeclareHttp(config::Section& h) {
  using T = config::OptionType;
  h.Add("name", T::kString).Describe("Source name in provenance headers and positions; defaults to the type and index (http0)").Example("spx");
  h.Add("url", T::kString).Required().Describe("Request URL template: {env:NAME} from the environment, {cursor} the incremental position, {page} the page").Example("'{env:PRICE_API_URL}/v1/instruments/SPX/history'");
  h.Add("method", T::kEnum).Allowed({"GET", "POST"}).Default("GET").Describe("HTTP method").Example("POST");
  h.Add("query", T::kMap).Default("{}").Describe("Query parameters (templates); a parameter whose value expands to '' is left out").Example("{after: '{cursor}', limit: '250'}");
  h.Add("headers", T::kMap).Default("{}").Describe("Request headers (templates); credentials only as {env:NAME}").Example("{Authorization: 'Bearer {env:PRICE_API_TOKEN}'}");
  h.Add("body", T::kString).Describe("Request body template for POST (sent as application/json)").Example("'{\"since\": \"{cursor}\"}'");
  h.Add("records", T::kString).Default("''").Describe("JSON path of the record list in the response ('' = the body is the list)").Example("data");
  h.Add("fields", T::kMap).Default("{}").Describe("Raw field -> JSON path in the record ('$.' = from the response body); other fields are read from the key of the same name").Example("{inr: rates.INR, symbol: $.symbol}");
  auto& cursor = h.Add("cursor", T::kSection).Describe("Incremental reading: {cursor} is the greatest value of a field read so far").Fields();
  cursor.Add("field", T::kString).Required().Describe("Raw field whose greatest value is the position").Example("date");
  cursor.Add("start", T::kString).Default("''").Describe("{cursor} before the first record").Example("'1999-12-31'");
  cursor.Add("type", T::kEnum).Allowed({"string", "number", "date"}).Default("string").Describe("How values compare; a value not of this kind (a date that is not YYYY-MM-DD) never moves the cursor").Example("date");
  auto& pages = h.Add("pagination", T::kSection).Describe("How one sweep walks its pages").Fields();
  pages.Add("type", T::kEnum).Allowed({"none", "next_link", "page", "offset", "cursor"}).Default("none").Describe("none: one page; next_link: a URL in the body; page/offset: numbers; cursor: a token in the body").Example("page");
  pages.Add("param", T::kString).Describe("Query parameter carrying the page number, offset or token (else use {page} in a template)").Example("page");
  pages.Add("start", T::kInt).Describe("First page number (page: default 1) or offset (offset: default 0)").Example("1");
  pages.Add("size", T::kInt).Min(1).Describe("offset: records per page (the offset step; a shorter page is the last)").Example("500");
  pages.Add("next", T::kString).Describe("next_link: JSON path of the next page's URL").Example("links.next");
  pages.Add("token", T::kString).Describe("cursor: JSON path of the next page's token").Example("next_cursor");
  pages.Add("last", T::kString).Describe("page: JSON path of the last page number (else a page without records is the last)").Example("total_pages");
  h.Add("every", T::kDuration).Default("1h").Describe("A sweep through every page per interval (--once: one sweep)").Example("15m");
  h.Add("timeout", T::kDuration).Default("10s").Describe("Longest time one request may take").Example("30s");
  h.Add("max_response_bytes", T::kInt).Default("10485760").Min(1).Describe("A larger response is dead-lettered (http_page), not read").Example("1048576");
  h.Add("max_records_per_page", T::kInt).Default("10000").Min(1).Describe("A page with more records is dead-lettered (http_page)").Example("1000");
  h.Add("rate_limit", T::kString).Default("'10/s'").Describe("Most requests per second, minute or hour ('0/s' = no limit)").Example("'600/m'");
  h.Check([](const YAML::Node& raw, const YAML::Node& eff, const std::string& path, config::Validator& v) {
    auto error = [&](const std::string& key, const std::string& message) {
      YAML::Node at = config::Lookup(raw, key);
      v.Error(at.IsDefined() ? at : raw, config::JoinPath(path, key), message);
    };
    auto check_template = [&](const std::string& key, const std::string& text) {
      for (const std::string& name : TemplateNames(text)) {
        if (std::find(kTemplateVars.begin(), kTemplateVars.end(), name) == kTemplateVars.end()) {
          error(key, "unknown placeholder {" + name + "} (known: {env:NAME}, {cursor}, {page})");
        }
      }
    };
    const YAML::Node url = config::Lookup(eff, "url");
    if (url.IsScalar()) check_template("url", url.Scalar());
    const YAML::Node body = config::Lookup(eff, "body");
    if (body.IsScalar()) check_template("body", body.Scalar());
    if (const YAML::Node q = config::Lookup(eff, "query"); q.IsMap()) {
      for (const auto& kv : q) check_template("query." + kv.first.Scalar(), kv.second.Scalar());
    }
    if (const YAML::Node hs = config::Lookup(eff, "headers"); hs.IsMap()) {
      for (const auto& kv : hs) {
        const std::string name = kv.first.Scalar(), value = kv.second.Scalar();
        check_template("headers." + name, value);
        if (IsSecretHeader(name) && value.find("{env:") == std::string::npos) {
          error("headers." + name, "a credential comes from the environment, never from the file: write it as {env:NAME}");
        }
      }
    }
    if (const YAML::Node rate = config::Lookup(eff, "rate_limit"); rate.IsScalar() && !ParseRate(rate.Scalar())) {
      error("rate_limit", "expected <number>/s, /m or /h, got '" + rate.Scalar() + "'");
    }
    const YAML::Node p = config::Lookup(eff, "pagination");
    const std::string type = p.IsMap() && p["type"].IsScalar() ? p["type"].Scalar() : "none";
    auto needs = [&](const char* key) {
      if (!p.IsMap() || !p[key].IsDefined()) error("pagination", "type " + type + " needs '" + key + "'");
    };
    if (type == "next_link") needs("next");
    if (type == "cursor") needs("token");
    if (type == "offset") needs("size");
    if (type == "page" || type == "offset" || type == "cursor") {
      bool uses_page = false;
      for (const char* key : {"url", "body"}) {
        const YAML::Node n = config::Lookup(eff, key);
        if (n.IsScalar()) {
          const auto names = TemplateNames(n.Scalar());
          uses_page |= std::find(names.begin(), names.end(), "page") != names.end();
        }
      }
      if (const YAML::Node q = config::Lookup(eff, "query"); q.IsMap()) {
        for (const auto& kv : q) {
          const auto names = TemplateNames(kv.second.Scalar());
          uses_page |= std::find(names.begin(), names.end(), "page") != names.end();
        }
      }
      if (!uses_page && !(p.IsMap() && p["param"].IsDefined())) {
        error("pagination", "type " + type + " needs 'param' (the query parameter) or {page} in url, query or body");
      }
    }
    const YAML::Node method = config::Lookup(eff, "method");
    if (body.IsDefined() && method.IsScalar() && method.Scalar() != "POST") {
      error("body", "a body is sent with method POST only");
    }
  });
}

}  // namespace

void DeclareHttpSource(config::Section& http) { DeclareHttp(http); }

const std::vector<std::string>& HttpSourceExamples() {
  static const std::vector<std::string> examples = {
      "{name: spx, url: '{env:PRICE_API_URL}/v1/instruments/SPX/history', query: {after: '{cursor}'}, "
      "headers: {Authorization: 'Bearer {env:PRICE_API_TOKEN}'}, records: data, "
      "fields: {a: $.symbol}, cursor: {field: id, start: '1999-12-31', type: date}, "
      "pagination: {type: cursor, param: cursor, token: next_cursor}, every: 15m, timeout: 30s, "
      "max_response_bytes: 1048576, max_records_per_page: 1000, rate_limit: '600/m'}",
      "{url: 'https://api.example.com/rates', method: POST, body: '{\"page\": {page}}', "
      "pagination: {type: page, start: 1, last: total_pages}}",
      "{url: 'https://api.example.com/items?since={cursor}', pagination: {type: offset, param: offset, start: 0, size: 500}, "
      "cursor: {field: id, type: number}}",
      "{url: 'https://api.example.com/items', pagination: {type: next_link, next: links.next}}",
  };
  return examples;
}

std::shared_ptr<SourceSettings> MakeHttpSource(const ComponentInput& in, const RecordSpec& raw,
                                               const config::View& id) {
  auto s = std::make_shared<HttpSourceSettings>();
  const config::View& o = in.options;
  s->name = o.OptionalString("name").value_or("http" + std::to_string(in.index));
  s->url = o.String("url");
  s->method = o.String("method");
  s->query = o.StringMap("query");
  s->headers = o.StringMap("headers");
  s->body = o.OptionalString("body").value_or("");
  s->records = o.String("records");
  s->fields = o.StringMap("fields");
  CheckJsonSourceFields(in, raw, s->fields, id, "an http source");
  if (o.Has("cursor")) {
    const config::View c = o.Child("cursor");
    s->cursor_field = c.String("field");
    s->cursor_start = c.String("start");
    const std::string kind = c.String("type");
    s->cursor_kind = kind == "number" ? CursorKind::kNumber : kind == "date" ? CursorKind::kDate : CursorKind::kString;
    if (!raw.Find(s->cursor_field)) in.Fail("cursor.field", "'" + s->cursor_field + "' is not a field of the raw schema");
  }
  if (o.Has("pagination")) {
    const config::View p = o.Child("pagination");
    const std::string type = p.String("type");
    s->pagination = type == "next_link" ? Pagination::kNextLink
                    : type == "page"    ? Pagination::kPage
                    : type == "offset"  ? Pagination::kOffset
                    : type == "cursor"  ? Pagination::kCursor
                                        : Pagination::kNone;
    s->page_param = p.OptionalString("param").value_or("");
    s->page_start = p.Has("start") ? p.Int("start") : (s->pagination == Pagination::kPage ? 1 : 0);
    if (p.Has("size")) s->page_size = p.Int("size");
    if (p.Has("next")) s->page_path = p.String("next");
    if (p.Has("token")) s->page_path = p.String("token");
    if (p.Has("last")) s->page_path = p.String("last");
  }
  s->every = o.Duration("every");
  s->timeout = o.Duration("timeout");
  s->max_response_bytes = o.Int("max_response_bytes");
  s->max_records_per_page = o.Int("max_records_per_page");
  s->rate_per_second = ParseRate(o.String("rate_limit")).value_or(0);
  return s;
}

void CheckJsonSourceFields(const ComponentInput& in, const RecordSpec& raw,
                           const std::map<std::string, std::string>& fields, const config::View& id,
                           const std::string& type) {
  for (const auto& [field, path] : fields) {
    if (!raw.Find(field)) in.Fail("fields", "'" + field + "' is not a field of the raw schema");
  }
  for (const FieldSpec& f : raw.fields) {
    if (f.type == FieldType::kDate) {
      in.Fail("", "raw field '" + f.name + "' is a date: " + type + " reads dates as strings (coerce them in the cleaner)");
    }
  }
  if (id.Exists()) in.Fail("", "producer.id derives ids from CSV rows; " + type + " keys its records by producer.key");
}

std::optional<double> ParseRate(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  const auto n = ParseDouble(text.substr(0, slash));
  if (!n || *n < 0 || !std::isfinite(*n)) return std::nullopt;
  const std::string unit = text.substr(slash + 1);
  if (unit == "s") return *n;
  if (unit == "m") return *n / 60;
  if (unit == "h") return *n / 3600;
  return std::nullopt;
}

namespace {

// Calls on_text for literal text and on_name for each {name}; "{{" / "}}" are braces, and a
// brace not around a name is literal.
template <typename Text, typename Name>
void WalkTemplate(const std::string& t, Text on_text, Name on_name) {
  std::size_t i = 0;
  while (i < t.size()) {
    if (t.compare(i, 2, "{{") == 0 || t.compare(i, 2, "}}") == 0) {
      on_text(std::string(1, t[i]));
      i += 2;
      continue;
    }
    if (t[i] == '{') {
      // {name} or {env:NAME}; any other brace is literal text (a JSON body's own braces).
      static const std::regex kName(R"(env:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)");
      const auto close = t.find('}', i);
      if (close != std::string::npos && std::regex_match(t.substr(i + 1, close - i - 1), kName)) {
        on_name(t.substr(i + 1, close - i - 1));
        i = close + 1;
        continue;
      }
    }
    on_text(std::string(1, t[i]));
    ++i;
  }
}

}  // namespace

std::vector<std::string> TemplateNames(const std::string& text) {
  std::vector<std::string> names;
  WalkTemplate(text, [](const std::string&) {}, [&](const std::string& n) {
    if (n.rfind("env:", 0) != 0) names.push_back(n);
  });
  return names;
}

std::string ExpandTemplate(const std::string& text, const std::map<std::string, std::string>& vars,
                           const EnvLookup& env, const std::string& where) {
  std::string out;
  WalkTemplate(text, [&](const std::string& t) { out += t; }, [&](const std::string& n) {
    if (n.rfind("env:", 0) == 0) {
      const std::string var = n.substr(4);
      const auto value = env(var);
      if (!value || value->empty()) {
        throw ConfigError(where + ": environment variable " + var + " is not set");
      }
      out += *value;
      return;
    }
    const auto it = vars.find(n);
    if (it == vars.end()) throw ConfigError(where + ": unknown placeholder {" + n + "}");
    out += it->second;
  });
  return out;
}

const json* JsonAt(const json& value, const std::string& path) {
  const json* at = &value;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      const auto close = path.find(']', i);
      if (close == std::string::npos || !at->is_array()) return nullptr;
      const auto n = ParseInt64(path.substr(i + 1, close - i - 1));
      if (!n || *n < 0 || static_cast<std::size_t>(*n) >= at->size()) return nullptr;
      at = &(*at)[static_cast<std::size_t>(*n)];
      i = close + 1;
      continue;
    }
    auto end = path.find_first_of(".[", i);
    if (end == std::string::npos) end = path.size();
    if (!at->is_object()) return nullptr;
    const auto it = at->find(path.substr(i, end - i));
    if (it == at->end()) return nullptr;
    at = &*it;
    i = end;
  }
  return at;
}

std::string EncodeHttpPosition(const HttpPosition& p) {
  json j = {{"sweep_cursor", p.sweep_cursor}, {"last_cursor", p.last_cursor}, {"page", p.page},
            {"index", p.index}, {"sweep_done", p.sweep_done}, {"records", p.records},
            {"pages", p.pages}};
  if (!p.dead_page.empty()) j["dead_page"] = p.dead_page;
  return j.dump();
}

std::optional<HttpPosition> DecodeHttpPosition(const std::string& text, std::string* why) {
  try {
    const json j = json::parse(text);
    HttpPosition p;
    p.sweep_cursor = j.at("sweep_cursor").get<std::string>();
    p.last_cursor = j.at("last_cursor").get<std::string>();
    p.page = j.at("page").get<std::string>();
    p.index = j.at("index").get<std::int64_t>();
    p.sweep_done = j.at("sweep_done").get<bool>();
    p.records = j.value("records", std::int64_t{0});
    p.pages = j.value("pages", std::int64_t{0});
    p.dead_page = j.value("dead_page", std::string());
    if (p.index < 0) throw std::runtime_error("negative index");
    return p;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return std::nullopt;
  }
}

HttpPageReader::HttpPageReader(HttpSourceSettings settings, RecordSpec raw)
    : settings_(std::move(settings)), mapper_(settings_.fields, std::move(raw), DlqCode::kHttpRecord) {}

JsonRowMapper::JsonRowMapper(std::map<std::string, std::string> fields, RecordSpec raw, DlqCode reject)
    : fields_(std::move(fields)), raw_(std::move(raw)), reject_(reject) {}

bool HttpPageReader::ValidCursor(const std::string& v) const {
  if (v.empty()) return false;
  switch (settings_.cursor_kind) {
    case CursorKind::kNumber: return ParseDouble(v).has_value();
    case CursorKind::kDate: return IsDate(v);
    case CursorKind::kString: return true;
  }
  return false;
}

bool HttpPageReader::CursorAfter(const std::string& a, const std::string& b) const {
  if (!ValidCursor(a)) return false;
  if (!ValidCursor(b)) return true;
  if (settings_.cursor_kind == CursorKind::kNumber) return *ParseDouble(a) > *ParseDouble(b);
  return a > b;
}

namespace {

// A JSON value as the raw field's type; the problem when it does not fit.
std::optional<std::string> TypeJson(const json& v, const FieldSpec& f, Value* out) {
  switch (f.type) {
    case FieldType::kString:
      if (v.is_string()) *out = v.get<std::string>();
      else if (v.is_number()) *out = v.dump();  // an id served as a number
      else return "expected a string, got " + JsonType(v);
      return std::nullopt;
    case FieldType::kBoolean:
      if (!v.is_boolean()) return "expected a boolean, got " + JsonType(v);
      *out = v.get<bool>();
      return std::nullopt;
    case FieldType::kInt:
    case FieldType::kLong: {
      std::optional<std::int64_t> n;
      if (v.is_number_integer()) {
        n = v.get<std::int64_t>();
      } else if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e18) n = static_cast<std::int64_t>(d);
      }
      if (!n) return "expected an integer, got " + (v.is_number() ? v.dump() : JsonType(v));
      if (f.type == FieldType::kInt && (*n > INT32_MAX || *n < INT32_MIN)) {
        return "integer " + std::to_string(*n) + " does not fit an int";
      }
      *out = *n;
      return std::nullopt;
    }
    case FieldType::kFloat:
    case FieldType::kDouble:
      if (!v.is_number()) return "expected a number, got " + JsonType(v);
      *out = v.get<double>();
      return std::nullopt;
    case FieldType::kDate:
      return "date fields are read as strings (coerce them in the cleaner)";
  }
  return "unknown field type";
}

}  // namespace

HttpRecord JsonRowMapper::Map(const json& record, const json& body) const {
  HttpRecord r;
  r.original = record.dump();
  if (!record.is_object()) {
    r.outcome = Outcome::Reject(reject_, "record is " + JsonType(record) + ", not a JSON object");
    return r;
  }
  r.row.Reserve(raw_.fields.size());
  for (const FieldSpec& f : raw_.fields) {
    const auto mapped = fields_.find(f.name);
    const std::string path = mapped == fields_.end() ? f.name : mapped->second;
    const json* v = path.rfind("$.", 0) == 0 ? JsonAt(body, path.substr(2)) : JsonAt(record, path);
    std::optional<std::string> problem;
    Value value = Null{};
    if (v == nullptr || v->is_null()) {
      if (!f.nullable) problem = v == nullptr ? "missing (required)" : "null (required)";
    } else {
      problem = TypeJson(*v, f, &value);
    }
    if (problem) {
      r.outcome = Outcome::Reject(reject_, "field '" + f.name + "' (" + path + "): " + *problem);
      return r;
    }
    r.row.Append(f.name, std::move(value));
  }
  return r;
}

std::optional<std::string> HttpPageReader::NextWithoutBody(const std::string& page) const {
  switch (settings_.pagination) {
    case Pagination::kPage: {
      const auto n = page.empty() ? std::optional<std::int64_t>(settings_.page_start) : ParseInt64(page);
      return std::to_string(n.value_or(settings_.page_start) + 1);
    }
    case Pagination::kOffset: {
      const auto n = page.empty() ? std::optional<std::int64_t>(settings_.page_start) : ParseInt64(page);
      return std::to_string(n.value_or(settings_.page_start) + settings_.page_size);
    }
    default:
      return std::nullopt;
  }
}

HttpPage HttpPageReader::Read(const std::string& body, const std::string& page) const {
  HttpPage out;
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    out.problem = std::string("not JSON: ") + e.what();
    return out;
  }
  const json* list = JsonAt(doc, settings_.records);
  if (list == nullptr) {
    out.problem = "no record list at '" + settings_.records + "'";
    return out;
  }
  if (!list->is_array()) {
    out.problem = "'" + (settings_.records.empty() ? std::string("the body") : settings_.records) +
                  "' is " + JsonType(*list) + ", not a list of records";
    return out;
  }
  if (static_cast<std::int64_t>(list->size()) > settings_.max_records_per_page) {
    out.problem = std::to_string(list->size()) + " records, more than max_records_per_page (" +
                  std::to_string(settings_.max_records_per_page) + ")";
    return out;
  }
  out.readable = true;
  out.records.reserve(list->size());
  for (const json& record : *list) {
    HttpRecord r = mapper_.Map(record, doc);
    if (!settings_.cursor_field.empty() && r.outcome.IsEmit()) {
      const Value& c = r.row.Get(settings_.cursor_field);
      std::string text;
      if (const auto* s = std::get_if<std::string>(&c)) text = *s;
      else if (const auto* i = std::get_if<std::int64_t>(&c)) text = std::to_string(*i);
      else if (const auto* d = std::get_if<double>(&c)) text = json(*d).dump();
      if (ValidCursor(text)) r.cursor = text;
    }
    out.records.push_back(std::move(r));
  }
  const std::size_t n = list->size();
  switch (settings_.pagination) {
    case Pagination::kNone:
      break;
    case Pagination::kNextLink:
    case Pagination::kCursor: {
      const json* next = JsonAt(doc, settings_.page_path);
      if (next != nullptr && next->is_string() && !next->get<std::string>().empty()) {
        out.next = next->get<std::string>();
      }
      break;
    }
    case Pagination::kPage: {
      if (n == 0) break;
      const std::string following = *NextWithoutBody(page);
      if (!settings_.page_path.empty()) {
        const json* last = JsonAt(doc, settings_.page_path);
        if (last != nullptr && last->is_number() && *ParseInt64(following) > last->get<std::int64_t>()) break;
      }
      out.next = following;
      break;
    }
    case Pagination::kOffset:
      if (static_cast<std::int64_t>(n) >= settings_.page_size) out.next = NextWithoutBody(page);
      break;
  }
  return out;
}

}  // namespace sluice::stages

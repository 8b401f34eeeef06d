#include "sluice/stages/enricher.hpp"

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"
#include "sluice/stages/yaml_util.hpp"

namespace sluice::stages {

using core::ConfigError;

namespace {

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Value FromJson(const nlohmann::json& j) {
  if (j.is_null()) return Null{};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  return j.dump();  // objects and arrays as JSON text
}

}  // namespace

// ---- LookupTable ----

LookupTable::LookupTable(std::string key_column, core::Duration refresh, Loader loader)
    : key_column_(std::move(key_column)), refresh_(refresh), loader_(std::move(loader)) {}

void LookupTable::Refresh(SteadyTime now) {
  std::vector<Row> rows;
  try {
    rows = loader_();
  } catch (const std::exception& e) {
    if (!loaded_at_) throw;  // nothing to serve
    last_error_ = e.what();
    loaded_at_ = now;  // retry after the next interval, not on every record
    return;
  }
  std::unordered_map<std::string, Row> fresh;
  for (auto& r : rows) {
    const Value& k = r.Get(key_column_);
    if (IsNull(k)) continue;
    fresh[AsText(k)] = std::move(r);
  }
  rows_ = std::move(fresh);
  loaded_at_ = now;
  ++loads_;
  last_error_.clear();
}

const Row* LookupTable::Find(std::string_view key, SteadyTime now) {
  if (!loaded_at_ || now - *loaded_at_ >= refresh_) Refresh(now);
  auto it = rows_.find(std::string(key));
  return it == rows_.end() ? nullptr : &it->second;
}

// ---- HttpLookup ----

HttpLookup::HttpLookup(Settings settings, HttpFetch fetch) : settings_(std::move(settings)), fetch_(std::move(fetch)) {
  SLUICE_ASSERT(fetch_ != nullptr, "HttpLookup needs a fetch function");
  SLUICE_ASSERT(settings_.cache_size > 0, "HttpLookup cache_size must be > 0");
}

std::optional<std::string> HttpLookup::Url(const Row& row, std::string* why) const {
  std::string out;
  const std::string& t = settings_.url;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '{') {
      out.push_back(t[i]);
      continue;
    }
    const std::size_t close = t.find('}', i);
    SLUICE_ASSERT(close != std::string::npos, "url template checked at construction");
    const std::string field = t.substr(i + 1, close - i - 1);
    const Value& v = row.Get(field);
    if (IsNull(v)) {
      *why = "field '" + field + "' of the URL is null";
      return std::nullopt;
    }
    Value shown = v;
    out += UrlEncode(AsText(shown));
    i = close;
  }
  return out;
}

HttpLookup::Result HttpLookup::Lookup(const Row& row, SteadyTime now) {
  std::string why;
  auto url = Url(row, &why);
  if (!url) return Result{settings_.fallback, false, true, why};
  if (auto it = index_.find(*url); it != index_.end()) {
    if (it->second->expires > now) {
      lru_.splice(lru_.begin(), lru_, it->second);
      Result r = it->second->result;
      r.from_cache = true;
      return r;
    }
    lru_.erase(it->second);
    index_.erase(it);
  }
  ++fetches_;
  Result result;
  auto response = fetch_(*url, settings_.timeout);
  if (!response) {
    result = Result{settings_.fallback, false, true, "no answer within " + core::FormatDuration(settings_.timeout)};
  } else if (response->status < 200 || response->status >= 300) {
    result = Result{settings_.fallback, false, true, "HTTP status " + std::to_string(response->status)};
  } else {
    try {
      const auto body = nlohmann::json::parse(response->body);
      const auto ptr = nlohmann::json::json_pointer(settings_.json_pointer);
      if (!body.contains(ptr)) {
        result = Result{settings_.fallback, false, true, "no value at " + settings_.json_pointer};
      } else {
        result = Result{FromJson(body.at(ptr)), false, false, ""};
      }
    } catch (const nlohmann::json::exception& e) {
      result = Result{settings_.fallback, false, true, std::string("bad JSON: ") + e.what()};
    }
  }
  core::Duration ttl = settings_.ttl;
  if (result.fallback) ttl = std::max<core::Duration>(settings_.ttl / 10, std::chrono::seconds(1));
  lru_.push_front(Entry{*url, result, now + ttl});
  index_[*url] = lru_.begin();
  while (lru_.size() > settings_.cache_size) {
    index_.erase(lru_.back().url);
    lru_.pop_back();
  }
  return result;
}

double MonthlyInstallment(double principal, double annual_rate_pct, std::int64_t months) {
  SLUICE_ASSERT(months > 0, "MonthlyInstallment: months checked by the caller");
  const double r = annual_rate_pct / 1200.0;
  const double n = static_cast<double>(months);
  const double payment = r == 0 ? principal / n : principal * r / (1 - std::pow(1 + r, -n));
  return std::round(payment * 100) / 100;
}

// ---- steps ----

class EnrichStep {
 public:
  explicit EnrichStep(std::string name) : name_(std::move(name)) {}
  virtual ~EnrichStep() = default;
  // false + *reason: reject the record.
  virtual bool Apply(Row& row, SteadyTime now, EnrichResult& result, std::string* reason) = 0;
  virtual std::vector<FieldUse> Fields() const = 0;
  const std::string& name() const { return name_; }

 protected:
  std::string name_;
};

namespace {

class PgLookupStep final : public EnrichStep {
 public:
  PgLookupStep(const YamlMap& m, const EnricherDeps& deps) : EnrichStep(m.label) {
    m.AllowOnly({"name", "type", "table", "key", "column", "fields", "refresh", "missing"});
    table_ = m.String("table");
    key_ = m.String("key");
    column_ = m.String("column", key_);
    const auto fields = m.Get("fields");
    if (!fields.IsMap() || fields.size() == 0) m.Fail("fields", "expected a map of table column: output field");
    std::vector<std::string> columns;
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      fields_.emplace_back(it->first.Scalar(), it->second.Scalar());
      columns.push_back(it->first.Scalar());
    }
    // `missing: null` unquoted is a YAML null: it means the same as 'null'.
    const std::string missing = !m.Has("missing") || m.Get("missing").IsNull() ? "null" : m.String("missing");
    if (missing != "null" && missing != "reject") m.Fail("missing", "expected null or reject");
    reject_missing_ = missing == "reject";
    const core::Duration refresh = m.Has("refresh") ? m.Duration("refresh") : std::chrono::minutes(5);
    if (!deps.table_loader) m.Fail("", "no table loader available for pg_lookup");
    table_cache_ = std::make_unique<LookupTable>(column_, refresh, deps.table_loader(table_, column_, columns));
  }

  bool Apply(Row& row, SteadyTime now, EnrichResult&, std::string* reason) override {
    const Value& k = row.Get(key_);
    const Row* hit = IsNull(k) ? nullptr : table_cache_->Find(AsText(k), now);
    if (!hit && reject_missing_) {
      *reason = key_ + ": " + Describe(k) + " not found in " + table_;
      return false;
    }
    for (const auto& [column, field] : fields_) row.Set(field, hit ? hit->Get(column) : Value{Null{}});
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses{{key_, "key", FieldAccess::kRead}};
    for (const auto& [column, field] : fields_) uses.push_back({field, "fields." + column, FieldAccess::kWrite});
    return uses;
  }

 private:
  std::string table_, key_, column_;
  std::vector<std::pair<std::string, std::string>> fields_;
  bool reject_missing_ = false;
  std::unique_ptr<LookupTable> table_cache_;
};

class DeriveStep final : public EnrichStep {
 public:
  explicit DeriveStep(const YamlMap& m) : EnrichStep(m.label) {
    m.AllowOnly({"name", "type", "field", "function", "from", "start", "length", "fields", "separator",
                 "part", "principal", "rate", "term"});
    field_ = m.String("field");
    function_ = m.String("function");
    static const std::set<std::string> kFunctions = {"substr", "concat", "installment", "date_part", "copy"};
    if (!kFunctions.count(function_)) m.Fail("function", "expected substr, concat, installment, date_part or copy");
    auto need = [&](const char* key) {
      if (!m.Has(key)) m.Fail("", "function '" + function_ + "' needs '" + key + "'");
      return m.String(key);
    };
    if (function_ == "substr" || function_ == "date_part" || function_ == "copy") from_ = need("from");
    if (function_ == "substr") {
      start_ = m.Integer("start", 0);
      length_ = m.Integer("length", 1);
      if (start_ < 0) m.Fail("start", "must be >= 0");
      if (length_ < 1) m.Fail("length", "must be >= 1");
    }
    if (function_ == "concat") {
      fields_ = m.StringList("fields");
      separator_ = m.String("separator", "");
    }
    if (function_ == "date_part") {
      part_ = need("part");
      static const std::set<std::string> kParts = {"year", "month", "day", "quarter", "year_month", "weekday"};
      if (!kParts.count(part_)) m.Fail("part", "expected year, month, day, quarter, year_month or weekday");
    }
    if (function_ == "installment") {
      principal_ = need("principal");
      rate_ = need("rate");
      term_ = need("term");
    }
  }

  bool Apply(Row& row, SteadyTime, EnrichResult&, std::string* reason) override {
    if (function_ == "copy") {
      row.Set(field_, row.Get(from_));
    } else if (function_ == "substr") {
      const Value& v = row.Get(from_);
      if (IsNull(v)) {
        row.Set(field_, Null{});
      } else {
        const std::string s = AsText(v);
        const auto start = static_cast<std::size_t>(start_);
        row.Set(field_, start >= s.size() ? std::string() : s.substr(start, static_cast<std::size_t>(length_)));
      }
    } else if (function_ == "concat") {
      std::string out;
      bool any_null = false;
      for (std::size_t i = 0; i < fields_.size(); ++i) {
        const Value& v = row.Get(fields_[i]);
        any_null = any_null || IsNull(v);
        out += (i ? separator_ : "") + AsText(v);
      }
      row.Set(field_, any_null ? Value{Null{}} : Value{out});
    } else if (function_ == "date_part") {
      const Value& v = row.Get(from_);
      if (IsNull(v)) {
        row.Set(field_, Null{});
        return true;
      }
      std::int64_t days = 0;
      if (auto* i = std::get_if<std::int64_t>(&v)) {
        days = *i;
      } else if (auto d = ParseDate(Trim(AsText(v)), "%Y-%m-%d")) {
        days = *d;
      } else {
        *reason = from_ + ": " + Describe(v) + " is not a date";
        return false;
      }
      int y;
      unsigned mo, d;
      CivilFromDays(days, &y, &mo, &d);
      if (part_ == "year") row.Set(field_, std::int64_t{y});
      else if (part_ == "month") row.Set(field_, std::int64_t{mo});
      else if (part_ == "day") row.Set(field_, std::int64_t{d});
      else if (part_ == "quarter") row.Set(field_, std::int64_t{(mo - 1) / 3 + 1});
      else if (part_ == "weekday") row.Set(field_, std::int64_t{((days % 7 + 7) % 7 + 3) % 7 + 1});  // ISO: Monday 1
      else row.Set(field_, FormatDate(days).substr(0, 7));
    } else {  // installment
      const auto p = AsNumber(row.Get(principal_));
      const auto r = AsNumber(row.Get(rate_));
      const auto n = AsNumber(row.Get(term_));
      if (!p || !r || !n) {
        row.Set(field_, Null{});
        return true;
      }
      if (*n < 1 || std::trunc(*n) != *n || *r < 0) {
        *reason = "installment needs a whole number of months >= 1 and a rate >= 0, got term " +
                  Describe(row.Get(term_)) + " and rate " + Describe(row.Get(rate_));
        return false;
      }
      row.Set(field_, MonthlyInstallment(*p, *r, static_cast<std::int64_t>(*n)));
    }
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    if (!from_.empty()) uses.push_back({from_, "from", FieldAccess::kRead});
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      uses.push_back({fields_[i], "fields[" + std::to_string(i) + "]", FieldAccess::kRead});
    }
    if (function_ == "installment") {
      uses.push_back({principal_, "principal", FieldAccess::kRead});
      uses.push_back({rate_, "rate", FieldAccess::kRead});
      uses.push_back({term_, "term", FieldAccess::kRead});
    }
    uses.push_back({field_, "field", FieldAccess::kWrite});
    return uses;
  }

 private:
  std::string field_, function_, from_, separator_, part_, principal_, rate_, term_;
  std::int64_t start_ = 0, length_ = 1;
  std::vector<std::string> fields_;
};

class HttpLookupStep final : public EnrichStep {
 public:
  HttpLookupStep(const YamlMap& m, const EnricherDeps& deps)
      : EnrichStep(m.label), lookup_(SettingsOf(m), FetchOf(m, deps)) {
    field_ = m.String("field");
    // The {field} placeholders; SettingsOf checked that the braces balance.
    const std::string url = m.String("url");
    for (std::size_t open = url.find('{'); open != std::string::npos; open = url.find('{', open + 1)) {
      url_fields_.push_back(url.substr(open + 1, url.find('}', open) - open - 1));
    }
  }

  bool Apply(Row& row, SteadyTime now, EnrichResult& result, std::string*) override {
    HttpLookup::Result r = lookup_.Lookup(row, now);
    if (r.fallback) result.fallbacks.push_back(name_);
    row.Set(field_, std::move(r.value));
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    for (const auto& f : url_fields_) uses.push_back({f, "url", FieldAccess::kRead});
    uses.push_back({field_, "field", FieldAccess::kWrite});
    return uses;
  }

 private:
  static HttpLookup::Settings SettingsOf(const YamlMap& m) {
    m.AllowOnly({"name", "type", "url", "field", "json_path", "cache_ttl", "cache_size", "timeout", "fallback",
                 "token_env"});
    HttpLookup::Settings s;
    s.url = m.String("url");
    int depth = 0;
    for (char c : s.url) {
      depth += c == '{' ? 1 : c == '}' ? -1 : 0;
      if (depth < 0 || depth > 1) m.Fail("url", "unbalanced { } in the URL template");
    }
    if (depth != 0) m.Fail("url", "unbalanced { } in the URL template");
    s.json_pointer = m.String("json_path", "");
    if (!s.json_pointer.empty() && s.json_pointer[0] != '/') m.Fail("json_path", "a JSON pointer starts with '/'");
    if (m.Has("cache_ttl")) s.ttl = m.Duration("cache_ttl");
    s.cache_size = static_cast<std::size_t>(m.Integer("cache_size", 10000));
    if (s.cache_size < 1) m.Fail("cache_size", "must be >= 1");
    if (m.Has("timeout")) s.timeout = m.Duration("timeout");
    if (m.Has("fallback")) s.fallback = m.Scalar("fallback");
    return s;
  }
  static HttpFetch FetchOf(const YamlMap& m, const EnricherDeps& deps) {
    if (!deps.http_fetch) m.Fail("", "no HTTP client available for http_lookup");
    return deps.http_fetch;
  }

  std::string field_;
  std::vector<std::string> url_fields_;
  HttpLookup lookup_;
};

}  // namespace

Enricher::Enricher(const YAML::Node& steps, RecordSpec output, const std::string& origin, EnricherDeps deps)
    : output_(std::move(output)) {
  if (!steps.IsDefined() || steps.IsNull()) return;
  if (!steps.IsSequence()) throw ConfigError(origin + ": expected a list of steps" + Location(steps));
  std::set<std::string> names;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    YamlMap m(steps[i], origin + "[" + std::to_string(i) + "]");
    const std::string type = m.String("type");
    const std::string name = m.String("name", type + "_" + std::to_string(i));
    YamlMap named(steps[i], origin + "[" + std::to_string(i) + "] (" + name + ")");
    named.label = name;
    if (!names.insert(name).second) named.Fail("name", "duplicate step name '" + name + "'");
    if (IsReservedDlqWord(name)) {
      named.Fail("name", "'" + name + "' is reserved: it is a fixed DLQ rule code (docs/dlq-codes.md)");
    }
    if (type == "pg_lookup") steps_.push_back(std::make_unique<PgLookupStep>(named, deps));
    else if (type == "derive") steps_.push_back(std::make_unique<DeriveStep>(named));
    else if (type == "http_lookup") steps_.push_back(std::make_unique<HttpLookupStep>(named, deps));
    else named.Fail("type", "unknown step type '" + type + "' (known: pg_lookup, derive, http_lookup)");
  }
}

std::vector<std::vector<FieldUse>> Enricher::FieldUses() const {
  std::vector<std::vector<FieldUse>> uses;
  for (const auto& s : steps_) uses.push_back(s->Fields());
  return uses;
}

Enricher::~Enricher() = default;
Enricher::Enricher(Enricher&&) noexcept = default;
Enricher& Enricher::operator=(Enricher&&) noexcept = default;

EnrichResult Enricher::Process(const Row& clean, SteadyTime now) {
  EnrichResult result;
  Row work = clean;
  for (auto& step : steps_) {
    std::string reason;
    if (!step->Apply(work, now, result, &reason)) {
      result.outcome = Outcome::RuleReject(step->name(), std::move(reason));
      return result;
    }
  }
  std::string why;
  auto typed = TypeInto(work, output_, &why);
  if (!typed) {
    result.outcome = Outcome::Reject(DlqCode::kType, std::move(why));
    return result;
  }
  result.row = std::move(*typed);
  return result;
}

}  // namespace sluice::stages

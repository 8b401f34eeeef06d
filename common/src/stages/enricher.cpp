#include "sluice/stages/enricher.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"
#include "steps/step.hpp"

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

// ---- VersionedTable ----

VersionedTable::VersionedTable(Settings settings, Loader loader)
    : settings_(settings), loader_(std::move(loader)) {
  SLUICE_ASSERT(loader_ != nullptr, "VersionedTable needs a loader");
}

const VersionedTable::Version* VersionedTable::ValidAt(const std::vector<Version>& versions, std::int64_t t_ms) {
  // The first version starting after t; the one before it is valid at t.
  auto after = std::upper_bound(versions.begin(), versions.end(), t_ms,
                                [](std::int64_t t, const Version& v) { return t < v.valid_from_ms; });
  return after == versions.begin() ? nullptr : &*std::prev(after);
}

VersionedTable::Status VersionedTable::StatusOf(bool has_version, std::int64_t t_ms, std::int64_t horizon_ms) {
  if (t_ms > horizon_ms) return Status::kUnconfirmed;
  return has_version ? Status::kConfirmed : Status::kMissing;
}

std::string_view VersionedTable::StatusName(Status status) {
  switch (status) {
    case Status::kConfirmed: return "confirmed";
    case Status::kUnconfirmed: return "unconfirmed";
    case Status::kMissing: return "missing";
  }
  return "missing";
}

void VersionedTable::Refresh(SteadyTime now) {
  Snapshot snapshot;
  try {
    snapshot = loader_();
  } catch (const std::exception& e) {
    if (!loaded_at_) throw;  // nothing to serve
    last_error_ = e.what();
    loaded_at_ = now;  // retry after the next interval, not on every record
    return;
  }
  std::unordered_map<std::string, std::vector<Version>> fresh;
  for (auto& [key, version] : snapshot.versions) fresh[key].push_back(std::move(version));
  for (auto& [key, versions] : fresh) {
    std::stable_sort(versions.begin(), versions.end(),
                     [](const Version& a, const Version& b) { return a.valid_from_ms < b.valid_from_ms; });
  }
  versions_ = std::move(fresh);
  horizon_ = snapshot.horizon_ms.value_or(INT64_MIN);
  loaded_at_ = now;
  ++loads_;
  last_error_.clear();
}

VersionedTable::Decision VersionedTable::Final(std::string_view key, std::int64_t t_ms) const {
  Decision d;
  auto it = versions_.find(std::string(key));
  const Version* v = it == versions_.end() ? nullptr : ValidAt(it->second, t_ms);
  d.version = v ? &v->row : nullptr;
  d.status = StatusOf(v != nullptr, t_ms, horizon_);
  return d;
}

VersionedTable::Decision VersionedTable::Resolve(std::string_view key, std::int64_t t_ms, SteadyTime now) {
  if (!loaded_at_ || now - *loaded_at_ >= settings_.refresh) Refresh(now);
  const core::Duration poll = std::min(settings_.refresh, settings_.poll);
  while (true) {
    if (given_up_ && horizon_ >= *given_up_) given_up_.reset();
    // Within the horizon, or beyond it while an earlier full wait has not been caught up: answer now.
    if (t_ms <= horizon_ || given_up_) {
      wait_since_.reset();
      return Final(key, t_ms);
    }
    if (!wait_since_) wait_since_ = now;  // the wait is the record's, whatever the horizon does
    const SteadyTime deadline = *wait_since_ + settings_.wait;
    if (now >= deadline) {
      given_up_ = t_ms;
      wait_since_.reset();
      return Final(key, t_ms);
    }
    if (now - *loaded_at_ >= poll) {
      const std::int64_t before = horizon_;
      Refresh(now);
      if (horizon_ != before) continue;  // judge again against the new horizon
    }
    Decision d;
    d.wait = true;
    d.retry_at = std::min(*loaded_at_ + poll, deadline);
    return d;
  }
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

const ComponentList<steps::Step, const EnricherDeps&>& EnricherSteps() {
  static const ComponentList<steps::Step, const EnricherDeps&> list(
      "step", {steps::PgLookupStep(), steps::DeriveStep(), steps::HttpLookupStep(), steps::PgAsofLookupStep()},
      /*names_in_dlq=*/true);
  return list;
}

Enricher::Enricher(const YAML::Node& steps, RecordSpec output, const std::string& origin, EnricherDeps deps)
    : steps_(EnricherSteps().Build(steps, origin, deps)), output_(std::move(output)) {}

std::vector<std::vector<FieldUse>> Enricher::FieldUses() const {
  std::vector<std::vector<FieldUse>> uses;
  for (const auto& s : steps_) uses.push_back(s->Fields());
  return uses;
}

Enricher::~Enricher() = default;
Enricher::Enricher(Enricher&&) noexcept = default;
Enricher& Enricher::operator=(Enricher&&) noexcept = default;

EnrichResult Enricher::Process(Row work, SteadyTime now) {
  EnrichResult result;
  work.Reserve(work.size() + steps_.size() + 4);  // steps add fields
  for (auto& step : steps_) {
    std::string reason;
    if (!step->Apply(work, now, result, &reason)) {
      result.outcome = Outcome::RuleReject(step->name(), std::move(reason));
      return result;
    }
  }
  std::string why;
  if (!TypeInPlace(work, output_, &slots_, &why)) {
    result.outcome = Outcome::Reject(DlqCode::kType, std::move(why));
    return result;
  }
  result.row = TakeTyped(work, slots_);
  return result;
}

}  // namespace sluice::stages

#include "http_api_source.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <utility>

#include "provenance.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::producer {
namespace {

constexpr const char* kPositionKey = "sweep";

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// Retry-After in seconds (an HTTP date is not parsed: the backoff applies).
std::optional<core::Duration> RetryAfter(const http::ClientResponse& r) {
  const auto it = r.headers.find("retry-after");
  if (it == r.headers.end()) return std::nullopt;
  const auto secs = stages::ParseDouble(it->second);
  if (!secs || *secs < 0 || *secs > 3600) return std::nullopt;
  return core::Duration(static_cast<std::int64_t>(*secs * 1000));
}

// "scheme://host:port" of a URL.
std::string OriginOf(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  const auto slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

std::string Snippet(const std::string& body) {
  std::string s = body.substr(0, 200);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return body.size() > 200 ? s + "..." : s;
}

}  // namespace

HttpApiSource::HttpApiSource(HttpApiSourceOptions options, obs::Logger log)
    : opt_(std::move(options)),
      log_(std::move(log)),
      reader_(opt_.settings, opt_.raw),
      client_(http::ClientOptions{opt_.settings.timeout, std::min(opt_.settings.timeout, core::Duration(3'000)), "", "",
                                  {}, static_cast<std::size_t>(opt_.settings.max_response_bytes)}),
      jitter_(std::random_device{}()) {
  if (!opt_.env) opt_.env = ProcessEnv;
  tokens_ = std::max(1.0, opt_.settings.rate_per_second);
  refilled_ = Clock::now();
  committed_.sweep_cursor = opt_.settings.cursor_start;
  pos_ = committed_;
}

HttpApiSource::~HttpApiSource() = default;

void HttpApiSource::Restore(const std::map<std::string, std::string>& committed) {
  stages::HttpPosition fresh;
  fresh.sweep_cursor = opt_.settings.cursor_start;
  committed_ = fresh;
  if (const auto it = committed.find(kPositionKey); it != committed.end()) {
    std::string why;
    if (auto p = stages::DecodeHttpPosition(it->second, &why)) {
      committed_ = *p;
    } else {
      log_.Warn("ignoring a malformed position record; starting from cursor.start",
                {{"source", Name()}, {"error", why}});
    }
  }
  pos_ = committed_;
  page_.clear();
  page_loaded_ = false;
  ending_ = false;
  if (pos_.page.empty() && pos_.index == 0 && !pos_.sweep_done && pos_.pages == 0) return;
  log_.Info("resuming", {{"source", Name()}, {"cursor", pos_.sweep_cursor}, {"page", PageLabel()},
                         {"index", pos_.index}, {"sweep_done", pos_.sweep_done}});
}

std::string HttpApiSource::PageLabel() const {
  if (!pos_.page.empty()) return pos_.page;
  switch (opt_.settings.pagination) {
    case stages::Pagination::kPage:
    case stages::Pagination::kOffset: return std::to_string(opt_.settings.page_start);
    default: return "first";
  }
}

HttpApiSource::Request HttpApiSource::BuildRequest() const {
  const auto& s = opt_.settings;
  const std::string where = "source " + Name();
  std::string page_value = pos_.page;
  if (page_value.empty() && (s.pagination == stages::Pagination::kPage || s.pagination == stages::Pagination::kOffset)) {
    page_value = std::to_string(s.page_start);
  }
  const std::map<std::string, std::string> vars = {{"cursor", pos_.sweep_cursor}, {"page", page_value}};
  Request r;
  const std::string url = stages::ExpandTemplate(s.url, vars, opt_.env, where + ": url");
  for (const auto& [name, value] : s.headers) {
    r.headers[name] = stages::ExpandTemplate(value, vars, opt_.env, where + ": headers." + name);
  }
  if (s.method == "POST") {
    r.headers["Content-Type"] = "application/json";
    r.body = stages::ExpandTemplate(s.body, vars, opt_.env, where + ": body");
  }
  if (s.pagination == stages::Pagination::kNextLink && !pos_.page.empty()) {
    r.url = pos_.page.rfind("/", 0) == 0 ? OriginOf(url) + pos_.page : pos_.page;
    return r;
  }
  r.url = url;
  std::string query;
  auto add = [&](const std::string& name, const std::string& value) {
    if (value.empty()) return;
    query += (query.empty() ? "" : "&") + http::UrlEncode(name) + "=" + http::UrlEncode(value);
  };
  for (const auto& [name, value] : s.query) add(name, stages::ExpandTemplate(value, vars, opt_.env, where + ": query." + name));
  if (!s.page_param.empty()) add(s.page_param, page_value);
  if (!query.empty()) r.url += (r.url.find('?') == std::string::npos ? "?" : "&") + query;
  return r;
}

bool HttpApiSource::TakeToken() {
  const double rate = opt_.settings.rate_per_second;
  if (rate <= 0) return true;
  const auto now = Clock::now();
  tokens_ = std::min(std::max(1.0, rate), tokens_ + rate * std::chrono::duration<double>(now - refilled_).count());
  refilled_ = now;
  if (tokens_ < 1) {
    const auto wait = std::chrono::duration<double>((1 - tokens_) / rate);
    if (wait > std::chrono::seconds(1)) {
      next_attempt_ = now + std::chrono::duration_cast<Clock::duration>(wait);
      return false;
    }
    std::this_thread::sleep_for(wait);
    tokens_ = 1;
    refilled_ = Clock::now();
  }
  tokens_ -= 1;
  return true;
}

void HttpApiSource::Failed(const std::string& what, std::optional<core::Duration> retry_after) {
  const auto now = Clock::now();
  ++counters_.failures;
  ++failures_;
  if (failing_since_ == Clock::time_point{}) failing_since_ = now;
  last_error_ = what;
  const auto spent = std::chrono::duration_cast<core::Duration>(now - failing_since_);
  if (spent >= opt_.retry.budget) {
    throw core::InfraError("source " + Name() + ": giving up after " + std::to_string(failures_) +
                               " failed attempts over " + core::FormatDuration(spent) +
                               " (retry.budget " + core::FormatDuration(opt_.retry.budget) + "); last: " + what,
                           core::Retry::kNo);
  }
  core::Duration wait;
  if (retry_after) {
    wait = *retry_after;
  } else {
    // Exponential, capped, with full jitter over its upper half.
    const double base = std::min(static_cast<double>(opt_.retry.max_backoff.count()),
                                 static_cast<double>(opt_.retry.initial_backoff.count()) *
                                     std::pow(2.0, std::min<std::uint32_t>(failures_ - 1, 30)));
    std::uniform_real_distribution<double> half(0.5, 1.0);
    wait = core::Duration(static_cast<std::int64_t>(base * half(jitter_)));
  }
  next_attempt_ = now + wait;
  log_.Warn("request failed; retrying", {{"source", Name()}, {"error", what}, {"attempt", failures_},
                                        {"wait_ms", wait.count()}, {"retry_after", retry_after.has_value()}});
}

core::Duration HttpApiSource::PollInterval() const {
  const auto now = Clock::now();
  auto until = [&](Clock::time_point t) {
    return std::clamp(std::chrono::duration_cast<core::Duration>(t - now), core::Duration(10), core::Duration(1000));
  };
  if (next_attempt_ > now) return until(next_attempt_);
  if (pos_.sweep_done && next_sweep_ > now) return until(next_sweep_);
  return core::Duration(100);
}

runtime::SourceItem HttpApiSource::Provenance(const std::string& url, std::int64_t index) const {
  runtime::SourceItem item;
  runtime::Record& r = item.record;
  const std::int64_t now_ms = NowMs();
  r.origin.kind = runtime::Origin::Kind::kHttp;
  r.origin.file = url;
  r.origin.line = index;
  r.source_time = runtime::SourceTime(std::chrono::milliseconds(now_ms));
  r.headers = {{runtime::kHeaderOrigin, r.origin.ToString()},
               {runtime::kHeaderSourceTs, std::to_string(now_ms)},
               {kHeaderSourceName, Name()},
               {kHeaderSourceUrl, url},
               {kHeaderSourcePage, PageLabel()}};
  if (index >= 0) r.headers.push_back({kHeaderSourceIndex, std::to_string(index)});
  return item;
}

void HttpApiSource::PutPosition(runtime::SourceBatch& batch) const {
  batch.positions[kPositionKey] = stages::EncodeHttpPosition(pos_);
}

void HttpApiSource::DeadLetterPage(runtime::SourceBatch& batch, const std::string& url,
                                   const std::string& body, const std::string& problem) {
  ++counters_.dead_pages;
  runtime::SourceItem item = Provenance(url, -1);
  std::string value = body.substr(0, opt_.max_dlq_bytes);
  std::string reason = opt_.settings.method + " " + url + " (page " + PageLabel() + "): " + problem;
  if (value.size() < body.size()) reason += " (body cut to its first " + std::to_string(value.size()) + " bytes)";
  item.record.value = value;
  item.record.original = std::move(value);
  item.outcome = stages::Outcome::Reject(stages::DlqCode::kHttpPage, reason);
  batch.items.push_back(std::move(item));
  log_.Error("page dead-lettered", {{"source", Name()}, {"reason", reason}});
}

void HttpApiSource::TakeRecords(runtime::SourceBatch& batch, std::size_t max) {
  std::size_t taken = 0;
  while (taken < max && static_cast<std::size_t>(pos_.index) < page_.size()) {
    stages::HttpRecord& rec = page_[static_cast<std::size_t>(pos_.index)];
    runtime::SourceItem item = Provenance(page_url_, pos_.index);
    if (rec.outcome.IsEmit()) {
      if (reader_.CursorAfter(rec.cursor, pos_.last_cursor)) pos_.last_cursor = rec.cursor;
      item.record.key = KeyOf(rec.row, opt_.key_fields);
      item.record.value = std::move(rec.row);
    } else {
      item.record.value = rec.original;
      item.outcome = std::move(rec.outcome);
    }
    item.record.original = std::move(rec.original);
    batch.items.push_back(std::move(item));
    ++pos_.index;
    ++pos_.records;
    ++taken;
  }
  if (static_cast<std::size_t>(pos_.index) < page_.size()) return;
  // The page is taken: on to the next one, or the sweep is over.
  ++pos_.pages;
  pos_.index = 0;
  pos_.dead_page.clear();
  if (page_next_) {
    pos_.page = *page_next_;
  } else {
    pos_.page.clear();
    pos_.sweep_done = true;
    ending_ = true;
  }
  page_.clear();
  page_loaded_ = false;
}

runtime::PollStatus HttpApiSource::Poll(runtime::SourceBatch& batch, std::size_t max) {
  const auto now = Clock::now();
  if (page_loaded_) {
    TakeRecords(batch, max);
    PutPosition(batch);
    return runtime::PollStatus::kBatch;
  }
  if (pos_.sweep_done) {
    if (swept_ && opt_.once) return runtime::PollStatus::kFinished;
    if (swept_ && now < next_sweep_) return runtime::PollStatus::kIdle;
    // A new sweep, from the greatest cursor value read.
    if (!pos_.last_cursor.empty()) pos_.sweep_cursor = pos_.last_cursor;
    pos_.last_cursor.clear();
    pos_.page.clear();
    pos_.index = 0;
    pos_.sweep_done = false;
    pos_.dead_page.clear();
  }
  if (now < next_attempt_) return runtime::PollStatus::kIdle;
  if (!TakeToken()) return runtime::PollStatus::kIdle;

  const Request req = BuildRequest();
  ++counters_.requests;
  http::ClientResponse resp;
  try {
    resp = opt_.settings.method == "POST" ? client_.Post(req.url, req.body, req.headers)
                                          : client_.Get(req.url, req.headers);
  } catch (const core::InfraError& e) {
    if (!e.Retryable()) throw core::ConfigError("source " + Name() + ": " + e.what());
    Failed(e.what(), std::nullopt);
    return runtime::PollStatus::kIdle;
  }
  const std::string what = opt_.settings.method + " " + req.url;
  if (resp.status == 429 || resp.status == 503) {
    Failed(what + " answered " + std::to_string(resp.status), RetryAfter(resp));
    return runtime::PollStatus::kIdle;
  }
  if (resp.status >= 500 || resp.status == 408) {
    Failed(what + " answered " + std::to_string(resp.status) + ": " + Snippet(resp.body), std::nullopt);
    return runtime::PollStatus::kIdle;
  }
  if (resp.status < 200 || resp.status >= 300) {
    throw core::ConfigError("source " + Name() + ": " + what + " answered " + std::to_string(resp.status) +
                            ": " + Snippet(resp.body));
  }

  stages::HttpPage page;
  if (resp.too_large) {
    page.problem = "response larger than max_response_bytes (" + std::to_string(opt_.settings.max_response_bytes) + ")";
  } else {
    page = reader_.Read(resp.body, pos_.page);
  }
  if (!page.readable) {
    if (pos_.dead_page == PageLabel()) {
      // Dead-lettered already and not safe to move past: an outage until the budget is spent.
      Failed(what + ": " + page.problem + " (cannot move past it safely: the next page is named only inside it)",
             std::nullopt);
      return runtime::PollStatus::kIdle;
    }
    DeadLetterPage(batch, req.url, resp.body, page.problem);
    ++pos_.records;
    if (auto next = reader_.NextWithoutBody(pos_.page)) {
      ++pos_.pages;
      pos_.page = *next;
      pos_.index = 0;
      pos_.dead_page.clear();
    } else {
      pos_.dead_page = PageLabel();
      Failed(what + ": " + page.problem, std::nullopt);
    }
    PutPosition(batch);
    return runtime::PollStatus::kBatch;
  }
  failures_ = 0;
  failing_since_ = {};
  ++counters_.pages;
  page_ = std::move(page.records);
  page_next_ = std::move(page.next);
  page_url_ = req.url;
  page_loaded_ = true;
  if (static_cast<std::size_t>(pos_.index) > page_.size()) {
    log_.Warn("the page has fewer records than were taken from it before; it changed since", 
              {{"source", Name()}, {"url", req.url}, {"taken", pos_.index}, {"records", page_.size()}});
    pos_.index = static_cast<std::int64_t>(page_.size());
  }
  TakeRecords(batch, max);
  PutPosition(batch);
  return runtime::PollStatus::kBatch;
}

void HttpApiSource::Committed() {
  committed_ = pos_;
  if (!ending_) return;
  ending_ = false;
  swept_ = true;
  next_sweep_ = Clock::now() + opt_.settings.every;
  log_.Info("sweep done", {{"source", Name()}, {"cursor", pos_.last_cursor.empty() ? pos_.sweep_cursor : pos_.last_cursor},
                           {"pages", pos_.pages}, {"records", pos_.records}, {"next_in", core::FormatDuration(opt_.settings.every)}});
}

}  // namespace sluice::producer

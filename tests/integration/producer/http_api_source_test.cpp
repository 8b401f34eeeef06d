// The http source plug-in against a real HTTP server on loopback (no Kafka: the test plays the
// source loop, committing or aborting each batch): every record once across aborts, polite
// retries that never dead-letter, the retry budget, configuration errors, malformed pages and
// records to the DLQ, incremental sweeps.
#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_api_source.hpp"
#include "sluice/core/error.hpp"
#include "sluice/http/server.hpp"

using namespace sluice;
using nlohmann::json;
using producer::HttpApiSource;
using producer::HttpApiSourceOptions;
using runtime::PollStatus;
using runtime::SourceBatch;

namespace {

std::string Day(int i) {  // 25 distinct dates, ascending
  const int d = i + 1;
  return std::string("2000-01-") + static_cast<char>('0' + d / 10) + static_cast<char>('0' + d % 10);
}

// A small price API: /h pages by cursor token (the offset), /p by page number; `faults` are
// statuses answered (in order) before serving normally; `bad_page` is served as broken JSON.
struct FakeApi {
  int n = 25;
  std::mutex mu;
  std::deque<int> faults;
  std::string bad_page;  // "/p" page number or "/h" token whose body is not JSON
  bool drop_close = false;
  std::vector<std::string> seen;  // request targets, in order
  http::Server server{{"127.0.0.1", 0, 2}, nullptr};

  http::Response Fault(int status) {
    http::Response r;
    r.status = status;
    r.body = R"({"error":"fault"})";
    if (status == 429) r.headers.emplace("Retry-After", "1");
    return r;
  }
  json Rows(int from, int to, const std::string& after) {
    json data = json::array();
    for (int i = from; i < to && i < n; ++i) {
      if (Day(i) <= after) continue;
      json row = {{"date", Day(i)}, {"close", 100.0 + i}, {"volume", 1000 + i}};
      if (drop_close) row.erase("close");
      data.push_back(row);
    }
    return data;
  }
  FakeApi() {
    server.Route(http::Method::kGet, "/h", [this](const http::Request& q) {
      std::lock_guard lock(mu);
      seen.push_back("/h?after=" + q.Query("after") + "&cursor=" + q.Query("cursor"));
      if (!faults.empty()) {
        const int f = faults.front();
        faults.pop_front();
        return Fault(f);
      }
      if (q.Header("Authorization") != "Bearer tok") return Fault(401);
      const int offset = q.HasQuery("cursor") ? std::stoi(q.Query("cursor")) : 0;
      if (!bad_page.empty() && q.Query("cursor") == bad_page) return http::Response{200, "{\"data\": [", "application/json", {}};
      // Pages of 10 among the rows after `after`.
      json all = Rows(0, n, q.Query("after"));
      json page = json::array();
      for (int i = offset; i < offset + 10 && i < static_cast<int>(all.size()); ++i) page.push_back(all[i]);
      json body = {{"symbol", "SPX"}, {"data", page}, {"next_cursor", nullptr}};
      if (offset + 10 < static_cast<int>(all.size())) body["next_cursor"] = std::to_string(offset + 10);
      return http::Response{200, body.dump(), "application/json", {}};
    });
    // Next-link paging: the body names the next page by a relative URL.
    server.Route(http::Method::kGet, "/n", [this](const http::Request& q) {
      std::lock_guard lock(mu);
      seen.push_back("/n?from=" + q.Query("from"));
      const int from = q.HasQuery("from") ? std::stoi(q.Query("from")) : 0;
      json body = {{"symbol", "SPX"}, {"data", Rows(from, from + 10, "")}, {"links", {{"next", nullptr}}}};
      if (from + 10 < n) body["links"]["next"] = "/n?from=" + std::to_string(from + 10);
      return http::Response{200, body.dump(), "application/json", {}};
    });
    server.Route(http::Method::kGet, "/p", [this](const http::Request& q) {
      std::lock_guard lock(mu);
      seen.push_back("/p?page=" + q.Query("page"));
      const int page = std::stoi(q.Query("page", "1"));
      if (q.Query("page") == bad_page) return http::Response{200, "<html>oops</html>", "application/json", {}};
      json body = {{"symbol", "SPX"}, {"data", Rows((page - 1) * 10, page * 10, "")}, {"total_pages", (n + 9) / 10}};
      return http::Response{200, body.dump(), "application/json", {}};
    });
    server.Start();
  }
  std::string Base() const { return "http://127.0.0.1:" + std::to_string(server.Port()); }
  std::vector<std::string> Seen() {
    std::lock_guard lock(mu);
    return seen;
  }
};

stages::RecordSpec Raw() {
  return stages::RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"P","fields":[
    {"name":"symbol","type":"string"},{"name":"date","type":"string"},
    {"name":"close","type":"double"},{"name":"volume","type":["null","long"],"default":null}]})"),
                                    "test");
}

HttpApiSourceOptions Options(const FakeApi& api, stages::Pagination p) {
  HttpApiSourceOptions o;
  auto& s = o.settings;
  s.name = "spx";
  s.records = "data";
  s.fields = {{"symbol", "$.symbol"}};
  s.cursor_field = "date";
  s.cursor_start = "1999-12-31";
  s.cursor_kind = stages::CursorKind::kDate;
  s.pagination = p;
  s.rate_per_second = 0;
  s.timeout = core::Duration(5000);
  s.every = core::Duration(3'600'000);
  if (p == stages::Pagination::kCursor) {
    s.url = "{env:API}/h";
    s.query = {{"after", "{cursor}"}};
    s.headers = {{"Authorization", "Bearer {env:TOKEN}"}};
    s.page_param = "cursor";
    s.page_path = "next_cursor";
  } else {
    s.url = "{env:API}/p";
    s.page_param = "page";
    s.page_start = 1;
    s.page_path = "total_pages";
  }
  o.raw = Raw();
  o.key_fields = {"symbol", "date"};
  o.retry.initial_backoff = core::Duration(20);
  o.retry.max_backoff = core::Duration(100);
  o.retry.budget = core::Duration(5000);
  const std::string base = api.Base();
  o.env = [base](const std::string& name) -> std::optional<std::string> {
    if (name == "API") return base;
    if (name == "TOKEN") return std::string("tok");
    return std::nullopt;
  };
  return o;
}

// Plays the source loop: polls (waiting out kIdle), commits every batch unless `abort_every`
// says to abort it (then hands the source its committed positions again). Returns the
// committed items, rows and DLQ alike.
struct Loop {
  HttpApiSource& source;
  std::map<std::string, std::string> committed;
  std::vector<runtime::SourceItem> items;
  int batches = 0, idles = 0;

  PollStatus Step(std::size_t max, bool commit = true) {
    SourceBatch batch;
    const PollStatus st = source.Poll(batch, max);
    if (st == PollStatus::kIdle) {
      ++idles;
      std::this_thread::sleep_for(source.PollInterval());
      return st;
    }
    if (st != PollStatus::kBatch) return st;
    ++batches;
    if (!commit) {
      source.Restore(committed);
      return st;
    }
    for (auto& it : batch.items) items.push_back(std::move(it));
    for (auto& [k, v] : batch.positions) committed[k] = v;
    source.Committed();
    return st;
  }
  std::vector<std::string> Dates() const {
    std::vector<std::string> d;
    for (const auto& it : items) {
      if (it.outcome.IsEmit()) d.push_back(std::get<std::string>(it.record.Row().Get("date")));
    }
    return d;
  }
};

std::vector<std::string> AllDays(int n) {
  std::vector<std::string> d;
  for (int i = 0; i < n; ++i) d.push_back(Day(i));
  return d;
}

}  // namespace

TEST_CASE("every record once, in order, when batches are aborted mid-page") {
  FakeApi api;
  HttpApiSource source(Options(api, stages::Pagination::kCursor), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  // Batches of 4 records out of pages of 10: every third batch is aborted and read again.
  for (int i = 0; i < 200 && loop.Dates().size() < 25; ++i) loop.Step(4, i % 3 != 2);
  CHECK(loop.Dates() == AllDays(25));
  const auto& first = loop.items.front().record;
  CHECK(first.key == "SPX|2000-01-01");
  CHECK(*first.FindHeader("sluice-source-url") == api.Base() + "/h?after=1999-12-31");
  CHECK(*first.FindHeader("sluice-source-index") == "0");
  // A fresh source resuming from the committed position reads nothing twice.
  HttpApiSource again(Options(api, stages::Pagination::kCursor), obs::Logger("test"));
  again.Restore(loop.committed);
  Loop next{again, loop.committed};
  for (int i = 0; i < 20 && next.batches == 0; ++i) next.Step(100);
  CHECK(next.Dates().empty());  // the new sweep asks after the last date: nothing new
  CHECK(api.Seen().back() == "/h?after=2000-01-25&cursor=");
}

TEST_CASE("429 with Retry-After and 500 are retried, never dead-lettered") {
  FakeApi api;
  api.faults = {429, 500, 503};
  HttpApiSource source(Options(api, stages::Pagination::kCursor), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  SourceBatch batch;
  CHECK(source.Poll(batch, 100) == PollStatus::kIdle);  // the 429
  CHECK(source.PollInterval() >= core::Duration(500));   // waits out Retry-After: 1
  for (int i = 0; i < 200 && loop.Dates().size() < 25; ++i) loop.Step(100);
  CHECK(loop.Dates() == AllDays(25));
  CHECK(loop.items.size() == 25);  // nothing in the DLQ
  CHECK(source.counters().failures == 3);
  CHECK(api.Seen().size() == 3 + 3);  // three faults, three pages
}

TEST_CASE("next-link paging follows the relative URL each page names, across an abort") {
  FakeApi api;
  HttpApiSourceOptions o = Options(api, stages::Pagination::kPage);
  o.settings.url = "{env:API}/n";
  o.settings.pagination = stages::Pagination::kNextLink;
  o.settings.page_param.clear();
  o.settings.page_path = "links.next";
  HttpApiSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  for (int i = 0; i < 100 && loop.Dates().size() < 25; ++i) loop.Step(4, i % 4 != 3);
  CHECK(loop.Dates() == AllDays(25));
  const auto seen = api.Seen();
  CHECK(std::find(seen.begin(), seen.end(), "/n?from=20") != seen.end());
  CHECK(*loop.items.back().record.FindHeader("sluice-source-url") == api.Base() + "/n?from=20");
}

TEST_CASE("a spent retry budget stops the daemon with the request and the last error") {
  FakeApi api;
  api.faults = std::deque<int>(1000, 500);
  HttpApiSourceOptions o = Options(api, stages::Pagination::kCursor);
  o.retry.budget = core::Duration(300);
  HttpApiSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  std::string message;
  try {
    for (int i = 0; i < 1000; ++i) loop.Step(100);
  } catch (const core::InfraError& e) {
    CHECK_FALSE(e.Retryable());
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("source spx: giving up after"));
  CHECK_THAT(message, Catch::Contains("GET " + api.Base() + "/h?after=1999-12-31 answered 500"));
  CHECK(loop.items.empty());
}

TEST_CASE("a refused credential or a missing variable is a configuration error") {
  FakeApi api;
  HttpApiSourceOptions o = Options(api, stages::Pagination::kCursor);
  const auto env = o.env;
  o.env = [env](const std::string& n) -> std::optional<std::string> {
    return n == "TOKEN" ? std::optional<std::string>("wrong") : env(n);
  };
  HttpApiSource source(o, obs::Logger("test"));
  source.Restore({});
  SourceBatch batch;
  CHECK_THROWS_WITH(source.Poll(batch, 10), Catch::Contains("answered 401"));
  HttpApiSourceOptions unset = Options(api, stages::Pagination::kCursor);
  unset.env = [](const std::string&) { return std::optional<std::string>(); };
  HttpApiSource no_env(unset, obs::Logger("test"));
  no_env.Restore({});
  CHECK_THROWS_WITH(no_env.Poll(batch, 10), "source spx: url: environment variable API is not set");
}

TEST_CASE("a malformed page is dead-lettered and passed when the next page is known") {
  FakeApi api;
  api.bad_page = "2";
  HttpApiSource source(Options(api, stages::Pagination::kPage), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  for (int i = 0; i < 50 && source.counters().pages + source.counters().dead_pages < 3; ++i) loop.Step(100);
  std::vector<std::string> want = AllDays(25);
  want.erase(want.begin() + 10, want.begin() + 20);  // page 2's rows are in the DLQ page
  CHECK(loop.Dates() == want);
  REQUIRE(loop.items.size() == 16);
  const auto& dead = loop.items[10];
  CHECK(dead.outcome.DlqRule() == "http_page");
  CHECK_THAT(dead.outcome.DlqReason(), Catch::StartsWith("GET " + api.Base() + "/p?page=2 (page 2): not JSON"));
  CHECK(dead.record.original == "<html>oops</html>");
}

TEST_CASE("a malformed page without a known next page is dead-lettered once, retried, then stops") {
  FakeApi api;
  api.bad_page = "10";
  HttpApiSourceOptions o = Options(api, stages::Pagination::kCursor);
  o.retry.budget = core::Duration(400);
  HttpApiSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  std::string message;
  try {
    for (int i = 0; i < 1000; ++i) loop.Step(100);
  } catch (const core::InfraError& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("cannot move past it safely"));
  CHECK(loop.Dates() == std::vector<std::string>(AllDays(10)));
  int dead = 0;
  for (const auto& it : loop.items) dead += it.outcome.IsDeadLettered() && it.outcome.DlqRule() == "http_page";
  CHECK(dead == 1);
  // Restarted, it does not dead-letter the page a second time.
  HttpApiSource again(o, obs::Logger("test"));
  again.Restore(loop.committed);
  Loop next{again, loop.committed};
  try {
    for (int i = 0; i < 1000; ++i) next.Step(100);
  } catch (const core::InfraError&) {
  }
  CHECK(next.items.empty());
}

TEST_CASE("records that drift from the schema go to the DLQ with the reason, and the rest load") {
  FakeApi api;
  HttpApiSource source(Options(api, stages::Pagination::kCursor), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Step(10);  // the first page, as served
  api.drop_close = true;
  for (int i = 0; i < 50 && source.counters().pages < 3; ++i) loop.Step(100);
  CHECK(loop.Dates() == std::vector<std::string>(AllDays(10)));
  REQUIRE(loop.items.size() == 25);
  CHECK(loop.items[10].outcome.DlqRule() == "http_record");
  CHECK(loop.items[10].outcome.DlqReason() == "field 'close' (close): missing (required)");
  CHECK(json::parse(loop.items[10].record.original)["date"] == Day(10));
}

TEST_CASE("once mode is one sweep, and response size is limited") {
  FakeApi api;
  HttpApiSourceOptions o = Options(api, stages::Pagination::kCursor);
  o.once = true;
  HttpApiSource source(o, obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  PollStatus st = PollStatus::kIdle;
  for (int i = 0; i < 100 && st != PollStatus::kFinished; ++i) st = loop.Step(100);
  CHECK(st == PollStatus::kFinished);
  CHECK(loop.Dates() == AllDays(25));

  HttpApiSourceOptions small = Options(api, stages::Pagination::kPage);
  small.settings.max_response_bytes = 100;
  HttpApiSource limited(small, obs::Logger("test"));
  limited.Restore({});
  Loop l2{limited};
  l2.Step(100);
  REQUIRE(l2.items.size() == 1);
  CHECK(l2.items[0].outcome.DlqReason() ==
        "GET " + api.Base() + "/p?page=1 (page 1): response larger than max_response_bytes (100)");
}

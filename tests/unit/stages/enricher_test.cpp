#include <catch2/catch.hpp>

#include <stdexcept>

#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/enricher.hpp"

using namespace sluice::stages;
using namespace std::chrono_literals;

namespace {

const std::string kSource = SLUICE_SOURCE_DIR;

SteadyTime At(std::chrono::milliseconds ms) { return SteadyTime{} + ms; }

// A fake reference table; counts loads and can be told to fail.
struct FakeTable {
  std::vector<Row> rows = {
      {{"code", std::string("CT")}, {"name", std::string("Connecticut")}, {"region", std::string("Northeast")}},
      {{"code", std::string("MN")}, {"name", std::string("Minnesota")}, {"region", std::string("Midwest")}},
  };
  int loads = 0;
  bool fail = false;
  std::string table, key;
  std::vector<std::string> columns;

  EnricherDeps Deps() {
    EnricherDeps deps;
    deps.table_loader = [this](const std::string& t, const std::string& k, const std::vector<std::string>& c) {
      table = t;
      key = k;
      columns = c;
      return [this] {
        ++loads;
        if (fail) throw sluice::core::InfraError("database down", sluice::core::Retry::kYes);
        return rows;
      };
    };
    deps.http_fetch = [](const std::string&, sluice::core::Duration) { return std::optional<HttpResponse>(); };
    return deps;
  }
};

Row CleanLoan(const std::string& id, double amount, std::int64_t term, double rate, const std::string& sub_grade,
              const std::string& state, std::int64_t issue_days) {
  return Row{{"loan_id", id},          {"funded_amnt", amount},       {"term", term},
             {"int_rate", rate},       {"sub_grade", sub_grade},      {"addr_state", state},
             {"verification_status", std::string("Verified")},        {"annual_inc", 50000.0},
             {"loan_class", std::string("good")},                     {"issue_date", issue_days}};
}

}  // namespace

TEST_CASE("enricher: the loans pipeline's steps on a clean loan") {
  const YAML::Node pipeline = YAML::LoadFile(kSource + "/pipelines/loans.yaml");
  FakeTable table;
  Enricher e(pipeline["enricher"]["steps"], LoadRecordSpec(kSource + "/schemas/loans.enriched.v1.avsc"),
             "loans.yaml enricher.steps", table.Deps());
  CHECK(table.table == "ref_us_states");
  CHECK(table.key == "code");
  CHECK(table.columns == std::vector<std::string>{"name", "region"});

  const std::int64_t leap_day = *ParseDate("2016-02-29", "%Y-%m-%d");
  auto r = e.Process(CleanLoan("LC-1", 16100, 36, 13.99, "C4", "CT", leap_day), At(0ms));
  INFO(r.rule << ": " << r.reason);
  REQUIRE(r.verdict == EnrichVerdict::kEmit);
  CHECK(r.row.Get("grade") == Value{std::string("C")});
  CHECK(r.row.Get("state_name") == Value{std::string("Connecticut")});
  CHECK(r.row.Get("region") == Value{std::string("Northeast")});
  CHECK(std::get<double>(r.row.Get("monthly_installment")) == Approx(550.18));  // computed independently
  CHECK(r.row.Get("issue_year") == Value{std::int64_t{2016}});
  CHECK(r.row.Get("issue_month") == Value{std::int64_t{2}});
  CHECK(r.row.Get("loan_id") == Value{std::string("LC-1")});
  CHECK(r.row.size() == e.output().fields.size());

  auto r2 = e.Process(CleanLoan("LC-2", 32000, 60, 11.99, "A1", "ZZ", 0), At(1s));
  REQUIRE(r2.verdict == EnrichVerdict::kEmit);
  CHECK(std::get<double>(r2.row.Get("monthly_installment")) == Approx(711.66));
  CHECK(IsNull(r2.row.Get("state_name")));  // missing: null
  CHECK(r2.row.Get("issue_year") == Value{std::int64_t{1970}});
  CHECK(table.loads == 1);  // cached
}

TEST_CASE("enricher: installment and date parts") {
  CHECK(MonthlyInstallment(1200, 0, 12) == Approx(100));
  CHECK(MonthlyInstallment(10000, 12, 12) == Approx(888.49));
  const YAML::Node steps = YAML::Load(R"(
    - {type: derive, field: q, function: date_part, from: d, part: quarter}
    - {type: derive, field: ym, function: date_part, from: d, part: year_month}
    - {type: derive, field: wd, function: date_part, from: d, part: weekday}
    - {type: derive, field: day, function: date_part, from: d, part: day}
    - {type: derive, field: both, function: concat, fields: [a, b], separator: '-'}
    - {type: derive, field: a2, function: copy, from: a}
    - {type: derive, field: mid, function: substr, from: a, start: 1, length: 2}
  )");
  RecordSpec out;
  for (auto [n, t] : {std::pair{"q", FieldType::kInt}, {"ym", FieldType::kString}, {"wd", FieldType::kInt},
                      {"day", FieldType::kInt}, {"both", FieldType::kString}, {"a2", FieldType::kString},
                      {"mid", FieldType::kString}}) {
    out.fields.push_back(FieldSpec{n, t, true, std::nullopt});
  }
  Enricher e(steps, out, "test", {});
  auto r = e.Process(Row{{"d", std::int64_t{16860}}, {"a", std::string("abcd")}, {"b", std::string("x")}}, At(0ms));
  REQUIRE(r.verdict == EnrichVerdict::kEmit);
  CHECK(r.row.Get("q") == Value{std::int64_t{1}});
  CHECK(r.row.Get("ym") == Value{std::string("2016-02")});
  CHECK(r.row.Get("wd") == Value{std::int64_t{1}});  // 2016-02-29 was a Monday
  CHECK(r.row.Get("day") == Value{std::int64_t{29}});
  CHECK(r.row.Get("both") == Value{std::string("abcd-x")});
  CHECK(r.row.Get("a2") == Value{std::string("abcd")});
  CHECK(r.row.Get("mid") == Value{std::string("bc")});
  auto nulls = e.Process(Row{{"a", std::string("abcd")}}, At(0ms));
  REQUIRE(nulls.verdict == EnrichVerdict::kEmit);
  CHECK(IsNull(nulls.row.Get("q")));
  CHECK(IsNull(nulls.row.Get("both")));  // a null part makes the concatenation null
  auto bad = e.Process(Row{{"d", std::string("yesterday")}}, At(0ms));
  CHECK(bad.verdict == EnrichVerdict::kReject);
  CHECK(bad.rule == "derive_0");
  CHECK_THAT(bad.reason, Catch::Contains("'yesterday' is not a date"));
}

TEST_CASE("enricher: missing: reject sends unknown keys to the DLQ") {
  FakeTable table;
  const YAML::Node steps = YAML::Load(
      "[{name: states, type: pg_lookup, table: ref_us_states, key: addr_state, column: code, "
      "fields: {name: state_name}, missing: reject}]");
  RecordSpec out{"x", {FieldSpec{"addr_state", FieldType::kString, false, {}}, FieldSpec{"state_name", FieldType::kString, true, {}}}};
  Enricher e(steps, out, "test", table.Deps());
  CHECK(e.Process(Row{{"addr_state", std::string("MN")}}, At(0ms)).row.Get("state_name") == Value{std::string("Minnesota")});
  auto r = e.Process(Row{{"addr_state", std::string("ZZ")}}, At(0ms));
  CHECK(r.verdict == EnrichVerdict::kReject);
  CHECK(r.rule == "states");
  CHECK(r.reason == "addr_state: 'ZZ' not found in ref_us_states");
}

TEST_CASE("lookup table: refresh interval, stale copy kept on failure, first failure throws") {
  FakeTable t;
  auto loader = t.Deps().table_loader("ref", "code", {"name"});
  LookupTable table("code", 5min, loader);

  t.fail = true;
  CHECK_THROWS_AS(table.Find("CT", At(0ms)), sluice::core::InfraError);
  t.fail = false;
  REQUIRE(table.Find("CT", At(1s)) != nullptr);
  CHECK(table.Find("CT", At(1s))->Get("name") == Value{std::string("Connecticut")});
  CHECK(t.loads == 2);
  CHECK(table.Find("NY", At(4min)) == nullptr);
  CHECK(t.loads == 2);  // within the interval: no reload

  t.rows.push_back(Row{{"code", std::string("NY")}, {"name", std::string("New York")}});
  REQUIRE(table.Find("NY", At(5min + 1s)) != nullptr);  // stale: reloaded
  CHECK(t.loads == 3);
  CHECK(table.size() == 3);

  t.fail = true;
  CHECK(table.Find("NY", At(11min)) != nullptr);  // reload fails: the old copy still serves
  CHECK_THAT(table.last_error(), Catch::Contains("database down"));
  CHECK(t.loads == 4);
  CHECK(table.Find("NY", At(12min)) != nullptr);
  CHECK(t.loads == 4);  // no retry storm: the next attempt waits an interval
  t.fail = false;
  table.Find("NY", At(17min));
  CHECK(t.loads == 5);
  CHECK(table.last_error().empty());
}

TEST_CASE("http lookup: URL template, JSON pointer, cache with TTL and LRU, fallback") {
  std::vector<std::string> calls;
  std::optional<HttpResponse> answer = HttpResponse{200, R"({"daily": {"temp_max": 21.5}})"};
  HttpFetch fetch = [&](const std::string& url, sluice::core::Duration timeout) {
    calls.push_back(url);
    CHECK(timeout == 500ms);
    return answer;
  };
  HttpLookup::Settings s;
  s.url = "http://127.0.0.1:8089/weather/{city}/{date}";
  s.json_pointer = "/daily/temp_max";
  s.ttl = 10min;
  s.cache_size = 2;
  s.timeout = 500ms;
  s.fallback = std::string("unknown");
  HttpLookup lookup(s, fetch);

  const Row seattle{{"city", std::string("Seattle WA")}, {"date", std::string("2015-01-02")}};
  auto r = lookup.Lookup(seattle, At(0ms));
  CHECK(r.value == Value{21.5});
  CHECK(!r.fallback);
  CHECK(!r.from_cache);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0] == "http://127.0.0.1:8089/weather/Seattle%20WA/2015-01-02");

  CHECK(lookup.Lookup(seattle, At(9min)).from_cache);
  CHECK(calls.size() == 1);
  CHECK(!lookup.Lookup(seattle, At(11min)).from_cache);  // TTL passed
  CHECK(calls.size() == 2);

  // The API fails: fallback, not cached for long (a tenth of the TTL).
  const Row ny{{"city", std::string("New York")}, {"date", std::string("2015-01-02")}};
  answer = std::nullopt;
  auto f = lookup.Lookup(ny, At(12min));
  CHECK(f.fallback);
  CHECK(f.value == Value{std::string("unknown")});
  CHECK_THAT(f.error, Catch::Contains("no answer within 500ms"));
  CHECK(lookup.Lookup(ny, At(12min + 30s)).from_cache);
  answer = HttpResponse{200, R"({"daily": {"temp_max": 3}})"};
  auto ok = lookup.Lookup(ny, At(13min + 1s));
  CHECK(!ok.fallback);
  CHECK(ok.value == Value{std::int64_t{3}});

  // LRU bound of 2: a third key evicts the least recently used (Seattle).
  const Row boston{{"city", std::string("Boston")}, {"date", std::string("2015-01-02")}};
  lookup.Lookup(boston, At(14min));
  const auto before = calls.size();
  lookup.Lookup(seattle, At(14min));
  CHECK(calls.size() == before + 1);

  answer = HttpResponse{503, "busy"};
  CHECK_THAT(lookup.Lookup(Row{{"city", std::string("x")}, {"date", std::string("y")}}, At(15min)).error,
             Catch::Contains("HTTP status 503"));
  answer = HttpResponse{200, "not json"};
  CHECK_THAT(lookup.Lookup(Row{{"city", std::string("x2")}, {"date", std::string("y")}}, At(15min)).error,
             Catch::Contains("bad JSON"));
  answer = HttpResponse{200, R"({"daily": {}})"};
  CHECK_THAT(lookup.Lookup(Row{{"city", std::string("x3")}, {"date", std::string("y")}}, At(15min)).error,
             Catch::Contains("no value at /daily/temp_max"));
  auto null_field = lookup.Lookup(Row{{"city", std::string("x4")}}, At(15min));
  CHECK(null_field.fallback);
  CHECK_THAT(null_field.error, Catch::Contains("field 'date' of the URL is null"));
}

TEST_CASE("enricher: configuration errors are clear") {
  FakeTable table;
  RecordSpec out;
  auto error_of = [&](const std::string& yaml) {
    try {
      Enricher e(YAML::Load(yaml), out, "enricher.steps", table.Deps());
    } catch (const sluice::core::ConfigError& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("[{type: derive, field: g, function: substr}]"), Catch::Contains("function 'substr' needs 'from'"));
  CHECK_THAT(error_of("[{type: derive, field: g, function: upper, from: a}]"), Catch::Contains("expected substr"));
  CHECK_THAT(error_of("[{type: pg_lookup, table: t, key: k, fields: {a: b}, missing: drop}]"), Catch::Contains("expected null or reject"));
  CHECK_THAT(error_of("[{type: http_lookup, url: 'http://x/{a', field: f}]"), Catch::Contains("unbalanced"));
  CHECK_THAT(error_of("[{type: http_lookup, url: 'http://x/', field: f, json_path: a/b}]"), Catch::Contains("starts with '/'"));
  CHECK_THAT(error_of("[{type: geo, field: f}]"), Catch::Contains("unknown step type 'geo'"));
  CHECK_THAT(error_of("[{type: derive, field: g, function: copy, from: a, colour: red}]"), Catch::Contains("unknown key 'colour'"));
}

// LookupTable and HttpLookup, the enricher's stateful parts: refresh, stale copies, cache TTL
// and LRU, on a fake clock. What the steps do to records is in case files: tests/cases/enricher/
// and pipelines/<p>/cases/enricher_*.yaml (tests/cases/README.md).
#include <catch2/catch.hpp>

#include <stdexcept>

#include "sluice/core/error.hpp"
#include "sluice/stages/enricher.hpp"

using namespace sluice::stages;
using namespace std::chrono_literals;

namespace {

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

}  // namespace

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

TEST_CASE("enricher: a step may not be named after a fixed DLQ word") {
  for (const std::string word : {"type", "drop", "pg_rejected"}) {
    INFO(word);
    const YAML::Node steps =
        YAML::Load("- {name: " + word + ", type: derive, field: q, function: date_part, from: d, part: quarter}");
    CHECK_THROWS_WITH(Enricher(steps, RecordSpec{"t", {}}, "p.yaml: enricher.steps", EnricherDeps{}),
                      Catch::Equals("p.yaml: enricher.steps[0] (" + word + ").name: '" + word +
                                        "' is reserved: it is a fixed DLQ rule code (docs/dlq-codes.md) (line 1)"));
  }
}

// The enricher's http_lookup through the real HTTP client against a loopback server the test
// starts: values from JSON, the cache, and the fallback on timeout, 5xx and refused
// connections. The timeout is 300 ms against a handler that answers after 1.5 s, so the
// fallback is certain; nothing asserts on elapsed time.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "enricher_stage.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

class LocalServer {
 public:
  LocalServer() {
    server_.Get(R"(/rate/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
      ++hits_;
      std::string cur = req.matches[1];
      if (cur == "SLOW") std::this_thread::sleep_for(1500ms);
      if (cur == "FAIL") {
        res.status = 500;
        res.set_content("{\"error\":\"boom\"}", "application/json");
        return;
      }
      res.set_content(nlohmann::json{{"rate", cur == "EUR" ? 1.1 : 2.5}}.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(server_.is_running());
  }
  ~LocalServer() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  int port() const { return port_; }
  int hits() const { return hits_; }

 private:
  httplib::Server server_;
  std::atomic<int> hits_{0};
  int port_ = 0;
  std::thread thread_;
};

stages::RecordSpec Spec() {
  return stages::RecordSpecFromAvsc(nlohmann::json::parse(R"({"type":"record","name":"R","fields":[
    {"name":"currency","type":"string"},{"name":"rate","type":["null","double"],"default":null}]})"),
                                    "test");
}

enricher::EnricherStage MakeStage(int port) {
  auto fetcher = std::make_shared<enricher::HttpFetcher>();
  stages::EnricherDeps deps;
  deps.http_fetch = [fetcher](const std::string& url, core::Duration timeout) {
    return fetcher->Fetch(url, timeout);
  };
  std::string yaml = "[{type: http_lookup, name: rate, url: 'http://127.0.0.1:" +
                     std::to_string(port) +
                     "/rate/{currency}', field: rate, json_path: /rate, timeout: 300ms, "
                     "cache_ttl: 1h, fallback: '-1'}]";
  return enricher::EnricherStage(stages::Enricher(YAML::Load(yaml), Spec(), "test.steps", deps));
}

double RateOf(enricher::EnricherStage& stage, const std::string& currency) {
  runtime::Record r;
  r.key = currency;
  r.value = stages::Row{{"currency", currency}};
  runtime::StageResult result = stage.Process(std::move(r));
  REQUIRE(result.outcome.IsEmit());
  const auto& row = result.records.at(0).Row();
  return std::get<double>(row.Get("rate"));
}

}  // namespace

TEST_CASE("enricher http_lookup: value from the JSON answer, then from the cache") {
  LocalServer server;
  auto stage = MakeStage(server.port());
  CHECK(RateOf(stage, "EUR") == 1.1);
  CHECK(RateOf(stage, "GBP") == 2.5);
  CHECK(server.hits() == 2);
  CHECK(RateOf(stage, "EUR") == 1.1);
  CHECK(server.hits() == 2);  // cached
}

TEST_CASE("enricher http_lookup: timeout and HTTP 500 give the fallback") {
  LocalServer server;
  auto stage = MakeStage(server.port());
  CHECK(RateOf(stage, "SLOW") == -1.0);
  CHECK(RateOf(stage, "FAIL") == -1.0);
  CHECK(RateOf(stage, "EUR") == 1.1);  // the client still works after a timeout
}

TEST_CASE("enricher http_lookup: a refused connection gives the fallback") {
  int port = 0;
  {
    LocalServer server;
    port = server.port();
    server.Stop();
  }
  auto stage = MakeStage(port);
  CHECK(RateOf(stage, "EUR") == -1.0);
}

// The health server and the curl client talking over loopback (socket I/O, hence integration).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <atomic>
#include <thread>

#include "sluice/core/error.hpp"
#include "sluice/http/client.hpp"
#include "sluice/http/server.hpp"
#include "sluice/obs/metrics.hpp"

using namespace sluice::http;
using sluice::core::InfraError;

namespace {

std::string Base(const Server& s) { return "http://127.0.0.1:" + std::to_string(s.Port()); }

}  // namespace

TEST_CASE("livez, readyz and metrics answer over loopback") {
  sluice::obs::Registry registry;
  registry.AddCounter("sluice_records_in_total", "Records read.").Get().Inc(5);
  Server server({"127.0.0.1", 0, 2}, &registry);
  std::atomic<bool> kafka_ok{true};
  server.AddReadinessCheck("kafka", [&] {
    return kafka_ok ? CheckResult{} : CheckResult{false, "broker unreachable"};
  });
  server.AddReadinessCheck("caught_up", [] { return CheckResult{true, ""}; });
  server.Start();
  REQUIRE(server.Port() > 0);
  Client client;

  auto live = client.Get(Base(server) + "/livez");
  CHECK(live.status == 200);
  CHECK(nlohmann::json::parse(live.body)["status"] == "ok");

  auto ready = client.Get(Base(server) + "/readyz");
  CHECK(ready.status == 200);
  auto body = nlohmann::json::parse(ready.body);
  CHECK(body["ready"] == true);
  CHECK(body["checks"].size() == 2);
  CHECK(body["checks"][0]["name"] == "kafka");

  kafka_ok = false;
  auto not_ready = client.Get(Base(server) + "/readyz");
  CHECK(not_ready.status == 503);
  body = nlohmann::json::parse(not_ready.body);
  CHECK(body["ready"] == false);
  CHECK(body["checks"][0]["ok"] == false);
  CHECK(body["checks"][0]["detail"] == "broker unreachable");
  CHECK(body["checks"][1]["ok"] == true);

  auto metrics = client.Get(Base(server) + "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(metrics.body.find("sluice_records_in_total 5\n") != std::string::npos);

  CHECK(client.Get(Base(server) + "/nope").status == 404);
  server.Stop();
  server.Stop();  // idempotent
}

TEST_CASE("components register routes with methods and path parameters") {
  Server server({"127.0.0.1", 0, 2}, nullptr);
  server.Route(Method::kGet, "/subjects/:subject/versions/:version", [](const Request& r) {
    nlohmann::json j{{"subject", r.Param("subject")},
                     {"version", r.Param("version")},
                     {"deleted", r.Query("deleted", "false")}};
    return Response{200, j.dump(), "application/vnd.schemaregistry.v1+json", {}};
  });
  server.Route(Method::kPost, "/subjects/:subject/versions", [](const Request& r) {
    return Response{200, "{\"got\":" + r.body + ",\"ct\":\"" + r.Header("content-type") + "\"}",
                    "application/json", {{"X-Sluice", "yes"}}};
  });
  server.Route(Method::kPut, "/config/:subject", [](const Request& r) {
    return Response{200, r.body, "application/json", {}};
  });
  server.Route(Method::kDelete, "/subjects/:subject", [](const Request& r) {
    return Response{r.HasQuery("permanent") ? 200 : 202, "[1]", "application/json", {}};
  });
  server.Route(Method::kGet, "/boom", [](const Request&) -> Response {
    throw std::runtime_error("kaput");
  });
  server.Start();
  Client client;
  std::string base = Base(server);

  auto got = client.Get(base + "/subjects/loans.raw-value/versions/latest?deleted=true");
  CHECK(got.status == 200);
  CHECK(got.headers["content-type"] == "application/vnd.schemaregistry.v1+json");
  auto j = nlohmann::json::parse(got.body);
  CHECK(j["subject"] == "loans.raw-value");
  CHECK(j["version"] == "latest");
  CHECK(j["deleted"] == "true");

  auto posted = client.Post(base + "/subjects/s/versions", "{\"schema\":\"x\"}",
                            {{"Content-Type", "application/vnd.schemaregistry.v1+json"}});
  CHECK(posted.status == 200);
  CHECK(posted.headers["x-sluice"] == "yes");
  CHECK(nlohmann::json::parse(posted.body)["got"]["schema"] == "x");
  CHECK(nlohmann::json::parse(posted.body)["ct"] == "application/vnd.schemaregistry.v1+json");

  CHECK(client.Put(base + "/config/s", "{\"compatibility\":\"FULL\"}").body ==
        "{\"compatibility\":\"FULL\"}");
  CHECK(client.Delete(base + "/subjects/s").status == 202);
  CHECK(client.Delete(base + "/subjects/s?permanent=true").status == 200);
  // Path parameters match one segment only.
  CHECK(client.Get(base + "/subjects/a/b/versions/1").status == 404);
  // Wrong method on a known path.
  CHECK(client.Post(base + "/livez", "").status >= 400);

  auto boom = client.Get(base + "/boom");
  CHECK(boom.status == 500);
  CHECK(nlohmann::json::parse(boom.body)["message"] == "kaput");
}

TEST_CASE("the client sends basic auth and default headers") {
  Server server({"127.0.0.1", 0, 2}, nullptr);
  server.Route(Method::kGet, "/whoami", [](const Request& r) {
    return Response{200, r.Header("Authorization") + "|" + r.Header("X-Trace"), "text/plain", {}};
  });
  server.Start();
  ClientOptions options;
  options.username = "user";
  options.password = "pass";
  options.headers["X-Trace"] = "t1";
  Client client(options);
  auto r = client.Get(Base(server) + "/whoami");
  CHECK(r.body == "Basic dXNlcjpwYXNz|t1");  // base64("user:pass")
}

TEST_CASE("network failures and timeouts throw retryable InfraError") {
  // A port that was just free: bind a server, note its port, stop it.
  int port;
  {
    Server s({"127.0.0.1", 0, 1}, nullptr);
    s.Start();
    port = s.Port();
  }
  Client client;
  try {
    client.Get("http://127.0.0.1:" + std::to_string(port) + "/livez");
    FAIL("expected InfraError");
  } catch (const InfraError& e) {
    CHECK(e.Retryable());
    CHECK(std::string(e.what()).find("GET http://127.0.0.1:") == 0);
  }

  Server slow({"127.0.0.1", 0, 2}, nullptr);
  std::atomic<bool> release{false};
  slow.Route(Method::kGet, "/slow", [&](const Request&) {
    for (int i = 0; i < 100 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Response{200, "late", "text/plain", {}};
  });
  slow.Start();
  ClientOptions options;
  options.timeout = std::chrono::milliseconds(200);
  Client impatient(options);
  try {
    impatient.Get(Base(slow) + "/slow");
    FAIL("expected a timeout");
  } catch (const InfraError& e) {
    CHECK(e.Retryable());
    CHECK(std::string(e.what()).find("timed out") != std::string::npos);
  }
  release = true;

  Client bad;
  CHECK_THROWS_AS(bad.Get("notascheme://x"), InfraError);
}

TEST_CASE("binding a port in use fails with a clear InfraError") {
  Server first({"127.0.0.1", 0, 1}, nullptr);
  first.Start();
  Server second({"127.0.0.1", first.Port(), 1}, nullptr);
  try {
    second.Start();
    FAIL("expected InfraError");
  } catch (const InfraError& e) {
    CHECK_FALSE(e.Retryable());
    CHECK(std::string(e.what()).find("cannot listen on 127.0.0.1:") == 0);
  }
}

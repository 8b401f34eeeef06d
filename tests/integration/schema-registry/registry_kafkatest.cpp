// The real sluice-registry binary against the real broker: ids survive restarts, deletes
// survive restarts, two instances writing at once never collide, /readyz waits for catch-up.
// Needs SLUICE_KAFKA_BROKERS (deploy/local/stack env); fails with a clear message without it.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "sluice/http/client.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/registry/client.hpp"
#include "support/child_process.hpp"
#include "support/stack_env.hpp"

using nlohmann::json;
using sluice::testing::FreePort;
using sluice::testing::RegistryProcess;

namespace {

std::string UniqueTopic(const std::string& what) {
  return "_schemas.test." + what + "." + sluice::testing::RandomSuffix();
}

struct Http {
  explicit Http(std::string base) : base(std::move(base)) {}
  std::pair<long, json> Call(const std::string& method, const std::string& path, const json& body = nullptr) {
    sluice::http::Client::Headers h{{"Content-Type", "application/vnd.schemaregistry.v1+json"}};
    sluice::http::ClientResponse r;
    if (method == "GET") r = client.Get(base + path, h);
    if (method == "POST") r = client.Post(base + path, body.dump(), h);
    if (method == "PUT") r = client.Put(base + path, body.dump(), h);
    if (method == "DELETE") r = client.Delete(base + path, h);
    return {r.status, json::parse(r.body, nullptr, false)};
  }
  std::string base;
  sluice::http::Client client;
};

std::string RecordSchema(const std::string& name, int fields) {
  json f = json::array();
  for (int i = 0; i < fields; ++i) f.push_back({{"name", "f" + std::to_string(i)}, {"type", "long"}});
  return json{{"type", "record"}, {"name", name}, {"fields", f}}.dump();
}

void DropTopic(const std::string& topic) {
  try {
    sluice::kafka::Admin admin(sluice::kafka::Config{{"bootstrap.servers", sluice::testing::RequireEnv("SLUICE_KAFKA_BROKERS")}});
    admin.DeleteTopics({topic}, std::chrono::seconds(30));
  } catch (const std::exception&) {
  }
}

}  // namespace

TEST_CASE("ids, versions and deletes survive a restart") {
  std::string topic = UniqueTopic("restart");
  int port = FreePort();
  std::map<std::string, int> ids;
  {
    RegistryProcess sr(topic, port);
    sr.WaitReady();
    Http h(sr.Url());
    REQUIRE(h.Call("PUT", "/config", {{"compatibility", "NONE"}}).first == 200);
    for (int i = 0; i < 5; ++i) {
      auto [status, body] = h.Call("POST", "/subjects/r" + std::to_string(i % 2) + "-value/versions",
                                   {{"schema", RecordSchema("R" + std::to_string(i), i + 1)}});
      REQUIRE(status == 200);
      ids["R" + std::to_string(i)] = body["id"].get<int>();
    }
    REQUIRE(h.Call("DELETE", "/subjects/r0-value/versions/1").first == 200);
    REQUIRE(h.Call("POST", "/subjects/gone-value/versions", {{"schema", RecordSchema("Gone", 1)}}).first == 200);
    REQUIRE(h.Call("DELETE", "/subjects/gone-value").first == 200);
    REQUIRE(h.Call("DELETE", "/subjects/gone-value?permanent=true").first == 200);
    CHECK(sr.Stop() == 0);
  }
  {
    RegistryProcess sr(topic, port);
    sr.WaitReady();
    Http h(sr.Url());
    // Same ids for the same schemas, read back by id and by registering again.
    for (const auto& [name, id] : ids) {
      int i = name[1] - '0';
      auto [status, body] = h.Call("GET", "/schemas/ids/" + std::to_string(id));
      REQUIRE(status == 200);
      CHECK(json::parse(body["schema"].get<std::string>()) == json::parse(RecordSchema(name, i + 1)));
    }
    auto again = h.Call("POST", "/subjects/r1-value/versions", {{"schema", RecordSchema("R1", 2)}});
    CHECK(again.second["id"] == ids["R1"]);
    CHECK(h.Call("GET", "/subjects").second == json::array({"r0-value", "r1-value"}));
    CHECK(h.Call("GET", "/subjects/r0-value/versions").second == json::array({2, 3}));
    CHECK(h.Call("GET", "/subjects/r0-value/versions?deleted=true").second == json::array({1, 2, 3}));
    CHECK(h.Call("GET", "/subjects?deleted=true").second == json::array({"r0-value", "r1-value"}));
    CHECK(h.Call("GET", "/config").second == json{{"compatibilityLevel", "NONE"}});
    // A new schema continues after the highest id.
    int max_id = 0;
    for (const auto& [n, id] : ids) max_id = std::max(max_id, id);
    auto fresh = h.Call("POST", "/subjects/new-value/versions", {{"schema", RecordSchema("New", 1)}});
    CHECK(fresh.second["id"].get<int>() > max_id);
    CHECK(sr.Stop() == 0);
  }
  DropTopic(topic);
}

TEST_CASE("two instances registering at once never give one id to two schemas") {
  std::string topic = UniqueTopic("race");
  RegistryProcess a(topic);
  RegistryProcess b(topic);
  a.WaitReady();
  b.WaitReady();
  {
    Http h(a.Url());
    REQUIRE(h.Call("PUT", "/config", {{"compatibility", "NONE"}}).first == 200);
  }
  constexpr int kPerInstance = 30;
  std::vector<std::map<std::string, int>> answered(2);
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      Http h(w == 0 ? a.Url() : b.Url());
      for (int k = 0; k < kPerInstance; ++k) {
        // Distinct schemas per instance, plus every 5th shared by both.
        std::string name = (k % 5 == 0) ? "Shared" + std::to_string(k) : "W" + std::to_string(w) + "_" + std::to_string(k);
        auto [status, body] = h.Call("POST", "/subjects/race" + std::to_string(k % 3) + "-value/versions",
                                     {{"schema", RecordSchema(name, 1)}});
        if (status == 200) answered[w][name] = body["id"].get<int>();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(answered[0].size() == kPerInstance);
  CHECK(answered[1].size() == kPerInstance);
  std::map<std::string, int> id_of;
  for (const auto& m : answered) {
    for (const auto& [name, id] : m) {
      auto [it, inserted] = id_of.emplace(name, id);
      CHECK(it->second == id);
    }
  }
  std::map<int, std::string> name_of;
  for (const auto& [name, id] : id_of) {
    auto [it, inserted] = name_of.emplace(id, name);
    CHECK(inserted);
  }
  // Both instances (and so every reader of the log) serve each id with the answered schema.
  for (const auto* p : {&a, &b}) {
    Http h(p->Url());
    for (const auto& [name, id] : id_of) {
      json body;
      // The other instance's writes reach this one through the log: allow it a moment.
      for (int i = 0; i < 100; ++i) {
        auto r = h.Call("GET", "/schemas/ids/" + std::to_string(id));
        body = r.second;
        if (r.first == 200) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      REQUIRE(body.contains("schema"));
      CHECK(json::parse(body["schema"].get<std::string>()) == json::parse(RecordSchema(name, 1)));
    }
  }
  CHECK(a.Stop() == 0);
  CHECK(b.Stop() == 0);
  DropTopic(topic);
}

TEST_CASE("/readyz turns 200 only once the whole log is applied") {
  std::string topic = UniqueTopic("ready");
  constexpr int kSubjects = 300;
  {
    RegistryProcess sr(topic);
    sr.WaitReady();
    Http h(sr.Url());
    for (int i = 0; i < kSubjects; ++i) {
      REQUIRE(h.Call("POST", "/subjects/s" + std::to_string(i) + "/versions",
                     {{"schema", RecordSchema("S" + std::to_string(i), 1)}}).first == 200);
    }
    CHECK(sr.Stop() == 0);
  }
  RegistryProcess sr(topic);
  Http h(sr.Url());
  sluice::http::Client probe({std::chrono::milliseconds(2000), std::chrono::milliseconds(500)});
  // Until ready, the API refuses to answer from a partial state; once ready, all is there.
  bool ready = false;
  for (int i = 0; i < 1200 && !ready; ++i) {
    try {
      auto r = probe.Get(sr.Url() + "/readyz");
      ready = r.status == 200;
      if (!ready) {
        auto subjects = h.Call("GET", "/subjects");
        if (subjects.first == 200) CHECK(subjects.second.size() == kSubjects);
        else CHECK(subjects.second["error_code"] == 50001);
      }
    } catch (const std::exception&) {
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(ready);
  CHECK(h.Call("GET", "/subjects").second.size() == kSubjects);
  CHECK(sr.Stop() == 0);
  DropTopic(topic);
}

TEST_CASE("the registry client registers, looks up, fetches and sees 409 as incompatible") {
  std::string topic = UniqueTopic("client");
  RegistryProcess sr(topic);
  sr.WaitReady();
  sluice::registry::Client client({sr.Url()});
  auto subject = sluice::registry::ValueSubject("loans.raw");
  std::string v1 = R"({"type":"record","name":"Loan","fields":[{"name":"id","type":"string"}]})";
  auto id = client.Register(subject, v1);
  CHECK(client.Register(subject, v1) == id);
  auto found = client.Lookup(subject, v1);
  REQUIRE(found);
  CHECK(found->id == id);
  CHECK(found->version == 1);
  CHECK_FALSE(client.Lookup(subject, R"({"type":"record","name":"Loan","fields":[]})"));
  CHECK(client.Schema(id).root().full_name() == "Loan");
  CHECK(client.Latest(subject).id == id);
  std::string bad = R"({"type":"record","name":"Loan","fields":[{"name":"id","type":"string"},)"
                    R"({"name":"amount","type":"double"}]})";
  CHECK_FALSE(client.TestCompatibility(subject, bad).compatible);
  try {
    client.Register(subject, bad);
    FAIL("expected an incompatible-schema error");
  } catch (const sluice::registry::RegistryError& e) {
    CHECK(e.IsIncompatible());
    CHECK(e.HttpStatus() == 409);
  }
  try {
    client.SchemaText(sluice::registry::SchemaId{424242});
    FAIL("expected 40403");
  } catch (const sluice::registry::RegistryError& e) {
    CHECK(e.ErrorCode() == 40403);
  }
  CHECK(sr.Stop() == 0);
  DropTopic(topic);
}

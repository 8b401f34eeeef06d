// The optimistic single-writer protocol: several instances writing one log concurrently never
// give one id (or one subject version) to two different schemas, and all agree on the state.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "registry_api.hpp"

using namespace sluice::schema_registry;
using nlohmann::json;

namespace {

std::string Schema(int i) {
  return json{{"type", "record"}, {"name", "R" + std::to_string(i)},
              {"fields", json::array({json{{"name", "f"}, {"type", "long"}}})}}
      .dump();
}

ApiResponse Post(RegistryApi& api, const std::string& path, const std::string& body) {
  ApiRequest r;
  r.method = "POST";
  r.path = path;
  r.body = body;
  return api.Handle(r);
}

ApiResponse Get(RegistryApi& api, const std::string& path) {
  ApiRequest r;
  r.method = "GET";
  r.path = path;
  return api.Handle(r);
}

}  // namespace

TEST_CASE("a record planned on a stale state is ignored by every instance") {
  MemoryLogStore log;
  MemoryLog view(log);
  RegistryStore store(view, 1);
  store.CatchUp(std::chrono::steady_clock::now() + std::chrono::seconds(1));

  LogKey key;
  key.type = KeyType::kSchema;
  key.subject = "s";
  key.version = 1;
  key.seq = 0;
  key.node = 7;
  SchemaValue a{"s", 1, 1, "AVRO", {}, Schema(1), false};
  SchemaValue b{"s", 1, 1, "AVRO", {}, Schema(2), false};
  log.Append(SerializeKey(key), SerializeSchemaValue(a));  // lands at 0 == seq: applied
  key.node = 8;
  log.Append(SerializeKey(key), SerializeSchemaValue(b));  // lands at 1 != seq 0: ignored
  store.CatchUp(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  auto view_by_id = store.Read([](const RegistryState& s) { return s.SchemaById(1); });
  REQUIRE(view_by_id);
  CHECK(view_by_id->schema == Schema(1));
  CHECK(store.Read([](const RegistryState& s) { return s.Versions("s", true); }) == std::vector<int>{1});
}

TEST_CASE("keys have one canonical byte form") {
  LogKey key;
  key.type = KeyType::kSchema;
  key.subject = "a\"b";
  key.version = 3;
  key.seq = 12;
  key.node = 99;
  CHECK(SerializeKey(key) ==
        R"({"keytype":"SCHEMA","subject":"a\"b","version":3,"magic":1,"seq":12,"node":99})");
  auto parsed = ParseKey(R"({"node":99,"magic":1,"seq":12,"version":3,"subject":"a\"b","keytype":"SCHEMA"})");
  REQUIRE(parsed);
  CHECK(SerializeKey(*parsed) == SerializeKey(key));
  LogKey global;
  global.type = KeyType::kConfig;
  CHECK(SerializeKey(global) == R"({"keytype":"CONFIG","subject":null,"magic":0})");
  CHECK_FALSE(ParseKey("not json"));
}

TEST_CASE("concurrent instances never hand one id to two schemas") {
  MemoryLogStore log;
  constexpr int kInstances = 3;
  constexpr int kPerInstance = 25;
  std::vector<std::unique_ptr<MemoryLog>> views;
  std::vector<std::unique_ptr<RegistryStore>> stores;
  std::vector<std::unique_ptr<RegistryApi>> apis;
  for (int i = 0; i < kInstances; ++i) {
    views.push_back(std::make_unique<MemoryLog>(log));
    stores.push_back(std::make_unique<RegistryStore>(*views.back(), 100 + i));
    stores.back()->CatchUp(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    apis.push_back(std::make_unique<RegistryApi>(*stores.back()));
  }
  // Each instance registers its own schemas; some schemas are shared by all (same id
  // expected), all under subjects with compatibility NONE so every version is accepted.
  for (int i = 0; i < kInstances; ++i) {
    ApiRequest r;
    r.method = "PUT";
    r.path = "/config";
    r.body = R"({"compatibility":"NONE"})";
    REQUIRE(apis[i]->Handle(r).status == 200);
  }
  std::vector<std::map<int, int>> ids(kInstances);  // schema index → id answered
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kPerInstance; ++k) {
        int schema = (k % 5 == 0) ? k : 1000 * (i + 1) + k;  // every 5th is shared
        std::string subject = "/subjects/s" + std::to_string(k % 3) + "/versions";
        auto resp = Post(*apis[i], subject, json{{"schema", Schema(schema)}}.dump());
        if (resp.status == 200) ids[i][schema] = json::parse(resp.body)["id"].get<int>();
      }
    });
  }
  for (auto& t : threads) t.join();

  std::map<int, int> id_of_schema;
  for (int i = 0; i < kInstances; ++i) {
    CHECK(ids[i].size() == static_cast<std::size_t>(kPerInstance));
    for (auto [schema, id] : ids[i]) {
      auto [it, inserted] = id_of_schema.emplace(schema, id);
      CHECK(it->second == id);  // a shared schema got the same id everywhere
    }
  }
  std::map<int, int> schema_of_id;
  for (auto [schema, id] : id_of_schema) {
    auto [it, inserted] = schema_of_id.emplace(id, schema);
    CHECK(inserted);  // no id was given to two schemas
  }
  // Every instance, and a fresh one, serves each id with the schema it was answered for.
  MemoryLog fresh_view(log);
  RegistryStore fresh(fresh_view, 1);
  fresh.CatchUp(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  RegistryApi fresh_api(fresh);
  for (auto [schema, id] : id_of_schema) {
    auto r = Get(fresh_api, "/schemas/ids/" + std::to_string(id));
    REQUIRE(r.status == 200);
    CHECK(json::parse(json::parse(r.body)["schema"].get<std::string>()) == json::parse(Schema(schema)));
  }
  // Versions within each subject are dense and distinct.
  for (int s = 0; s < 3; ++s) {
    auto versions = json::parse(Get(fresh_api, "/subjects/s" + std::to_string(s) + "/versions").body);
    std::set<int> seen(versions.begin(), versions.end());
    CHECK(seen.size() == versions.size());
  }
  std::uint64_t lost = 0;
  for (auto& s : stores) lost += s->LostRaces();
  WARN("lost optimistic races: " << lost);
}

// REST handlers against an in-memory `_schemas` log: codes, bodies, soft/hard deletes, config,
// mode and compatibility, as Confluent's registry answers them.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "registry_api.hpp"

using namespace sluice::schema_registry;
using nlohmann::json;

namespace {

const char* kUserV1 =
    R"({"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"}]})";
const char* kUserV2 =
    R"({"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},)"
    R"({"name":"age","type":"int","default":0}]})";
const char* kUserNoDefault =
    R"({"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},)"
    R"({"name":"email","type":"string"}]})";
const char* kOther =
    R"({"type":"record","name":"Other","fields":[{"name":"x","type":"long"}]})";

// One registry instance over a shared in-memory log.
struct Instance {
  explicit Instance(MemoryLogStore& log_store) : log(log_store), store(log, RandomNodeId()), api(store) {
    store.CatchUp(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  ApiResponse Call(const std::string& method, const std::string& target, const std::string& body = "",
                   const std::string& content_type = kContentType) {
    ApiRequest r;
    r.method = method;
    auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string query = target.substr(q + 1);
      std::size_t i = 0;
      while (i <= query.size()) {
        auto amp = query.find('&', i);
        if (amp == std::string::npos) amp = query.size();
        auto part = query.substr(i, amp - i);
        auto eq = part.find('=');
        if (!part.empty()) {
          r.query.emplace(part.substr(0, eq), eq == std::string::npos ? "" : part.substr(eq + 1));
        }
        i = amp + 1;
      }
    }
    r.body = body;
    r.content_type = body.empty() ? "" : content_type;
    return api.Handle(r);
  }
  json CallJson(const std::string& method, const std::string& target, const std::string& body = "") {
    auto r = Call(method, target, body);
    return json::parse(r.body);
  }
  MemoryLog log;
  RegistryStore store;
  RegistryApi api;
};

std::string SchemaBody(const std::string& schema) { return json{{"schema", schema}}.dump(); }

int ErrorCodeOf(const ApiResponse& r) { return json::parse(r.body).at("error_code").get<int>(); }

}  // namespace

TEST_CASE("register assigns ids, dedups by schema and shares ids across subjects") {
  MemoryLogStore log;
  Instance sr(log);
  auto r1 = sr.Call("POST", "/subjects/users-value/versions", SchemaBody(kUserV1));
  REQUIRE(r1.status == 200);
  CHECK(r1.content_type == "application/vnd.schemaregistry.v1+json");
  CHECK(json::parse(r1.body) == json{{"id", 1}});

  // Same schema, different whitespace: same id, no new version.
  std::string spaced = json::parse(kUserV1).dump(2);
  CHECK(sr.CallJson("POST", "/subjects/users-value/versions", SchemaBody(spaced)) == json{{"id", 1}});
  CHECK(sr.CallJson("GET", "/subjects/users-value/versions") == json::array({1}));

  // Same schema under another subject: same id.
  CHECK(sr.CallJson("POST", "/subjects/other-value/versions", SchemaBody(kUserV1)) == json{{"id", 1}});
  // A different schema: next id.
  CHECK(sr.CallJson("POST", "/subjects/x-value/versions", SchemaBody(kOther)) == json{{"id", 2}});
  CHECK(sr.CallJson("GET", "/subjects") == json::array({"other-value", "users-value", "x-value"}));

  auto v = sr.CallJson("GET", "/subjects/users-value/versions/1");
  CHECK(v["subject"] == "users-value");
  CHECK(v["version"] == 1);
  CHECK(v["id"] == 1);
  CHECK_FALSE(v.contains("schemaType"));
  CHECK(json::parse(v["schema"].get<std::string>()) == json::parse(kUserV1));
  CHECK(sr.CallJson("GET", "/subjects/users-value/versions/latest") == v);
  CHECK(sr.CallJson("GET", "/subjects/users-value/versions/-1") == v);

  auto raw = sr.Call("GET", "/subjects/users-value/versions/1/schema");
  CHECK(json::parse(raw.body) == json::parse(kUserV1));

  auto by_id = sr.CallJson("GET", "/schemas/ids/1");
  CHECK(json::parse(by_id["schema"].get<std::string>()) == json::parse(kUserV1));
  CHECK(json::parse(sr.Call("GET", "/schemas/ids/1/schema").body) == json::parse(kUserV1));
  CHECK(sr.CallJson("GET", "/schemas/ids/1/versions") ==
        json::parse(R"([{"subject":"other-value","version":1},{"subject":"users-value","version":1}])"));
  CHECK(sr.CallJson("GET", "/schemas/types") == json::array({"AVRO"}));
}

TEST_CASE("errors carry Confluent codes and messages") {
  MemoryLogStore log;
  Instance sr(log);
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));

  auto r = sr.Call("GET", "/subjects/nope/versions");
  CHECK(r.status == 404);
  CHECK(json::parse(r.body) == json{{"error_code", 40401}, {"message", "Subject 'nope' not found."}});
  CHECK(ErrorCodeOf(sr.Call("GET", "/subjects/nope/versions/1")) == 40401);
  r = sr.Call("GET", "/subjects/s/versions/7");
  CHECK(r.status == 404);
  CHECK(ErrorCodeOf(r) == 40402);
  for (const char* bad : {"0", "-2", "abc", "99999999999", "1.5"}) {
    r = sr.Call("GET", std::string("/subjects/s/versions/") + bad);
    CHECK(r.status == 422);
    CHECK(ErrorCodeOf(r) == 42202);
  }
  r = sr.Call("GET", "/schemas/ids/99");
  CHECK(r.status == 404);
  CHECK(json::parse(r.body) == json{{"error_code", 40403}, {"message", "Schema 99 not found"}});
  CHECK(sr.Call("GET", "/schemas/ids/abc").status == 404);

  r = sr.Call("POST", "/subjects/s/versions", SchemaBody(R"({"type":"record","name":"X"})"));
  CHECK(r.status == 422);
  CHECK(ErrorCodeOf(r) == 42201);
  r = sr.Call("POST", "/subjects/s/versions", SchemaBody("not json"));
  CHECK(ErrorCodeOf(r) == 42201);
  r = sr.Call("POST", "/subjects/s/versions", R"({"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";"})");
  CHECK(ErrorCodeOf(r) == 42201);
  r = sr.Call("POST", "/subjects/s/versions", "{}");
  CHECK(ErrorCodeOf(r) == 42201);
  r = sr.Call("POST", "/subjects/s/versions", "[1,2");
  CHECK(r.status == 400);

  CHECK(sr.Call("GET", "/nowhere").status == 404);
  CHECK(sr.Call("PUT", "/subjects", "{}").status == 405);
  CHECK(sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1), "text/plain").status == 415);
  CHECK(sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1), "application/json").status == 200);
  CHECK(sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1), "application/octet-stream").status == 200);
}

TEST_CASE("lookup under a subject") {
  MemoryLogStore log;
  Instance sr(log);
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));
  auto found = sr.CallJson("POST", "/subjects/s", SchemaBody(kUserV1));
  CHECK(found["subject"] == "s");
  CHECK(found["version"] == 1);
  CHECK(found["id"] == 1);
  auto r = sr.Call("POST", "/subjects/s", SchemaBody(kOther));
  CHECK(r.status == 404);
  CHECK(ErrorCodeOf(r) == 40403);
  r = sr.Call("POST", "/subjects/none", SchemaBody(kUserV1));
  CHECK(ErrorCodeOf(r) == 40401);
}

TEST_CASE("compatibility on register: 409 for an incompatible change under BACKWARD") {
  MemoryLogStore log;
  Instance sr(log);
  CHECK(sr.CallJson("GET", "/config") == json{{"compatibilityLevel", "BACKWARD"}});
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));
  // Adding a field with a default is backward compatible.
  CHECK(sr.CallJson("POST", "/subjects/s/versions", SchemaBody(kUserV2)) == json{{"id", 2}});
  // Adding a field without a default is not.
  auto r = sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserNoDefault));
  CHECK(r.status == 409);
  auto body = json::parse(r.body);
  CHECK(body["error_code"] == 409);
  CHECK(body["message"].get<std::string>().find("READER_FIELD_MISSING_DEFAULT_VALUE") != std::string::npos);

  auto check = sr.CallJson("POST", "/compatibility/subjects/s/versions/latest?verbose=true",
                           SchemaBody(kUserNoDefault));
  CHECK(check["is_compatible"] == false);
  CHECK_FALSE(check["messages"].empty());
  CHECK(sr.CallJson("POST", "/compatibility/subjects/s/versions/latest", SchemaBody(kUserV2)) ==
        json{{"is_compatible", true}});
  CHECK(ErrorCodeOf(sr.Call("POST", "/compatibility/subjects/s/versions/9", SchemaBody(kUserV2))) == 40402);
  CHECK(ErrorCodeOf(sr.Call("POST", "/compatibility/subjects/zz/versions/1", SchemaBody(kUserV2))) == 40401);

  // NONE on the subject lets it through.
  CHECK(sr.CallJson("PUT", "/config/s", R"({"compatibility":"NONE"})") == json{{"compatibility", "NONE"}});
  CHECK(sr.CallJson("GET", "/config/s") == json{{"compatibilityLevel", "NONE"}});
  CHECK(sr.CallJson("POST", "/subjects/s/versions", SchemaBody(kUserNoDefault)) == json{{"id", 3}});
}

TEST_CASE("compatibility on register: a namespace-only change is compatible under BACKWARD (names "
          "match unqualified, as Confluent's registry does), a renamed record is a 409") {
  MemoryLogStore log;
  Instance sr(log);
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));
  const std::string moved =
      R"({"type":"record","name":"User","namespace":"org.other","fields":[{"name":"name","type":"string"}]})";
  CHECK(sr.CallJson("POST", "/compatibility/subjects/s/versions/latest", SchemaBody(moved)) ==
        json{{"is_compatible", true}});
  CHECK(sr.CallJson("POST", "/subjects/s/versions", SchemaBody(moved)) == json{{"id", 2}});
  const std::string renamed =
      R"({"type":"record","name":"Person","namespace":"org.other","fields":[{"name":"name","type":"string"}]})";
  auto r = sr.Call("POST", "/subjects/s/versions", SchemaBody(renamed));
  CHECK(r.status == 409);
  CHECK(json::parse(r.body)["message"].get<std::string>().find("NAME_MISMATCH") != std::string::npos);
}

TEST_CASE("config: global, per subject, defaultToGlobal, delete, invalid level") {
  MemoryLogStore log;
  Instance sr(log);
  auto r = sr.Call("GET", "/config/s");
  CHECK(r.status == 404);
  CHECK(ErrorCodeOf(r) == 40408);
  CHECK(sr.CallJson("GET", "/config/s?defaultToGlobal=true") == json{{"compatibilityLevel", "BACKWARD"}});
  CHECK(sr.CallJson("PUT", "/config", R"({"compatibility":"full_transitive"})") ==
        json{{"compatibility", "FULL_TRANSITIVE"}});
  CHECK(sr.CallJson("GET", "/config") == json{{"compatibilityLevel", "FULL_TRANSITIVE"}});
  r = sr.Call("PUT", "/config", R"({"compatibility":"SIDEWAYS"})");
  CHECK(r.status == 422);
  CHECK(ErrorCodeOf(r) == 42203);
  CHECK(ErrorCodeOf(sr.Call("DELETE", "/config/s")) == 40401);
  sr.Call("PUT", "/config/s", R"({"compatibility":"FORWARD"})");
  CHECK(sr.CallJson("DELETE", "/config/s") == json{{"compatibilityLevel", "FORWARD"}});
  CHECK(ErrorCodeOf(sr.Call("GET", "/config/s")) == 40408);
  CHECK(sr.CallJson("DELETE", "/config") == json{{"compatibilityLevel", "FULL_TRANSITIVE"}});
  CHECK(sr.CallJson("GET", "/config") == json{{"compatibilityLevel", "BACKWARD"}});
}

TEST_CASE("mode: READONLY blocks writes, IMPORT needs an empty registry or force") {
  MemoryLogStore log;
  Instance sr(log);
  CHECK(sr.CallJson("GET", "/mode") == json{{"mode", "READWRITE"}});
  CHECK(sr.CallJson("PUT", "/mode", R"({"mode":"READONLY"})") == json{{"mode", "READONLY"}});
  auto r = sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));
  CHECK(r.status == 422);
  CHECK(ErrorCodeOf(r) == 42205);
  CHECK(ErrorCodeOf(sr.Call("PUT", "/mode", R"({"mode":"SOMETIMES"})")) == 42204);
  sr.Call("PUT", "/mode", R"({"mode":"READWRITE"})");
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));
  CHECK(ErrorCodeOf(sr.Call("PUT", "/mode", R"({"mode":"IMPORT"})")) == 42205);
  CHECK(sr.CallJson("PUT", "/mode?force=true", R"({"mode":"IMPORT"})") == json{{"mode", "IMPORT"}});
  // IMPORT: explicit id and version are kept.
  CHECK(sr.CallJson("POST", "/subjects/imp/versions",
                    json{{"schema", kOther}, {"id", 42}, {"version", 3}}.dump()) == json{{"id", 42}});
  auto v = sr.CallJson("GET", "/subjects/imp/versions/3");
  CHECK(v["id"] == 42);
  // An id already used by another schema is refused.
  CHECK(ErrorCodeOf(sr.Call("POST", "/subjects/imp2/versions",
                            json{{"schema", kUserV2}, {"id", 42}}.dump())) == 42205);
  CHECK(ErrorCodeOf(sr.Call("GET", "/mode/s")) == 40409);
  CHECK(sr.CallJson("GET", "/mode/s?defaultToGlobal=true") == json{{"mode", "IMPORT"}});
}

TEST_CASE("soft then permanent delete of versions and subjects") {
  MemoryLogStore log;
  Instance sr(log);
  sr.Call("PUT", "/config/s", R"({"compatibility":"NONE"})");
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kUserV1));
  sr.Call("POST", "/subjects/s/versions", SchemaBody(kOther));

  // Permanent before soft: 40407 / 40405.
  auto r = sr.Call("DELETE", "/subjects/s/versions/1?permanent=true");
  CHECK(r.status == 404);
  CHECK(ErrorCodeOf(r) == 40407);
  CHECK(ErrorCodeOf(sr.Call("DELETE", "/subjects/s?permanent=true")) == 40405);

  CHECK(sr.CallJson("DELETE", "/subjects/s/versions/1") == json(1));
  CHECK(ErrorCodeOf(sr.Call("DELETE", "/subjects/s/versions/1")) == 40406);
  CHECK(sr.CallJson("GET", "/subjects/s/versions") == json::array({2}));
  CHECK(sr.CallJson("GET", "/subjects/s/versions?deleted=true") == json::array({1, 2}));
  CHECK(ErrorCodeOf(sr.Call("GET", "/subjects/s/versions/1")) == 40402);
  CHECK(sr.CallJson("GET", "/subjects/s/versions/1?deleted=true")["id"] == 1);
  // A soft-deleted schema is still served by id (old data must stay decodable).
  CHECK(sr.Call("GET", "/schemas/ids/1").status == 200);
  CHECK(sr.CallJson("GET", "/schemas/ids/1/versions") == json::array());
  CHECK(sr.CallJson("GET", "/schemas/ids/1/versions?deleted=true") ==
        json::parse(R"([{"subject":"s","version":1}])"));

  CHECK(sr.CallJson("DELETE", "/subjects/s/versions/1?permanent=true") == json(1));
  CHECK(ErrorCodeOf(sr.Call("GET", "/subjects/s/versions/1?deleted=true")) == 40402);
  CHECK(ErrorCodeOf(sr.Call("GET", "/schemas/ids/1")) == 40403);

  CHECK(sr.CallJson("DELETE", "/subjects/s") == json::array({2}));
  CHECK(ErrorCodeOf(sr.Call("DELETE", "/subjects/s")) == 40404);
  CHECK(sr.CallJson("GET", "/subjects") == json::array());
  CHECK(sr.CallJson("GET", "/subjects?deleted=true") == json::array({"s"}));
  CHECK(ErrorCodeOf(sr.Call("GET", "/subjects/s/versions")) == 40401);
  CHECK(ErrorCodeOf(sr.Call("GET", "/subjects/s/versions/latest")) == 40401);

  CHECK(sr.CallJson("DELETE", "/subjects/s?permanent=true") == json::array({2}));
  CHECK(sr.CallJson("GET", "/subjects?deleted=true") == json::array());
  CHECK(ErrorCodeOf(sr.Call("DELETE", "/subjects/s")) == 40401);
  // Permanent delete also dropped the subject's config.
  CHECK(ErrorCodeOf(sr.Call("GET", "/config/s")) == 40408);

  // Re-registering after a soft delete of the subject gives a new version with the same id.
  // kOther's id 2 went with the permanent delete of s; ids are never reused, so it gets 3.
  CHECK(sr.CallJson("POST", "/subjects/t/versions", SchemaBody(kOther)) == json{{"id", 3}});
  sr.Call("DELETE", "/subjects/t");
  CHECK(sr.CallJson("POST", "/subjects/t/versions", SchemaBody(kOther)) == json{{"id", 3}});
  CHECK(sr.CallJson("GET", "/subjects/t/versions") == json::array({2}));
}

TEST_CASE("a restarted instance rebuilds the same state, also from a compacted log") {
  MemoryLogStore log;
  {
    Instance sr(log);
    sr.Call("PUT", "/config", R"({"compatibility":"NONE"})");
    sr.Call("PUT", "/config", R"({"compatibility":"FULL"})");
    sr.Call("PUT", "/config", R"({"compatibility":"NONE"})");
    sr.Call("POST", "/subjects/a/versions", SchemaBody(kUserV1));
    sr.Call("POST", "/subjects/a/versions", SchemaBody(kUserV2));
    sr.Call("POST", "/subjects/b/versions", SchemaBody(kOther));
    sr.Call("POST", "/subjects/c/versions", SchemaBody(kUserNoDefault));
    sr.Call("DELETE", "/subjects/a/versions/1");
    sr.Call("DELETE", "/subjects/c");
    sr.Call("DELETE", "/subjects/c?permanent=true");
  }
  auto snapshot = [](Instance& sr) {
    return json{sr.CallJson("GET", "/subjects?deleted=true"), sr.CallJson("GET", "/subjects/a/versions?deleted=true"),
                sr.CallJson("GET", "/subjects/a/versions"), sr.CallJson("GET", "/schemas/ids/1"),
                sr.CallJson("GET", "/schemas/ids/2"), sr.CallJson("GET", "/schemas/ids/3"),
                sr.CallJson("GET", "/schemas/ids/4"), sr.CallJson("GET", "/config"),
                sr.CallJson("GET", "/subjects/b/versions/1")};
  };
  Instance restarted(log);
  auto before = snapshot(restarted);
  CHECK(before[0] == json::array({"a", "b"}));
  CHECK(before[3].contains("schema"));
  CHECK(before[6]["error_code"] == 40403);  // c's schema was permanently deleted
  CHECK(before[7] == json{{"compatibilityLevel", "NONE"}});

  log.Compact(/*drop_tombstones=*/false);
  Instance after_compaction(log);
  CHECK(snapshot(after_compaction) == before);
  log.Compact(/*drop_tombstones=*/true);
  Instance after_tombstones(log);
  CHECK(snapshot(after_tombstones) == before);
  // Compaction really removed the deleted subject's records and superseded configs.
  for (const auto& rec : log.All()) {
    CHECK(rec.key.find("\"subject\":\"c\"") == std::string::npos);
  }
  // Fresh ids continue after the highest one ever seen.
  CHECK(after_tombstones.CallJson("POST", "/subjects/d/versions",
                                  SchemaBody(R"({"type":"fixed","name":"F","size":4})")) == json{{"id", 5}});
}

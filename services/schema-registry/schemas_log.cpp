#include "schemas_log.hpp"

#include <algorithm>
#include <map>
#include <thread>

namespace sluice::schema_registry {
namespace {

using nlohmann::json;

const char* KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kSchema: return "SCHEMA";
    case KeyType::kConfig: return "CONFIG";
    case KeyType::kMode: return "MODE";
    case KeyType::kDeleteSubject: return "DELETE_SUBJECT";
    case KeyType::kIdFloor: return "ID_FLOOR";
    case KeyType::kNoop: return "NOOP";
    case KeyType::kUnknown: break;
  }
  return "UNKNOWN";
}

KeyType KeyTypeFromName(const std::string& name) {
  if (name == "SCHEMA") return KeyType::kSchema;
  if (name == "CONFIG") return KeyType::kConfig;
  if (name == "MODE") return KeyType::kMode;
  if (name == "DELETE_SUBJECT") return KeyType::kDeleteSubject;
  if (name == "ID_FLOOR") return KeyType::kIdFloor;
  if (name == "NOOP") return KeyType::kNoop;
  return KeyType::kUnknown;
}

}  // namespace

std::string SerializeKey(const LogKey& key) {
  // Built by hand so the member order (and so the bytes) never depends on a JSON library's
  // map ordering: a tombstone must repeat the exact key bytes for compaction to pair them.
  std::string out = "{\"keytype\":\"";
  out += KeyTypeName(key.type);
  out += "\",\"subject\":";
  out += key.subject ? json(*key.subject).dump() : "null";
  if (key.type == KeyType::kSchema) {
    out += ",\"version\":" + std::to_string(key.version);
    out += ",\"magic\":1";
  } else {
    out += ",\"magic\":0";
  }
  if (key.seq) out += ",\"seq\":" + std::to_string(*key.seq);
  if (key.node) out += ",\"node\":" + std::to_string(*key.node);
  out += "}";
  return out;
}

std::optional<LogKey> ParseKey(const std::string& bytes) {
  json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("keytype") || !j["keytype"].is_string()) return std::nullopt;
  LogKey key;
  key.type = KeyTypeFromName(j["keytype"].get<std::string>());
  if (j.contains("subject") && j["subject"].is_string()) key.subject = j["subject"].get<std::string>();
  if (j.contains("version") && j["version"].is_number_integer()) key.version = j["version"].get<int>();
  if (j.contains("seq") && j["seq"].is_number_integer()) key.seq = j["seq"].get<std::int64_t>();
  if (j.contains("node") && j["node"].is_number_integer()) key.node = j["node"].get<std::int64_t>();
  return key;
}

json ReferencesToJson(const std::vector<SchemaReference>& refs) {
  json arr = json::array();
  for (const auto& r : refs) {
    nlohmann::ordered_json o;
    o["name"] = r.name;
    o["subject"] = r.subject;
    o["version"] = r.version;
    arr.push_back(json::parse(o.dump()));
  }
  return arr;
}

std::string SerializeSchemaValue(const SchemaValue& v) {
  nlohmann::ordered_json o;
  o["subject"] = v.subject;
  o["version"] = v.version;
  o["id"] = v.id;
  o["schemaType"] = v.schema_type;
  nlohmann::ordered_json refs = nlohmann::ordered_json::array();
  for (const auto& r : v.references) {
    nlohmann::ordered_json ro;
    ro["name"] = r.name;
    ro["subject"] = r.subject;
    ro["version"] = r.version;
    refs.push_back(ro);
  }
  o["references"] = refs;
  o["schema"] = v.schema;
  o["deleted"] = v.deleted;
  return o.dump();
}

SchemaValue ParseSchemaValue(const std::string& bytes) {
  json j = json::parse(bytes);
  SchemaValue v;
  v.subject = j.at("subject").get<std::string>();
  v.version = j.at("version").get<int>();
  v.id = j.at("id").get<int>();
  if (j.contains("schemaType") && j["schemaType"].is_string()) v.schema_type = j["schemaType"];
  if (j.contains("references") && j["references"].is_array()) {
    for (const auto& r : j["references"]) {
      v.references.push_back({r.at("name").get<std::string>(), r.at("subject").get<std::string>(),
                              r.at("version").get<int>()});
    }
  }
  v.schema = j.at("schema").get<std::string>();
  if (j.contains("deleted") && j["deleted"].is_boolean()) v.deleted = j["deleted"].get<bool>();
  return v;
}

// ---- MemoryLogStore ----

std::int64_t MemoryLogStore::End() const {
  std::lock_guard lock(mu_);
  return next_;
}

std::int64_t MemoryLogStore::Append(const std::string& key, const std::optional<std::string>& value) {
  std::lock_guard lock(mu_);
  records_.push_back({next_, key, value});
  return next_++;
}

std::vector<LogRecord> MemoryLogStore::From(std::int64_t offset, std::size_t max) const {
  std::lock_guard lock(mu_);
  auto it = std::lower_bound(records_.begin(), records_.end(), offset,
                             [](const LogRecord& r, std::int64_t o) { return r.offset < o; });
  std::vector<LogRecord> out;
  for (; it != records_.end() && out.size() < max; ++it) out.push_back(*it);
  return out;
}

void MemoryLogStore::Compact(bool drop_tombstones) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::int64_t> newest;
  for (const auto& r : records_) newest[r.key] = r.offset;
  std::vector<LogRecord> kept;
  for (const auto& r : records_) {
    if (newest[r.key] != r.offset) continue;
    if (!r.value && drop_tombstones) continue;
    kept.push_back(r);
  }
  records_ = std::move(kept);
}

std::vector<LogRecord> MemoryLogStore::All() const {
  std::lock_guard lock(mu_);
  return records_;
}

std::vector<LogRecord> MemoryLog::Read(int timeout_ms) {
  std::lock_guard lock(mu_);
  // End is taken before the fetch: if the fetch then finds nothing at or after position_,
  // nothing exists below that end either (compacted gaps), so the position may jump to it.
  std::int64_t end = store_.End();
  auto records = store_.From(position_, 1000);
  if (records.empty() && timeout_ms > 0 && end <= position_) {
    // Tests poll in loops; a short nap keeps them from spinning.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout_ms, 5)));
    end = store_.End();
    records = store_.From(position_, 1000);
  }
  if (!records.empty()) {
    position_ = records.back().offset + 1;
  } else {
    position_ = std::max(position_, end);
  }
  return records;
}

std::int64_t MemoryLog::Position() {
  std::lock_guard lock(mu_);
  return position_;
}

}  // namespace sluice::schema_registry

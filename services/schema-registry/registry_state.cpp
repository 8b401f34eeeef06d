#include "registry_state.hpp"

#include <algorithm>

namespace sluice::schema_registry {

using nlohmann::json;

std::string SchemaIdentity(const std::string& schema_type, const std::vector<SchemaReference>& refs,
                           const std::string& schema) {
  return schema_type + "\n" + ReferencesToJson(refs).dump() + "\n" + schema;
}

namespace {

std::string IdentityOf(const SchemaValue& v) {
  return SchemaIdentity(v.schema_type, v.references, v.schema);
}

template <typename T>
std::optional<T> Current(const std::map<std::int64_t, std::pair<std::string, T>>& settings) {
  if (settings.empty()) return std::nullopt;
  return settings.rbegin()->second.second;
}

template <typename T>
void AppendKeys(const std::map<std::int64_t, std::pair<std::string, T>>& settings,
                std::vector<std::pair<std::int64_t, std::string>>& out) {
  for (const auto& [offset, kv] : settings) out.emplace_back(offset, kv.first);
}

std::vector<std::string> SortedKeys(std::vector<std::pair<std::int64_t, std::string>> keyed) {
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> out;
  out.reserve(keyed.size());
  for (auto& [offset, key] : keyed) out.push_back(std::move(key));
  return out;
}

}  // namespace

bool RegistryState::Apply(const LogRecord& record) {
  AdvanceTo(record.offset + 1);
  auto key = ParseKey(record.key);
  if (!key) return false;
  if (!record.value) {
    // Tombstone: withdraw whatever that exact key contributed (a no-op for unknown keys,
    // e.g. a losing writer cleaning up its ignored record).
    RemoveKey(record.key);
    return true;
  }
  if (key->seq && *key->seq != record.offset) return false;  // planned on a stale state

  KeyLocation location{key->type, key->subject, key->version, record.offset};
  switch (key->type) {
    case KeyType::kSchema: {
      SchemaValue value;
      try {
        value = ParseSchemaValue(*record.value);
      } catch (const json::exception&) {
        return false;
      }
      if (value.id <= 0 || value.version <= 0) return false;
      RemoveKey(record.key);  // a Confluent-style rewrite of the same key replaces it
      location.subject = value.subject;
      location.version = value.version;
      auto& version = subjects_[value.subject].versions[value.version];
      if (!version.records.empty()) DropRef(version.records.rbegin()->second.second);
      max_id_ = std::max(max_id_, value.id);
      version.records[record.offset] = {record.key, value};
      AddRef(version.records.rbegin()->second.second);
      break;
    }
    case KeyType::kConfig:
    case KeyType::kMode: {
      json j = json::parse(*record.value, nullptr, false);
      const char* member = key->type == KeyType::kConfig ? "compatibilityLevel" : "mode";
      if (!j.is_object() || !j.contains(member) || !j[member].is_string()) return false;
      RemoveKey(record.key);
      auto& settings = key->type == KeyType::kConfig ? ConfigsOf(key->subject) : ModesOf(key->subject);
      settings[record.offset] = {record.key, j[member].get<std::string>()};
      break;
    }
    case KeyType::kIdFloor: {
      json j = json::parse(*record.value, nullptr, false);
      if (!j.is_object() || !j.contains("maxId") || !j["maxId"].is_number_integer()) return false;
      RemoveKey(record.key);
      int floor = j["maxId"].get<int>();
      max_id_ = std::max(max_id_, floor);
      id_floors_[record.offset] = {record.key, floor};
      break;
    }
    case KeyType::kDeleteSubject: {
      json j = json::parse(*record.value, nullptr, false);
      if (!j.is_object() || !j.contains("version") || !j["version"].is_number_integer()) return false;
      std::string subject = key->subject ? *key->subject : j.value("subject", std::string());
      if (subject.empty()) return false;
      RemoveKey(record.key);
      location.subject = subject;
      subjects_[subject].delete_marks[record.offset] = {record.key, j["version"].get<int>()};
      break;
    }
    case KeyType::kNoop:
    case KeyType::kUnknown:
      return false;
  }
  key_index_[record.key] = location;
  return true;
}

void RegistryState::RemoveKey(const std::string& key) {
  auto it = key_index_.find(key);
  if (it == key_index_.end()) return;
  KeyLocation loc = it->second;
  key_index_.erase(it);
  switch (loc.type) {
    case KeyType::kSchema: {
      auto sit = subjects_.find(*loc.subject);
      if (sit == subjects_.end()) return;
      auto vit = sit->second.versions.find(loc.version);
      if (vit == sit->second.versions.end()) return;
      auto& records = vit->second.records;
      DropRef(records.rbegin()->second.second);
      records.erase(loc.offset);
      if (records.empty()) {
        sit->second.versions.erase(vit);
      } else {
        AddRef(records.rbegin()->second.second);
      }
      PruneSubject(*loc.subject);
      break;
    }
    case KeyType::kConfig:
      ConfigsOf(loc.subject).erase(loc.offset);
      if (loc.subject) PruneSubject(*loc.subject);
      break;
    case KeyType::kMode:
      ModesOf(loc.subject).erase(loc.offset);
      if (loc.subject) PruneSubject(*loc.subject);
      break;
    case KeyType::kDeleteSubject: {
      auto sit = subjects_.find(*loc.subject);
      if (sit != subjects_.end()) sit->second.delete_marks.erase(loc.offset);
      PruneSubject(*loc.subject);
      break;
    }
    case KeyType::kIdFloor:
      id_floors_.erase(loc.offset);
      break;
    case KeyType::kNoop:
    case KeyType::kUnknown:
      break;
  }
}

void RegistryState::PruneSubject(const std::string& subject) {
  auto it = subjects_.find(subject);
  if (it == subjects_.end()) return;
  const auto& s = it->second;
  if (s.versions.empty() && s.delete_marks.empty() && s.configs.empty() && s.modes.empty()) {
    subjects_.erase(it);
  }
}

void RegistryState::AddRef(const SchemaValue& value) {
  auto& st = ids_[value.id];
  if (st.refs == 0) st.view = {value.id, value.schema_type, value.references, value.schema};
  ++st.refs;
  identities_[IdentityOf(value)].insert(value.id);
}

void RegistryState::DropRef(const SchemaValue& value) {
  auto it = ids_.find(value.id);
  if (it == ids_.end()) return;
  if (--it->second.refs > 0) return;
  ids_.erase(it);
  auto iit = identities_.find(IdentityOf(value));
  if (iit != identities_.end()) {
    iit->second.erase(value.id);
    if (iit->second.empty()) identities_.erase(iit);
  }
}

RegistryState::Settings<std::string>& RegistryState::ConfigsOf(const std::optional<std::string>& subject) {
  return subject ? subjects_[*subject].configs : global_configs_;
}

RegistryState::Settings<std::string>& RegistryState::ModesOf(const std::optional<std::string>& subject) {
  return subject ? subjects_[*subject].modes : global_modes_;
}

bool RegistryState::IsDeleted(const SubjectState& s, int version, const VersionState& v) const {
  const auto& [offset, kv] = *v.records.rbegin();
  if (kv.second.deleted) return true;
  // A DELETE_SUBJECT written after this version's newest record covers it.
  for (auto it = s.delete_marks.upper_bound(offset); it != s.delete_marks.end(); ++it) {
    if (version <= it->second.second) return true;
  }
  return false;
}

VersionView RegistryState::ToView(const SubjectState& s, int version, const VersionState& v) const {
  const SchemaValue& value = v.records.rbegin()->second.second;
  return {value.subject, version, value.id, value.schema_type, value.references, value.schema,
          IsDeleted(s, version, v)};
}

std::vector<std::string> RegistryState::Subjects(bool include_deleted) const {
  std::vector<std::string> out;
  for (const auto& [name, s] : subjects_) {
    if (SubjectExists(name, include_deleted)) out.push_back(name);
  }
  return out;
}

bool RegistryState::SubjectExists(const std::string& subject, bool include_deleted) const {
  auto it = subjects_.find(subject);
  if (it == subjects_.end()) return false;
  for (const auto& [version, v] : it->second.versions) {
    if (include_deleted || !IsDeleted(it->second, version, v)) return true;
  }
  return false;
}

std::vector<int> RegistryState::Versions(const std::string& subject, bool include_deleted) const {
  std::vector<int> out;
  auto it = subjects_.find(subject);
  if (it == subjects_.end()) return out;
  for (const auto& [version, v] : it->second.versions) {
    if (include_deleted || !IsDeleted(it->second, version, v)) out.push_back(version);
  }
  return out;
}

std::optional<VersionView> RegistryState::Version(const std::string& subject, int version,
                                                  bool include_deleted) const {
  auto it = subjects_.find(subject);
  if (it == subjects_.end()) return std::nullopt;
  auto vit = it->second.versions.find(version);
  if (vit == it->second.versions.end()) return std::nullopt;
  VersionView view = ToView(it->second, version, vit->second);
  if (view.deleted && !include_deleted) return std::nullopt;
  return view;
}

std::optional<VersionView> RegistryState::Latest(const std::string& subject, bool include_deleted) const {
  auto it = subjects_.find(subject);
  if (it == subjects_.end()) return std::nullopt;
  for (auto vit = it->second.versions.rbegin(); vit != it->second.versions.rend(); ++vit) {
    VersionView view = ToView(it->second, vit->first, vit->second);
    if (include_deleted || !view.deleted) return view;
  }
  return std::nullopt;
}

int RegistryState::NextVersion(const std::string& subject) const {
  auto it = subjects_.find(subject);
  if (it == subjects_.end() || it->second.versions.empty()) return 1;
  return it->second.versions.rbegin()->first + 1;
}

std::optional<VersionView> RegistryState::FindInSubject(const std::string& subject,
                                                        const std::string& identity,
                                                        bool include_deleted) const {
  auto it = subjects_.find(subject);
  if (it == subjects_.end()) return std::nullopt;
  std::optional<VersionView> deleted_match;
  for (const auto& [version, v] : it->second.versions) {
    const SchemaValue& value = v.records.rbegin()->second.second;
    if (IdentityOf(value) != identity) continue;
    VersionView view = ToView(it->second, version, v);
    if (!view.deleted) return view;
    deleted_match = view;
  }
  if (include_deleted) return deleted_match;
  return std::nullopt;
}

std::optional<SchemaView> RegistryState::SchemaById(int id) const {
  auto it = ids_.find(id);
  if (it == ids_.end()) return std::nullopt;
  return it->second.view;
}

std::optional<int> RegistryState::IdForIdentity(const std::string& identity) const {
  auto it = identities_.find(identity);
  if (it == identities_.end() || it->second.empty()) return std::nullopt;
  return *it->second.begin();
}

std::vector<std::pair<std::string, int>> RegistryState::SubjectVersionsForId(int id,
                                                                             bool include_deleted) const {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& [name, s] : subjects_) {
    for (const auto& [version, v] : s.versions) {
      if (v.records.rbegin()->second.second.id != id) continue;
      if (!include_deleted && IsDeleted(s, version, v)) continue;
      out.emplace_back(name, version);
    }
  }
  return out;
}

std::optional<std::string> RegistryState::Compatibility(const std::optional<std::string>& subject) const {
  if (!subject) return Current(global_configs_);
  auto it = subjects_.find(*subject);
  if (it == subjects_.end()) return std::nullopt;
  return Current(it->second.configs);
}

std::optional<std::string> RegistryState::Mode(const std::optional<std::string>& subject) const {
  if (!subject) return Current(global_modes_);
  auto it = subjects_.find(*subject);
  if (it == subjects_.end()) return std::nullopt;
  return Current(it->second.modes);
}

std::vector<std::string> RegistryState::VersionKeys(const std::string& subject, int version) const {
  std::vector<std::pair<std::int64_t, std::string>> keyed;
  auto it = subjects_.find(subject);
  if (it != subjects_.end()) {
    auto vit = it->second.versions.find(version);
    if (vit != it->second.versions.end()) AppendKeys(vit->second.records, keyed);
  }
  return SortedKeys(std::move(keyed));
}

std::vector<std::string> RegistryState::SupersededVersionKeys(const std::string& subject,
                                                              int version) const {
  auto keys = VersionKeys(subject, version);
  if (!keys.empty()) keys.pop_back();
  return keys;
}

std::vector<std::string> RegistryState::SubjectKeys(const std::string& subject) const {
  std::vector<std::pair<std::int64_t, std::string>> keyed;
  auto it = subjects_.find(subject);
  if (it != subjects_.end()) {
    for (const auto& [version, v] : it->second.versions) AppendKeys(v.records, keyed);
    AppendKeys(it->second.delete_marks, keyed);
    AppendKeys(it->second.configs, keyed);
    AppendKeys(it->second.modes, keyed);
  }
  return SortedKeys(std::move(keyed));
}

std::vector<std::string> RegistryState::ConfigKeys(const std::optional<std::string>& subject) const {
  std::vector<std::pair<std::int64_t, std::string>> keyed;
  if (!subject) {
    AppendKeys(global_configs_, keyed);
  } else if (auto it = subjects_.find(*subject); it != subjects_.end()) {
    AppendKeys(it->second.configs, keyed);
  }
  return SortedKeys(std::move(keyed));
}

std::vector<std::string> RegistryState::ModeKeys(const std::optional<std::string>& subject) const {
  std::vector<std::pair<std::int64_t, std::string>> keyed;
  if (!subject) {
    AppendKeys(global_modes_, keyed);
  } else if (auto it = subjects_.find(*subject); it != subjects_.end()) {
    AppendKeys(it->second.modes, keyed);
  }
  return SortedKeys(std::move(keyed));
}

std::vector<std::string> RegistryState::IdFloorKeys() const {
  std::vector<std::pair<std::int64_t, std::string>> keyed;
  AppendKeys(id_floors_, keyed);
  return SortedKeys(std::move(keyed));
}

}  // namespace sluice::schema_registry

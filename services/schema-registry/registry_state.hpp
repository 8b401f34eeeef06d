#pragma once
// The registry's in-memory state, rebuilt by applying `_schemas` records in log order.
//
// Every record contributes under its exact key bytes; a tombstone withdraws that key's
// contribution. Because keys are unique per write (they carry the writer's seq/node stamp),
// the state from a compacted log equals the state from the full log.
//
// A record stamped with seq is applied only when seq equals its offset: the writer computed it
// from exactly the state before that offset (optimistic concurrency, see registry_store.hpp).
// Pure data structure, no I/O. Not thread-safe: RegistryStore guards it.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "schemas_log.hpp"

namespace sluice::schema_registry {

inline constexpr const char* kDefaultCompatibility = "BACKWARD";
inline constexpr const char* kDefaultMode = "READWRITE";

// A schema version as the API shows it: exactly what its SCHEMA record holds.
using VersionView = SchemaValue;

// A schema by id.
struct SchemaView {
  int id = 0;
  std::string schema_type = "AVRO";
  std::vector<SchemaReference> references;
  std::string schema;
};

// The identity two registrations must share to get one id: type, references and the
// normalised schema text.
std::string SchemaIdentity(const std::string& schema_type, const std::vector<SchemaReference>& refs,
                           const std::string& schema);

class RegistryState {
 public:
  // Applies one record. Returns false when the record was ignored (stale seq, unknown or
  // malformed key/value); the state is unchanged then.
  bool Apply(const LogRecord& record);
  // The reader reached `position` (records below were all applied or compacted away).
  void AdvanceTo(std::int64_t position) {
    if (position > applied_end_) applied_end_ = position;
  }
  // Offset after the last record applied or skipped: a write planned now expects this offset.
  std::int64_t AppliedEnd() const { return applied_end_; }

  // ---- subjects and versions ----
  std::vector<std::string> Subjects(bool include_deleted) const;
  // True when the subject has any version (deleted ones count only with include_deleted).
  bool SubjectExists(const std::string& subject, bool include_deleted) const;
  std::vector<int> Versions(const std::string& subject, bool include_deleted) const;
  std::optional<VersionView> Version(const std::string& subject, int version,
                                     bool include_deleted) const;
  std::optional<VersionView> Latest(const std::string& subject, bool include_deleted) const;
  // Highest version number present (deleted included) + 1.
  int NextVersion(const std::string& subject) const;
  // The version holding this identity in the subject, if any.
  std::optional<VersionView> FindInSubject(const std::string& subject, const std::string& identity,
                                           bool include_deleted) const;

  // ---- ids ----
  std::optional<SchemaView> SchemaById(int id) const;
  std::optional<int> IdForIdentity(const std::string& identity) const;
  // (subject, version) pairs using this id.
  std::vector<std::pair<std::string, int>> SubjectVersionsForId(int id, bool include_deleted) const;
  int MaxId() const { return max_id_; }

  // ---- config and mode (nullopt subject: global) ----
  std::optional<std::string> Compatibility(const std::optional<std::string>& subject) const;
  std::optional<std::string> Mode(const std::optional<std::string>& subject) const;

  // ---- live keys, for tombstones (ascending offset order) ----
  std::vector<std::string> VersionKeys(const std::string& subject, int version) const;
  std::vector<std::string> SubjectKeys(const std::string& subject) const;  // everything of it
  std::vector<std::string> ConfigKeys(const std::optional<std::string>& subject) const;
  std::vector<std::string> ModeKeys(const std::optional<std::string>& subject) const;
  std::vector<std::string> IdFloorKeys() const;
  // The live SCHEMA keys of (subject, version) older than the current record.
  std::vector<std::string> SupersededVersionKeys(const std::string& subject, int version) const;

  std::size_t LiveRecordCount() const { return key_index_.size(); }

 private:
  struct VersionState {
    std::map<std::int64_t, std::pair<std::string, SchemaValue>> records;  // offset → key, value
  };
  template <typename T>
  using Settings = std::map<std::int64_t, std::pair<std::string, T>>;  // offset → key, value
  struct SubjectState {
    std::map<int, VersionState> versions;
    Settings<int> delete_marks;  // DELETE_SUBJECT: versions <= value deleted
    Settings<std::string> configs;
    Settings<std::string> modes;
  };
  struct IdState {
    SchemaView view;
    int refs = 0;
  };
  struct KeyLocation {
    KeyType type;
    std::optional<std::string> subject;
    int version;
    std::int64_t offset;
  };

  bool IsDeleted(const SubjectState& s, int version, const VersionState& v) const;
  VersionView ToView(const SubjectState& s, int version, const VersionState& v) const;
  void RemoveKey(const std::string& key);
  void AddRef(const SchemaValue& value);
  void DropRef(const SchemaValue& value);
  Settings<std::string>& ConfigsOf(const std::optional<std::string>& subject);
  Settings<std::string>& ModesOf(const std::optional<std::string>& subject);
  void PruneSubject(const std::string& subject);

  std::map<std::string, SubjectState> subjects_;
  Settings<std::string> global_configs_;
  Settings<std::string> global_modes_;
  Settings<int> id_floors_;
  std::map<int, IdState> ids_;
  std::map<std::string, std::set<int>> identities_;
  std::unordered_map<std::string, KeyLocation> key_index_;
  int max_id_ = 0;
  std::int64_t applied_end_ = 0;
};

}  // namespace sluice::schema_registry

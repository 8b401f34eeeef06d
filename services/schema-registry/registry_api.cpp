#include "registry_api.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <optional>

#include <nlohmann/json.hpp>

#include "sluice/avro/compatibility.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/core/error.hpp"

namespace sluice::schema_registry {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr int kMaxReferenceDepth = 32;
constexpr int kLatest = -1;

// Carries an API error out of helpers; caught in Handle and turned into a response.
struct ApiError {
  ErrorCode code;
  std::string message;
};

ApiResponse JsonResponse(const ojson& body, int status = 200) {
  return {status, body.dump(), kContentType};
}

ApiResponse HttpError(int status, const std::string& message) {
  ojson body;
  body["error_code"] = status;
  body["message"] = message;
  return {status, body.dump(), kContentType};
}

std::string Upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

bool QueryFlag(const ApiRequest& request, const std::string& name) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return false;
  std::string v = Upper(it->second);
  return v == "TRUE" || v.empty();
}

std::string QueryValue(const ApiRequest& request, const std::string& name) {
  auto it = request.query.find(name);
  return it == request.query.end() ? std::string() : it->second;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

// "latest" and "-1" → kLatest; 1..2^31-1 → itself; anything else → 42202.
int ParseVersion(const std::string& text) {
  if (text == "latest") return kLatest;
  bool digits = !text.empty();
  std::size_t start = (!text.empty() && text[0] == '-') ? 1 : 0;
  if (start == text.size()) digits = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) digits = false;
  }
  if (digits && text.size() <= 11) {
    long long v = std::stoll(text);
    if (v == -1) return kLatest;
    if (v >= 1 && v <= INT_MAX) return static_cast<int>(v);
  }
  throw ApiError{ErrorCode::kInvalidVersion,
                 "The specified version '" + text +
                     "' is not a valid version id. Allowed values are between [1, 2^31-1] and "
                     "the string \"latest\""};
}

std::optional<int> ParseId(const std::string& text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  long long v = std::stoll(text);
  if (v > INT_MAX) return std::nullopt;
  return static_cast<int>(v);
}

ApiError SubjectNotFound(const std::string& subject) {
  return {ErrorCode::kSubjectNotFound, "Subject '" + subject + "' not found."};
}

ApiError VersionNotFound(const std::string& version) {
  return {ErrorCode::kVersionNotFound, "Version " + version + " not found."};
}

ApiError StoreFailure(const std::string& what) {
  return {ErrorCode::kStoreError, "Error in the backend data store: " + what};
}

ojson RefsJson(const std::vector<SchemaReference>& refs) {
  ojson arr = ojson::array();
  for (const auto& r : refs) {
    ojson o;
    o["name"] = r.name;
    o["subject"] = r.subject;
    o["version"] = r.version;
    arr.push_back(o);
  }
  return arr;
}

ojson VersionJson(const VersionView& v) {
  ojson o;
  o["subject"] = v.subject;
  o["version"] = v.version;
  o["id"] = v.id;
  if (v.schema_type != "AVRO") o["schemaType"] = v.schema_type;
  if (!v.references.empty()) o["references"] = RefsJson(v.references);
  o["schema"] = v.schema;
  return o;
}

bool AcceptedContentType(const std::string& content_type) {
  if (content_type.empty()) return true;
  std::string base = content_type.substr(0, content_type.find(';'));
  while (!base.empty() && std::isspace(static_cast<unsigned char>(base.back()))) base.pop_back();
  std::string lower;
  for (char c : base) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/vnd.schemaregistry.v1+json" ||
         lower == "application/vnd.schemaregistry+json" || lower == "application/json" ||
         lower == "application/octet-stream" || lower == "*/*";
}

json ParseBody(const ApiRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw ApiError{static_cast<ErrorCode>(400), "Unrecognized request body: expected a JSON object"};
  }
  return body;
}

// ---- schemas in requests ----

struct RequestSchema {
  std::string schema_type = "AVRO";
  std::vector<SchemaReference> references;
  std::string raw;
  std::optional<int> id;       // IMPORT mode
  std::optional<int> version;  // IMPORT mode
};

RequestSchema ReadRequestSchema(const ApiRequest& request) {
  json body = ParseBody(request);
  RequestSchema out;
  if (body.contains("schemaType") && !body["schemaType"].is_null()) {
    if (!body["schemaType"].is_string()) {
      throw ApiError{ErrorCode::kInvalidSchema, "Invalid schema: schemaType must be a string"};
    }
    out.schema_type = Upper(body["schemaType"].get<std::string>());
  }
  if (!body.contains("schema") || !body["schema"].is_string() ||
      body["schema"].get<std::string>().empty()) {
    throw ApiError{ErrorCode::kInvalidSchema, "Empty schema"};
  }
  out.raw = body["schema"].get<std::string>();
  if (body.contains("references") && !body["references"].is_null()) {
    if (!body["references"].is_array()) {
      throw ApiError{ErrorCode::kInvalidSchema, "Invalid schema: references must be an array"};
    }
    for (const auto& r : body["references"]) {
      if (!r.is_object() || !r.contains("name") || !r["name"].is_string() ||
          !r.contains("subject") || !r["subject"].is_string() || !r.contains("version") ||
          !r["version"].is_number_integer()) {
        throw ApiError{ErrorCode::kInvalidSchema,
                       "Invalid schema: each reference needs name, subject and version"};
      }
      out.references.push_back({r["name"].get<std::string>(), r["subject"].get<std::string>(),
                                r["version"].get<int>()});
    }
  }
  if (body.contains("id") && body["id"].is_number_integer()) out.id = body["id"].get<int>();
  if (body.contains("version") && body["version"].is_number_integer()) {
    out.version = body["version"].get<int>();
  }
  return out;
}

// Parses a stored or requested schema, resolving its references against the state.
avro::Schema ResolveSchema(const RegistryState& state, const std::string& text,
                           const std::vector<SchemaReference>& refs, int depth) {
  if (depth > kMaxReferenceDepth) {
    throw ApiError{ErrorCode::kInvalidSchema, "Invalid schema: references nest too deeply"};
  }
  std::vector<avro::Schema> resolved;
  for (const auto& ref : refs) {
    std::optional<VersionView> target = ref.version == kLatest
                                            ? state.Latest(ref.subject, false)
                                            : state.Version(ref.subject, ref.version, true);
    if (!target) {
      throw ApiError{ErrorCode::kInvalidSchema,
                     "Invalid schema: reference '" + ref.name + "' to subject '" + ref.subject +
                         "' version " + std::to_string(ref.version) + " not found"};
    }
    if (target->schema_type != "AVRO") {
      throw ApiError{ErrorCode::kInvalidSchema,
                     "Invalid schema: reference '" + ref.name + "' is not an AVRO schema"};
    }
    resolved.push_back(ResolveSchema(state, target->schema, target->references, depth + 1));
  }
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    throw ApiError{ErrorCode::kInvalidSchema, "Invalid schema " + text + ": not valid JSON"};
  }
  try {
    avro::ParseOptions options;
    options.references = std::move(resolved);
    return avro::ParseSchema(doc, options);
  } catch (const avro::SchemaParseError& e) {
    throw ApiError{ErrorCode::kInvalidSchema,
                   "Invalid schema " + text + ", details: " + e.path() + ": " + e.reason()};
  }
}

struct Candidate {
  RequestSchema request;
  avro::Schema schema;
  std::string normalized;  // what is stored and returned
  std::string identity;
};

Candidate PrepareCandidate(const RegistryState& state, RequestSchema request) {
  if (request.schema_type != "AVRO") {
    throw ApiError{ErrorCode::kInvalidSchema,
                   "Invalid schema: schema type " + request.schema_type +
                       " is not supported by this registry (AVRO only)"};
  }
  Candidate c;
  c.schema = ResolveSchema(state, request.raw, request.references, 0);
  if (request.references.empty()) {
    c.normalized = avro::ToJson(c.schema).dump();
  } else {
    // Referenced types stay referenced by name (as Confluent stores them), so keep the
    // document as written, only re-serialised compactly.
    c.normalized = json::parse(request.raw).dump();
  }
  c.identity = SchemaIdentity(request.schema_type, request.references, c.normalized);
  c.request = std::move(request);
  return c;
}

std::string EffectiveCompatibility(const RegistryState& state, const std::string& subject) {
  if (auto level = state.Compatibility(subject)) return *level;
  if (auto level = state.Compatibility(std::nullopt)) return *level;
  return kDefaultCompatibility;
}

std::string EffectiveMode(const RegistryState& state, const std::optional<std::string>& subject) {
  if (subject) {
    if (auto mode = state.Mode(subject)) return *mode;
  }
  if (auto mode = state.Mode(std::nullopt)) return *mode;
  return kDefaultMode;
}

void RequireWritable(const RegistryState& state, const std::string& subject) {
  std::string mode = EffectiveMode(state, subject);
  if (mode == "READONLY" || mode == "READONLY_OVERRIDE") {
    throw ApiError{ErrorCode::kOperationNotPermitted, "Subject " + subject + " is in read-only mode"};
  }
}

// Confluent's verbose messages for a failed level check against `versions` (oldest first).
std::vector<std::string> CompatibilityMessages(const avro::LevelReport& report,
                                               const std::vector<VersionView>& versions,
                                               const std::string& level) {
  std::vector<std::string> messages;
  for (const auto& failure : report.failures) {
    for (const auto& inc : failure.incompatibilities) {
      messages.push_back(avro::ConfluentMessage(inc, failure.direction));
    }
    const VersionView& old = versions.at(failure.existing_index);
    messages.push_back("{oldSchemaVersion: " + std::to_string(old.version) + "}");
    messages.push_back("{oldSchema: '" + old.schema + "'}");
  }
  if (!messages.empty()) {
    messages.push_back("{validateFields: 'false', compatibility: '" + level + "'}");
  }
  return messages;
}

// Checks the candidate against the given existing versions (oldest first) at `level`.
std::vector<std::string> CheckAgainst(const RegistryState& state, const Candidate& candidate,
                                      const std::vector<VersionView>& versions,
                                      const std::string& level) {
  auto parsed_level = avro::ParseCompatibilityLevel(level);
  if (!parsed_level || *parsed_level == avro::CompatibilityLevel::kNone || versions.empty()) return {};
  std::vector<avro::Schema> existing;
  for (const auto& v : versions) {
    try {
      existing.push_back(ResolveSchema(state, v.schema, v.references, 0));
    } catch (const ApiError& e) {
      throw StoreFailure("stored schema of subject '" + v.subject + "' version " +
                         std::to_string(v.version) + " does not parse: " + e.message);
    }
  }
  auto report = avro::CheckLevel(*parsed_level, candidate.schema, existing);
  if (report.compatible) return {};
  return CompatibilityMessages(report, versions, level);
}

std::vector<VersionView> LiveVersions(const RegistryState& state, const std::string& subject) {
  std::vector<VersionView> out;
  for (int v : state.Versions(subject, false)) out.push_back(*state.Version(subject, v, false));
  return out;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out + "]";
}

std::optional<std::string> ValidLevel(const std::string& text) {
  auto level = avro::ParseCompatibilityLevel(text);
  if (!level) return std::nullopt;
  return std::string(avro::CompatibilityLevelName(*level));
}

std::optional<std::string> ValidMode(const std::string& text) {
  std::string m = Upper(text);
  if (m == "READWRITE" || m == "READONLY" || m == "READONLY_OVERRIDE" || m == "IMPORT") return m;
  return std::nullopt;
}

WritePlan SettingPlan(KeyType type, const std::optional<std::string>& subject, const char* member,
                      const std::string& value, std::vector<std::string> obsolete) {
  WritePlan plan;
  LogKey key;
  key.type = type;
  key.subject = subject;
  ojson v;
  v[member] = value;
  plan.record = WritePlan::Record{key, v.dump()};
  plan.tombstones = std::move(obsolete);
  return plan;
}

// A permanent delete: stamps the id floor first (so the highest id outlives compaction),
// then tombstones the removed keys and the floors it supersedes.
WritePlan PermanentDeletePlan(const RegistryState& s, std::vector<std::string> keys) {
  WritePlan plan;
  LogKey key;
  key.type = KeyType::kIdFloor;
  ojson v;
  v["maxId"] = s.MaxId();
  plan.record = WritePlan::Record{key, v.dump()};
  plan.tombstones = std::move(keys);
  for (auto& k : s.IdFloorKeys()) plan.tombstones.push_back(std::move(k));
  return plan;
}

// ---- the handlers ----

class Handlers {
 public:
  Handlers(RegistryStore& store, const ApiRequest& request) : store_(store), req_(request) {}

  ApiResponse Root() { return JsonResponse(ojson::object()); }

  ApiResponse SchemaTypes() { return JsonResponse(ojson::array({"AVRO"})); }

  ApiResponse ListSchemas() {
    bool deleted = QueryFlag(req_, "deleted");
    bool latest_only = QueryFlag(req_, "latestOnly");
    std::string prefix = QueryValue(req_, "subjectPrefix");
    return store_.Read([&](const RegistryState& s) {
      ojson out = ojson::array();
      for (const auto& subject : s.Subjects(deleted)) {
        if (subject.rfind(prefix, 0) != 0) continue;
        if (latest_only) {
          if (auto v = s.Latest(subject, deleted)) out.push_back(VersionJson(*v));
          continue;
        }
        for (int version : s.Versions(subject, deleted)) {
          out.push_back(VersionJson(*s.Version(subject, version, deleted)));
        }
      }
      return JsonResponse(out);
    });
  }

  ApiResponse SchemaById(int id, bool raw) {
    auto view = store_.Read([&](const RegistryState& s) { return s.SchemaById(id); });
    if (!view) throw ApiError{ErrorCode::kSchemaNotFound, "Schema " + std::to_string(id) + " not found"};
    if (raw) return {200, view->schema, kContentType};
    ojson o;
    if (view->schema_type != "AVRO") o["schemaType"] = view->schema_type;
    if (!view->references.empty()) o["references"] = RefsJson(view->references);
    o["schema"] = view->schema;
    if (QueryFlag(req_, "fetchMaxId")) {
      o["maxId"] = store_.Read([](const RegistryState& s) { return s.MaxId(); });
    }
    return JsonResponse(o);
  }

  ApiResponse SchemaIdVersions(int id, bool subjects_only) {
    bool deleted = QueryFlag(req_, "deleted");
    return store_.Read([&](const RegistryState& s) {
      if (!s.SchemaById(id)) {
        throw ApiError{ErrorCode::kSchemaNotFound, "Schema " + std::to_string(id) + " not found"};
      }
      ojson out = ojson::array();
      std::string last;
      for (const auto& [subject, version] : s.SubjectVersionsForId(id, deleted)) {
        if (subjects_only) {
          if (subject != last) out.push_back(subject);
          last = subject;
          continue;
        }
        ojson o;
        o["subject"] = subject;
        o["version"] = version;
        out.push_back(o);
      }
      return JsonResponse(out);
    });
  }

  ApiResponse ListSubjects() {
    bool deleted = QueryFlag(req_, "deleted");
    std::string prefix = QueryValue(req_, "subjectPrefix");
    return store_.Read([&](const RegistryState& s) {
      ojson out = ojson::array();
      for (const auto& subject : s.Subjects(deleted)) {
        if (subject.rfind(prefix, 0) == 0) out.push_back(subject);
      }
      return JsonResponse(out);
    });
  }

  ApiResponse ListVersions(const std::string& subject) {
    bool deleted = QueryFlag(req_, "deleted");
    return store_.Read([&](const RegistryState& s) {
      auto versions = s.Versions(subject, deleted);
      if (versions.empty()) throw SubjectNotFound(subject);
      ojson out = ojson::array();
      for (int v : versions) out.push_back(v);
      return JsonResponse(out);
    });
  }

  ApiResponse GetVersion(const std::string& subject, const std::string& version_text, bool raw) {
    int version = ParseVersion(version_text);
    bool deleted = QueryFlag(req_, "deleted");
    auto view = store_.Read([&](const RegistryState& s) {
      std::optional<VersionView> v =
          version == kLatest ? s.Latest(subject, deleted) : s.Version(subject, version, deleted);
      if (!v) {
        if (!s.SubjectExists(subject, deleted)) throw SubjectNotFound(subject);
        throw VersionNotFound(version_text);
      }
      return *v;
    });
    if (raw) return {200, view.schema, kContentType};
    return JsonResponse(VersionJson(view));
  }

  ApiResponse ReferencedBy(const std::string& subject, const std::string& version_text) {
    int version = ParseVersion(version_text);
    return store_.Read([&](const RegistryState& s) {
      auto v = version == kLatest ? s.Latest(subject, false) : s.Version(subject, version, false);
      if (!v) {
        if (!s.SubjectExists(subject, false)) throw SubjectNotFound(subject);
        throw VersionNotFound(version_text);
      }
      ojson out = ojson::array();
      for (int id = 1; id <= s.MaxId(); ++id) {
        auto schema = s.SchemaById(id);
        if (!schema) continue;
        for (const auto& ref : schema->references) {
          if (ref.subject == subject && ref.version == v->version) {
            out.push_back(id);
            break;
          }
        }
      }
      return JsonResponse(out);
    });
  }

  ApiResponse Register(const std::string& subject) {
    RequestSchema request = ReadRequestSchema(req_);
    std::optional<ApiError> failure;
    int result_id = 0;
    Write([&](const RegistryState& s) -> WritePlan {
      failure.reset();
      try {
        std::string mode = EffectiveMode(s, subject);
        RequireWritable(s, subject);
        bool importing = mode == "IMPORT";
        Candidate c = PrepareCandidate(s, request);
        if (auto existing = s.FindInSubject(subject, c.identity, false)) {
          if (request.id && *request.id != existing->id) {
            throw ApiError{ErrorCode::kOperationNotPermitted,
                           "Schema already registered with id " + std::to_string(existing->id) +
                               " instead of input id " + std::to_string(*request.id)};
          }
          result_id = existing->id;
          return {};
        }
        int id;
        if (request.id) {
          if (!importing) {
            throw ApiError{ErrorCode::kOperationNotPermitted,
                           "Subject " + subject + " is not in import mode"};
          }
          auto taken = s.SchemaById(*request.id);
          if (taken && SchemaIdentity(taken->schema_type, taken->references, taken->schema) != c.identity) {
            throw ApiError{ErrorCode::kOperationNotPermitted,
                           "Overwrite new schema with id " + std::to_string(*request.id) +
                               " is not permitted."};
          }
          id = *request.id;
        } else {
          if (!importing) {
            std::string level = EffectiveCompatibility(s, subject);
            auto messages = CheckAgainst(s, c, LiveVersions(s, subject), level);
            if (!messages.empty()) {
              throw ApiError{ErrorCode::kIncompatibleSchema,
                             "Schema being registered is incompatible with an earlier schema for "
                             "subject \"" + subject + "\", details: " + JoinList(messages)};
            }
          }
          auto same = s.IdForIdentity(c.identity);
          id = same ? *same : s.MaxId() + 1;
        }
        int version = s.NextVersion(subject);
        if (request.version && importing) {
          if (s.Version(subject, *request.version, true)) {
            throw ApiError{ErrorCode::kOperationNotPermitted,
                           "Version " + std::to_string(*request.version) + " of subject " +
                               subject + " already exists"};
          }
          version = *request.version;
        }
        SchemaValue value{subject, version, id, c.request.schema_type, c.request.references,
                          c.normalized, false};
        LogKey key;
        key.type = KeyType::kSchema;
        key.subject = subject;
        key.version = version;
        WritePlan plan;
        plan.record = WritePlan::Record{key, SerializeSchemaValue(value)};
        result_id = id;
        return plan;
      } catch (const ApiError& e) {
        failure = e;
        return {};
      }
    });
    if (failure) throw *failure;
    ojson o;
    o["id"] = result_id;
    return JsonResponse(o);
  }

  ApiResponse Lookup(const std::string& subject) {
    RequestSchema request = ReadRequestSchema(req_);
    bool deleted = QueryFlag(req_, "deleted");
    return store_.Read([&](const RegistryState& s) {
      Candidate c = PrepareCandidate(s, request);
      auto found = s.FindInSubject(subject, c.identity, deleted);
      if (!found) {
        if (!s.SubjectExists(subject, deleted)) throw SubjectNotFound(subject);
        throw ApiError{ErrorCode::kSchemaNotFound, "Schema not found"};
      }
      return JsonResponse(VersionJson(*found));
    });
  }

  ApiResponse DeleteSubject(const std::string& subject) {
    bool permanent = QueryFlag(req_, "permanent");
    std::optional<ApiError> failure;
    std::vector<int> deleted_versions;
    Write([&](const RegistryState& s) -> WritePlan {
      failure.reset();
      deleted_versions.clear();
      try {
        RequireWritable(s, subject);
        if (!s.SubjectExists(subject, true)) throw SubjectNotFound(subject);
        bool live = s.SubjectExists(subject, false);
        WritePlan plan;
        if (permanent) {
          if (live) {
            throw ApiError{ErrorCode::kSubjectNotSoftDeleted,
                           "Subject '" + subject +
                               "' was not deleted first before being permanently deleted"};
          }
          deleted_versions = s.Versions(subject, true);
          return PermanentDeletePlan(s, s.SubjectKeys(subject));
        }
        if (!live) {
          throw ApiError{ErrorCode::kSubjectSoftDeleted,
                         "Subject '" + subject +
                             "' was soft deleted.Set permanent=true to delete permanently"};
        }
        deleted_versions = s.Versions(subject, false);
        LogKey key;
        key.type = KeyType::kDeleteSubject;
        key.subject = subject;
        ojson v;
        v["subject"] = subject;
        v["version"] = s.NextVersion(subject) - 1;
        plan.record = WritePlan::Record{key, v.dump()};
        return plan;
      } catch (const ApiError& e) {
        failure = e;
        return {};
      }
    });
    if (failure) throw *failure;
    ojson out = ojson::array();
    for (int v : deleted_versions) out.push_back(v);
    return JsonResponse(out);
  }

  ApiResponse DeleteVersion(const std::string& subject, const std::string& version_text) {
    int version = ParseVersion(version_text);
    bool permanent = QueryFlag(req_, "permanent");
    std::optional<ApiError> failure;
    int deleted_version = 0;
    Write([&](const RegistryState& s) -> WritePlan {
      failure.reset();
      try {
        RequireWritable(s, subject);
        if (!s.SubjectExists(subject, true)) throw SubjectNotFound(subject);
        std::optional<VersionView> v;
        if (version == kLatest) {
          v = s.Latest(subject, permanent);
        } else {
          v = s.Version(subject, version, true);
        }
        if (!v) throw VersionNotFound(version_text);
        deleted_version = v->version;
        std::string label = std::to_string(v->version);
        WritePlan plan;
        if (permanent) {
          if (!v->deleted) {
            throw ApiError{ErrorCode::kVersionNotSoftDeleted,
                           "Subject '" + subject + "' Version " + label +
                               " was not deleted first before being permanently deleted"};
          }
          return PermanentDeletePlan(s, s.VersionKeys(subject, v->version));
        }
        if (v->deleted) {
          throw ApiError{ErrorCode::kVersionSoftDeleted,
                         "Subject '" + subject + "' Version " + label +
                             " was soft deleted.Set permanent=true to delete permanently"};
        }
        SchemaValue value{subject, v->version, v->id, v->schema_type, v->references, v->schema, true};
        LogKey key;
        key.type = KeyType::kSchema;
        key.subject = subject;
        key.version = v->version;
        plan.record = WritePlan::Record{key, SerializeSchemaValue(value)};
        // The version's older records are superseded by this one; drop them from the log.
        plan.tombstones = s.VersionKeys(subject, v->version);
        return plan;
      } catch (const ApiError& e) {
        failure = e;
        return {};
      }
    });
    if (failure) throw *failure;
    return JsonResponse(ojson(deleted_version));
  }

  ApiResponse GetConfig(const std::optional<std::string>& subject) {
    return store_.Read([&](const RegistryState& s) {
      std::optional<std::string> level = s.Compatibility(subject);
      if (subject && !level) {
        if (!QueryFlag(req_, "defaultToGlobal")) {
          throw ApiError{ErrorCode::kSubjectCompatibilityNotConfigured,
                         "Subject '" + *subject +
                             "' does not have subject-level compatibility configured"};
        }
        level = s.Compatibility(std::nullopt);
      }
      ojson o;
      o["compatibilityLevel"] = level ? *level : std::string(kDefaultCompatibility);
      return JsonResponse(o);
    });
  }

  ApiResponse PutConfig(const std::optional<std::string>& subject) {
    json body = ParseBody(req_);
    std::string requested;
    if (body.contains("compatibility") && body["compatibility"].is_string()) {
      requested = body["compatibility"].get<std::string>();
    } else if (body.contains("compatibilityLevel") && body["compatibilityLevel"].is_string()) {
      requested = body["compatibilityLevel"].get<std::string>();
    }
    auto level = ValidLevel(requested);
    if (!level) {
      throw ApiError{ErrorCode::kInvalidCompatibilityLevel,
                     "Invalid compatibility level. Valid values are none, backward, forward, full, "
                     "backward_transitive, forward_transitive, and full_transitive"};
    }
    Write([&](const RegistryState& s) {
      if (s.Compatibility(subject) == *level) return WritePlan{};
      return SettingPlan(KeyType::kConfig, subject, "compatibilityLevel", *level, s.ConfigKeys(subject));
    });
    ojson o;
    o["compatibility"] = *level;
    return JsonResponse(o);
  }

  ApiResponse DeleteConfig(const std::optional<std::string>& subject) {
    std::optional<ApiError> failure;
    std::string previous;
    Write([&](const RegistryState& s) {
      failure.reset();
      auto current = s.Compatibility(subject);
      if (subject && !current) {
        failure = SubjectNotFound(*subject);
        return WritePlan{};
      }
      previous = current ? *current : kDefaultCompatibility;
      WritePlan plan;
      plan.tombstones = s.ConfigKeys(subject);
      return plan;
    });
    if (failure) throw *failure;
    ojson o;
    o["compatibilityLevel"] = previous;
    return JsonResponse(o);
  }

  ApiResponse GetMode(const std::optional<std::string>& subject) {
    return store_.Read([&](const RegistryState& s) {
      std::optional<std::string> mode = s.Mode(subject);
      if (subject && !mode) {
        if (!QueryFlag(req_, "defaultToGlobal")) {
          throw ApiError{ErrorCode::kSubjectModeNotConfigured,
                         "Subject '" + *subject + "' does not have subject-level mode configured"};
        }
        mode = s.Mode(std::nullopt);
      }
      ojson o;
      o["mode"] = mode ? *mode : std::string(kDefaultMode);
      return JsonResponse(o);
    });
  }

  ApiResponse PutMode(const std::optional<std::string>& subject) {
    json body = ParseBody(req_);
    std::optional<std::string> mode;
    if (body.contains("mode") && body["mode"].is_string()) mode = ValidMode(body["mode"]);
    if (!mode) {
      throw ApiError{ErrorCode::kInvalidMode,
                     "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT"};
    }
    bool force = QueryFlag(req_, "force");
    std::optional<ApiError> failure;
    Write([&](const RegistryState& s) {
      failure.reset();
      if (*mode == "IMPORT" && !force) {
        bool has = subject ? s.SubjectExists(*subject, false) : !s.Subjects(false).empty();
        if (has) {
          failure = ApiError{ErrorCode::kOperationNotPermitted,
                             "Cannot import since found existing subjects"};
          return WritePlan{};
        }
      }
      if (s.Mode(subject) == *mode) return WritePlan{};
      return SettingPlan(KeyType::kMode, subject, "mode", *mode, s.ModeKeys(subject));
    });
    if (failure) throw *failure;
    ojson o;
    o["mode"] = *mode;
    return JsonResponse(o);
  }

  ApiResponse DeleteMode(const std::string& subject) {
    std::optional<ApiError> failure;
    std::string previous;
    Write([&](const RegistryState& s) {
      failure.reset();
      auto current = s.Mode(subject);
      if (!current) {
        failure = SubjectNotFound(subject);
        return WritePlan{};
      }
      previous = *current;
      WritePlan plan;
      plan.tombstones = s.ModeKeys(subject);
      return plan;
    });
    if (failure) throw *failure;
    ojson o;
    o["mode"] = previous;
    return JsonResponse(o);
  }

  ApiResponse TestCompatibility(const std::string& subject, const std::optional<std::string>& version_text) {
    std::optional<int> version;
    if (version_text) version = ParseVersion(*version_text);
    RequestSchema request = ReadRequestSchema(req_);
    bool verbose = QueryFlag(req_, "verbose");
    return store_.Read([&](const RegistryState& s) {
      Candidate c = PrepareCandidate(s, request);
      std::vector<VersionView> against;
      std::string level = EffectiveCompatibility(s, subject);
      if (!version) {
        against = LiveVersions(s, subject);
      } else if (*version == kLatest) {
        if (auto latest = s.Latest(subject, false)) against.push_back(*latest);
      } else {
        auto v = s.Version(subject, *version, false);
        if (!v) {
          if (!s.SubjectExists(subject, false)) throw SubjectNotFound(subject);
          throw VersionNotFound(*version_text);
        }
        against.push_back(*v);
      }
      auto messages = CheckAgainst(s, c, against, level);
      ojson o;
      o["is_compatible"] = messages.empty();
      if (verbose) o["messages"] = messages;
      return JsonResponse(o);
    });
  }

 private:
  void Write(const Planner& planner) {
    try {
      store_.Write(planner);
    } catch (const StoreError& e) {
      if (e.Timeout()) throw ApiError{ErrorCode::kOperationTimeout, e.what()};
      throw StoreFailure(e.what());
    } catch (const core::InfraError& e) {
      throw StoreFailure(e.what());
    }
  }

  RegistryStore& store_;
  const ApiRequest& req_;
};

}  // namespace

ApiResponse ErrorResponse(ErrorCode code, const std::string& message) {
  int value = static_cast<int>(code);
  int status = value < 1000 ? value : value / 100;
  ojson body;
  body["error_code"] = value;
  body["message"] = message;
  return {status, body.dump(), kContentType};
}

std::vector<std::pair<std::string, std::string>> RegistryApi::Routes() {
  return {
      {"GET", "/"},
      {"GET", "/schemas"},
      {"GET", "/schemas/types"},
      {"GET", "/schemas/ids/:id"},
      {"GET", "/schemas/ids/:id/schema"},
      {"GET", "/schemas/ids/:id/versions"},
      {"GET", "/schemas/ids/:id/subjects"},
      {"GET", "/subjects"},
      {"POST", "/subjects/:subject"},
      {"DELETE", "/subjects/:subject"},
      {"GET", "/subjects/:subject/versions"},
      {"POST", "/subjects/:subject/versions"},
      {"GET", "/subjects/:subject/versions/:version"},
      {"DELETE", "/subjects/:subject/versions/:version"},
      {"GET", "/subjects/:subject/versions/:version/schema"},
      {"GET", "/subjects/:subject/versions/:version/referencedby"},
      {"GET", "/config"},
      {"PUT", "/config"},
      {"DELETE", "/config"},
      {"GET", "/config/:subject"},
      {"PUT", "/config/:subject"},
      {"DELETE", "/config/:subject"},
      {"POST", "/compatibility/subjects/:subject/versions"},
      {"POST", "/compatibility/subjects/:subject/versions/:version"},
      {"GET", "/mode"},
      {"PUT", "/mode"},
      {"GET", "/mode/:subject"},
      {"PUT", "/mode/:subject"},
      {"DELETE", "/mode/:subject"},
  };
}

ApiResponse RegistryApi::Handle(const ApiRequest& request) {
  const std::string& m = request.method;
  auto seg = SplitPath(request.path);
  const std::size_t n = seg.size();
  Handlers h(store_, request);
  bool path_known = true;
  try {
    if ((m == "POST" || m == "PUT") && !AcceptedContentType(request.content_type)) {
      return HttpError(415, "HTTP 415 Unsupported Media Type");
    }
    if (n == 0) {
      if (m == "GET") return h.Root();
    } else if (seg[0] == "schemas") {
      if (n == 1) {
        if (m == "GET") return h.ListSchemas();
      } else if (n == 2 && seg[1] == "types") {
        if (m == "GET") return h.SchemaTypes();
      } else if (n >= 3 && n <= 4 && seg[1] == "ids") {
        auto id = ParseId(seg[2]);
        if (!id) return HttpError(404, "HTTP 404 Not Found");
        if (n == 3 && m == "GET") return h.SchemaById(*id, false);
        if (n == 4 && seg[3] == "schema" && m == "GET") return h.SchemaById(*id, true);
        if (n == 4 && seg[3] == "versions" && m == "GET") return h.SchemaIdVersions(*id, false);
        if (n == 4 && seg[3] == "subjects" && m == "GET") return h.SchemaIdVersions(*id, true);
        if (n == 4 && seg[3] != "schema" && seg[3] != "versions" && seg[3] != "subjects") {
          path_known = false;
        }
      } else {
        path_known = false;
      }
    } else if (seg[0] == "subjects") {
      if (n == 1) {
        if (m == "GET") return h.ListSubjects();
      } else if (n == 2) {
        if (m == "POST") return h.Lookup(seg[1]);
        if (m == "DELETE") return h.DeleteSubject(seg[1]);
      } else if (seg[2] != "versions") {
        path_known = false;
      } else if (n == 3) {
        if (m == "GET") return h.ListVersions(seg[1]);
        if (m == "POST") return h.Register(seg[1]);
      } else if (n == 4) {
        if (m == "GET") return h.GetVersion(seg[1], seg[3], false);
        if (m == "DELETE") return h.DeleteVersion(seg[1], seg[3]);
      } else if (n == 5 && seg[4] == "schema") {
        if (m == "GET") return h.GetVersion(seg[1], seg[3], true);
      } else if (n == 5 && seg[4] == "referencedby") {
        if (m == "GET") return h.ReferencedBy(seg[1], seg[3]);
      } else {
        path_known = false;
      }
    } else if (seg[0] == "config" && n <= 2) {
      std::optional<std::string> subject;
      if (n == 2) subject = seg[1];
      if (m == "GET") return h.GetConfig(subject);
      if (m == "PUT") return h.PutConfig(subject);
      if (m == "DELETE") return h.DeleteConfig(subject);
    } else if (seg[0] == "mode" && n <= 2) {
      std::optional<std::string> subject;
      if (n == 2) subject = seg[1];
      if (m == "GET") return h.GetMode(subject);
      if (m == "PUT") return h.PutMode(subject);
      if (m == "DELETE" && subject) return h.DeleteMode(*subject);
    } else if (seg[0] == "compatibility" && n >= 4 && n <= 5 && seg[1] == "subjects" &&
               seg[3] == "versions") {
      if (m == "POST") {
        return h.TestCompatibility(seg[2], n == 5 ? std::optional<std::string>(seg[4]) : std::nullopt);
      }
    } else {
      path_known = false;
    }
  } catch (const ApiError& e) {
    int value = static_cast<int>(e.code);
    if (value < 1000 && value != 409) return HttpError(value, e.message);
    return ErrorResponse(e.code, e.message);
  }
  if (!path_known) return HttpError(404, "HTTP 404 Not Found");
  return HttpError(405, "HTTP 405 Method Not Allowed");
}

}  // namespace sluice::schema_registry

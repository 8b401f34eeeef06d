#include "sluice/registry/client.hpp"

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "sluice/http/client.hpp"

namespace sluice::registry {
namespace {

using nlohmann::json;

constexpr const char* kContentType = "application/vnd.schemaregistry.v1+json";

std::string SegmentOf(const SubjectName& subject) { return http::UrlEncode(subject.str()); }

}  // namespace

RegistryError::RegistryError(int http_status, int error_code, const std::string& message)
    : core::InfraError("schema registry answered HTTP " + std::to_string(http_status) +
                           " (error_code " + std::to_string(error_code) + "): " + message,
                       core::Retry::kNo),
      http_status_(http_status),
      error_code_(error_code) {}

bool RegistryError::IsIncompatible() const noexcept {
  return http_status_ == 409 || error_code_ == 409 || error_code_ == 40901;
}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  http::ClientOptions ho;
  ho.timeout = options_.request_timeout;
  ho.username = options_.username;
  ho.password = options_.password;
  ho.headers = {{"Accept", std::string(kContentType) + ", application/json"}};
  http_ = std::make_unique<http::Client>(ho);
}

Client::~Client() = default;

Client::Reply Client::Call(const char* method, const std::string& path, const std::string* body) {
  const std::string url = options_.url + path;
  http::Client::Headers headers;
  if (body) headers["Content-Type"] = kContentType;
  core::Duration backoff = options_.initial_backoff;
  std::string last_problem;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    try {
      http::ClientResponse r;
      std::string m = method;
      if (m == "GET") {
        r = http_->Get(url, headers);
      } else if (m == "POST") {
        r = http_->Post(url, *body, headers);
      } else if (m == "PUT") {
        r = http_->Put(url, *body, headers);
      } else {
        r = http_->Delete(url, headers);
      }
      if (r.status < 500) return {r.status, r.body};
      last_problem = "HTTP " + std::to_string(r.status) + ": " + r.body;
    } catch (const core::InfraError& e) {
      if (!e.Retryable()) throw;
      last_problem = e.what();
    }
    if (attempt < options_.max_attempts) {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(options_.max_backoff, backoff * 2);
    }
  }
  throw core::InfraError("schema registry " + std::string(method) + " " + url + " failed after " +
                             std::to_string(options_.max_attempts) + " attempts: " + last_problem,
                         core::Retry::kYes);
}

Client::Reply Client::CallOk(const char* method, const std::string& path, const std::string* body) {
  Reply r = Call(method, path, body);
  if (r.status >= 200 && r.status < 300) return r;
  int code = static_cast<int>(r.status);
  std::string message = r.body;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("error_code") && j["error_code"].is_number_integer()) code = j["error_code"].get<int>();
    if (j.contains("message") && j["message"].is_string()) message = j["message"].get<std::string>();
  }
  throw RegistryError(static_cast<int>(r.status), code, message);
}

SchemaId Client::Register(const SubjectName& subject, const std::string& schema_json) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(subject.str(), schema_json);
  if (auto it = registered_.find(key); it != registered_.end()) return it->second;
  std::string body = json{{"schema", schema_json}}.dump();
  Reply r = CallOk("POST", "/subjects/" + SegmentOf(subject) + "/versions", &body);
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) {
    throw core::InfraError("schema registry register: unexpected answer " + r.body, core::Retry::kNo);
  }
  SchemaId id{j["id"].get<std::int32_t>()};
  registered_[key] = id;
  return id;
}

std::optional<RegisteredSchema> Client::Lookup(const SubjectName& subject, const std::string& schema_json) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(subject.str(), schema_json);
  if (auto it = looked_up_.find(key); it != looked_up_.end()) return it->second;
  std::string body = json{{"schema", schema_json}}.dump();
  try {
    Reply r = CallOk("POST", "/subjects/" + SegmentOf(subject), &body);
    json j = json::parse(r.body);
    RegisteredSchema out{SubjectName(j.at("subject").get<std::string>()), j.at("version").get<int>(),
                         SchemaId{j.at("id").get<std::int32_t>()}, j.at("schema").get<std::string>()};
    looked_up_.emplace(key, out);
    return out;
  } catch (const RegistryError& e) {
    if (e.ErrorCode() == 40401 || e.ErrorCode() == 40403) return std::nullopt;
    throw;
  } catch (const json::exception& e) {
    throw core::InfraError(std::string("schema registry lookup: unexpected answer: ") + e.what(),
                           core::Retry::kNo);
  }
}

std::string Client::SchemaText(SchemaId id) {
  std::lock_guard lock(mu_);
  if (auto it = texts_.find(id); it != texts_.end()) return it->second;
  Reply r = CallOk("GET", "/schemas/ids/" + std::to_string(id.value), nullptr);
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string()) {
    throw core::InfraError("schema registry: unexpected answer for id " + std::to_string(id.value),
                           core::Retry::kNo);
  }
  if (j.contains("references") && j["references"].is_array() && !j["references"].empty()) {
    throw core::InfraError("schema registry: schema id " + std::to_string(id.value) +
                               " uses references, which this client does not resolve",
                           core::Retry::kNo);
  }
  std::string text = j["schema"].get<std::string>();
  texts_.emplace(id, text);
  return text;
}

avro::Schema Client::Schema(SchemaId id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = parsed_.find(id); it != parsed_.end()) return it->second;
  }
  std::string text = SchemaText(id);
  avro::ParseOptions options;
  options.validate_defaults = false;  // the registry already accepted it; decode what it holds
  avro::Schema schema = avro::ParseSchema(text, options);
  std::lock_guard lock(mu_);
  parsed_.emplace(id, schema);
  return schema;
}

RegisteredSchema Client::Latest(const SubjectName& subject) {
  std::lock_guard lock(mu_);
  Reply r = CallOk("GET", "/subjects/" + SegmentOf(subject) + "/versions/latest", nullptr);
  try {
    json j = json::parse(r.body);
    return {SubjectName(j.at("subject").get<std::string>()), j.at("version").get<int>(),
            SchemaId{j.at("id").get<std::int32_t>()}, j.at("schema").get<std::string>()};
  } catch (const json::exception& e) {
    throw core::InfraError(std::string("schema registry latest: unexpected answer: ") + e.what(),
                           core::Retry::kNo);
  }
}

CompatibilityResult Client::TestCompatibility(const SubjectName& subject, const std::string& schema_json,
                                              const std::string& version) {
  std::lock_guard lock(mu_);
  std::string body = json{{"schema", schema_json}}.dump();
  std::string path = "/compatibility/subjects/" + SegmentOf(subject) + "/versions";
  if (!version.empty()) path += "/" + http::UrlEncode(version);
  Reply r = CallOk("POST", path + "?verbose=true", &body);
  json j = json::parse(r.body, nullptr, false);
  CompatibilityResult out;
  if (j.is_object() && j.contains("is_compatible") && j["is_compatible"].is_boolean()) {
    out.compatible = j["is_compatible"].get<bool>();
  }
  if (j.is_object() && j.contains("messages") && j["messages"].is_array()) {
    for (const auto& m : j["messages"]) {
      if (m.is_string()) out.messages.push_back(m.get<std::string>());
    }
  }
  return out;
}

std::string Client::Compatibility(const SubjectName& subject) {
  std::lock_guard lock(mu_);
  const auto level_of = [](const Reply& r) {
    json j = json::parse(r.body, nullptr, false);
    // GET answers compatibilityLevel; some registries answer the PUT spelling, compatibility.
    for (const char* key : {"compatibilityLevel", "compatibility"}) {
      if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
    }
    throw core::InfraError("schema registry config: unexpected answer " + r.body, core::Retry::kNo);
  };
  try {
    return level_of(
        CallOk("GET", "/config/" + SegmentOf(subject) + "?defaultToGlobal=true", nullptr));
  } catch (const RegistryError& e) {
    if (e.ErrorCode() != 40408 && e.ErrorCode() != 40401) throw;
  }
  return level_of(CallOk("GET", "/config", nullptr));
}

void Client::SetCompatibility(const std::optional<SubjectName>& subject, const std::string& level) {
  std::lock_guard lock(mu_);
  std::string body = json{{"compatibility", level}}.dump();
  CallOk("PUT", subject ? "/config/" + SegmentOf(*subject) : std::string("/config"), &body);
}

}  // namespace sluice::registry

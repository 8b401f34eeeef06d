#include "sluice/runtime/http_schema_source.hpp"

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"

namespace sluice::runtime {
namespace {

http::ClientOptions Options(const std::string& user, const std::string& password,
                            core::Duration timeout) {
  http::ClientOptions o;
  o.timeout = timeout;
  o.username = user;
  o.password = password;
  o.headers["Accept"] = "application/vnd.schemaregistry.v1+json";
  return o;
}

[[noreturn]] void Refused(const std::string& what, const http::ClientResponse& r) {
  std::string message = r.body;
  try {
    auto j = nlohmann::json::parse(r.body);
    if (j.contains("message")) message = j["message"].get<std::string>();
  } catch (const nlohmann::json::exception&) {
  }
  throw core::InfraError(what + ": registry answered HTTP " + std::to_string(r.status) + ": " +
                             message,
                         r.status >= 500 ? core::Retry::kYes : core::Retry::kNo);
}

}  // namespace

HttpSchemaSource::HttpSchemaSource(std::string url, std::string username, std::string password,
                                   core::Duration timeout)
    : url_(std::move(url)), client_(Options(username, password, timeout)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

std::int32_t HttpSchemaSource::Register(const std::string& subject,
                                        const std::string& schema_json) {
  std::lock_guard lock(mu_);
  const std::string what = "register schema under " + subject;
  nlohmann::json body = {{"schema", schema_json}};
  auto r = client_.Post(url_ + "/subjects/" + http::UrlEncode(subject) + "/versions", body.dump(),
                        {{"Content-Type", "application/vnd.schemaregistry.v1+json"}});
  if (r.status != 200) Refused(what, r);
  try {
    auto id = nlohmann::json::parse(r.body).at("id").get<std::int32_t>();
    texts_[id] = schema_json;
    return id;
  } catch (const nlohmann::json::exception& e) {
    throw core::InfraError(what + ": unexpected registry answer: " + e.what(), core::Retry::kYes);
  }
}

std::optional<std::string> HttpSchemaSource::SchemaText(std::int32_t id) {
  std::lock_guard lock(mu_);
  if (auto it = texts_.find(id); it != texts_.end()) return it->second;
  auto r = client_.Get(url_ + "/schemas/ids/" + std::to_string(id));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) Refused("fetch schema id " + std::to_string(id), r);
  try {
    std::string text = nlohmann::json::parse(r.body).at("schema").get<std::string>();
    texts_[id] = text;
    return text;
  } catch (const nlohmann::json::exception& e) {
    throw core::InfraError("fetch schema id " + std::to_string(id) +
                               ": unexpected registry answer: " + e.what(),
                           core::Retry::kYes);
  }
}

}  // namespace sluice::runtime

#include "sluice/config/environment.hpp"

#include <cstdlib>

namespace sluice::config {

const std::vector<std::string>& Environment::KnownNames() {
  static const std::vector<std::string> kNames = {
      "SLUICE_KAFKA_BROKERS",     "SLUICE_KAFKA_SASL_USERNAME", "SLUICE_KAFKA_SASL_PASSWORD",
      "SLUICE_REGISTRY_URL",      "SLUICE_REGISTRY_USERNAME",   "SLUICE_REGISTRY_PASSWORD",
      "SLUICE_PG_URL",            "PGHOST",                     "PGPORT",
      "PGUSER",                   "PGPASSWORD",                 "PGDATABASE",
      "PGSSLMODE",                "SLUICE_INSTANCE_ID"};
  return kNames;
}

Environment Environment::FromProcess() {
  std::map<std::string, std::string> vars;
  for (const auto& name : KnownNames()) {
    if (const char* v = std::getenv(name.c_str())) vars[name] = v;
  }
  return Environment(std::move(vars));
}

std::optional<std::string> Environment::Get(const std::string& name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

std::vector<Issue> Environment::Validate() const {
  std::vector<Issue> issues;
  auto add = [&](const std::string& name, const std::string& message) {
    issues.push_back(Issue{"environment", name, 0, 0, message});
  };
  if (auto v = Get("SLUICE_KAFKA_BROKERS"); v && v->find_first_not_of(" \t,") == std::string::npos) {
    add("SLUICE_KAFKA_BROKERS", "is set but empty; expected host:port[,host:port...]");
  }
  if (auto v = Get("SLUICE_REGISTRY_URL");
      v && v->rfind("http://", 0) != 0 && v->rfind("https://", 0) != 0) {
    add("SLUICE_REGISTRY_URL", "expected an http:// or https:// URL, got '" + *v + "'");
  }
  if (auto v = Get("SLUICE_PG_URL"); v && v->rfind("postgresql://", 0) != 0 &&
                                       v->rfind("postgres://", 0) != 0 &&
                                       v->find('=') == std::string::npos) {
    add("SLUICE_PG_URL",
        "expected a postgresql:// URI or a key=value connection string, got '" + MaskUrl(*v) + "'");
  }
  if (auto v = Get("PGPORT"); v && v->find_first_not_of("0123456789") != std::string::npos) {
    add("PGPORT", "expected a port number, got '" + *v + "'");
  }
  return issues;
}

bool IsSecretName(const std::string& name) {
  for (const char* word : {"PASSWORD", "password", "SECRET", "secret"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return name == "token" || name == "TOKEN";
}

std::string MaskUrl(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    // key=value form: mask password=...
    auto at = url.find("password=");
    if (at == std::string::npos) return url;
    auto end = url.find(' ', at);
    return url.substr(0, at) + "password=****" + (end == std::string::npos ? "" : url.substr(end));
  }
  auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "****" + url.substr(at);
}

}  // namespace sluice::config

#pragma once
// Endpoints and secrets come only from the environment, never from the pipeline file.
// Environment is a snapshot of the variables Sluice reads, so tests can inject their own.
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sluice/config/issue.hpp"

namespace sluice::config {

// Variables read (besides libpq's own PG* which libpq reads itself):
//   SLUICE_KAFKA_BROKERS        bootstrap.servers for every Kafka client
//   SLUICE_KAFKA_SASL_USERNAME  sasl.username (optional)
//   SLUICE_KAFKA_SASL_PASSWORD  sasl.password (optional, secret)
//   SLUICE_REGISTRY_URL         schema registry base URL, http:// or https://
//   SLUICE_REGISTRY_USERNAME, SLUICE_REGISTRY_PASSWORD   basic auth for the registry (optional)
//   SLUICE_PG_URL               libpq connection URI; when unset libpq uses PGHOST, PGPORT, ...
//   PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSSLMODE   shown (masked) by --print-config
class Environment {
 public:
  Environment() = default;
  explicit Environment(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  Environment(std::initializer_list<std::pair<const std::string, std::string>> vars)
      : vars_(vars) {}
  // Reads the variables above from the process environment.
  static Environment FromProcess();
  static const std::vector<std::string>& KnownNames();

  std::optional<std::string> Get(const std::string& name) const;
  const std::map<std::string, std::string>& Vars() const { return vars_; }

  // Checks values that are set (e.g. the registry URL scheme); issues name the variable.
  std::vector<Issue> Validate() const;

 private:
  std::map<std::string, std::string> vars_;
};

// True for names of variables whose values must never be printed.
bool IsSecretName(const std::string& name);
// Replaces the password of a URL ("postgresql://u:pw@h/db" -> "postgresql://u:****@h/db").
std::string MaskUrl(const std::string& url);

}  // namespace sluice::config

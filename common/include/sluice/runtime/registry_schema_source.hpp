#pragma once
// The SchemaSource of the daemons: the cached sluice::registry::Client (Confluent REST API,
// retries with backoff inside the client). Unknown ids (HTTP 404) are nullopt, so the record
// goes to the DLQ as undecodable; other 4xx answers throw registry::RegistryError (an
// InfraError, kNo); an unreachable registry throws core::InfraError(kYes).
// Threading: as thread-safe as the client (calls serialised).
#include "sluice/registry/client.hpp"
#include "sluice/runtime/serde.hpp"

namespace sluice::runtime {

class RegistrySchemaSource : public SchemaSource {
 public:
  explicit RegistrySchemaSource(registry::Client& client) : client_(client) {}
  std::int32_t Register(const std::string& subject, const std::string& schema_json) override;
  std::optional<std::string> SchemaText(std::int32_t id) override;

 private:
  registry::Client& client_;
};

}  // namespace sluice::runtime

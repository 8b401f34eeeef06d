#pragma once
// The SchemaSource of the daemons: the cached sluice::registry::Client (Confluent REST API,
// retries with backoff inside the client). Unknown ids (HTTP 404) are nullopt, so the record
// goes to the DLQ as undecodable; other 4xx answers throw registry::RegistryError (an
// InfraError, kNo); an unreachable registry throws core::InfraError(kYes).
// Every daemon builds it from its endpoints (SLUICE_REGISTRY_URL and credentials); it owns its
// client. Threading: as thread-safe as the client (calls serialised).
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/registry/client.hpp"
#include "sluice/runtime/serde.hpp"

namespace sluice::runtime {

// The registry client options of a daemon: SLUICE_REGISTRY_URL and its credentials.
registry::ClientOptions RegistryClientOptions(const pipeline::Endpoints& endpoints);

class RegistrySchemaSource : public SchemaSource {
 public:
  explicit RegistrySchemaSource(registry::ClientOptions options) : client_(std::move(options)) {}
  explicit RegistrySchemaSource(const pipeline::Endpoints& endpoints);

  std::int32_t Register(const std::string& subject, const std::string& schema_json) override;
  std::optional<std::string> SchemaText(std::int32_t id) override;

 private:
  registry::Client client_;
};

}  // namespace sluice::runtime

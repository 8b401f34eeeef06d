#include "sluice/runtime/registry_schema_source.hpp"

namespace sluice::runtime {

registry::ClientOptions RegistryClientOptions(const pipeline::Endpoints& ep) {
  registry::ClientOptions options;
  options.url = ep.registry_url;
  options.username = ep.registry_username;
  options.password = ep.registry_password;
  return options;
}

RegistrySchemaSource::RegistrySchemaSource(const pipeline::Endpoints& endpoints)
    : client_(RegistryClientOptions(endpoints)) {}

std::int32_t RegistrySchemaSource::Register(const std::string& subject,
                                            const std::string& schema_json) {
  return client_.Register(registry::SubjectName(subject), schema_json).value;
}

std::optional<std::string> RegistrySchemaSource::SchemaText(std::int32_t id) {
  try {
    return client_.SchemaText(registry::SchemaId{id});
  } catch (const registry::RegistryError& e) {
    if (e.IsNotFound()) return std::nullopt;
    throw;
  }
}

}  // namespace sluice::runtime

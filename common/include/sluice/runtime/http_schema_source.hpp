#pragma once
// A SchemaSource speaking the Confluent registry REST API (POST /subjects/{s}/versions,
// GET /schemas/ids/{id}) over sluice::http::Client, with an id -> text cache (ids never
// change meaning). Network failures and 5xx answers throw core::InfraError(kYes); an unknown
// id (404) is nullopt; any other refusal (422 invalid, 409 incompatible) throws
// core::InfraError(kNo) with the registry's message.
// Kept small on purpose: the cached sluice::registry::Client replaces it in the daemons once
// that module lands. Threading: serialised by a mutex.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "sluice/core/duration.hpp"
#include "sluice/http/client.hpp"
#include "sluice/runtime/serde.hpp"

namespace sluice::runtime {

class HttpSchemaSource : public SchemaSource {
 public:
  HttpSchemaSource(std::string url, std::string username = {}, std::string password = {},
                   core::Duration timeout = core::Duration(10'000));
  std::int32_t Register(const std::string& subject, const std::string& schema_json) override;
  std::optional<std::string> SchemaText(std::int32_t id) override;

 private:
  std::string url_;
  std::mutex mu_;
  http::Client client_;
  std::map<std::int32_t, std::string> texts_;
};

}  // namespace sluice::runtime

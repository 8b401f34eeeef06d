#pragma once
// A cached client for a Confluent-compatible schema registry (ours or Confluent's).
//
// - Register and lookups by (subject, schema) and fetches by id are cached for the client's
//   lifetime: ids never change meaning. Latest() is not cached (it moves).
// - 5xx answers, network failures and timeouts are retried with exponential backoff; when the
//   budget is spent the call throws core::InfraError(Retry::kYes).
// - 4xx answers throw RegistryError (Retry::kNo) carrying the HTTP status, Confluent's
//   error_code and message. An incompatible schema is HTTP 409 with error_code 409 (Confluent
//   7) or 40901 (later versions): IsIncompatible() accepts both.
// Threading: thread-safe (one HTTP handle behind a mutex; calls are serialised).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/error.hpp"
#include "sluice/registry/subject.hpp"
#include "sluice/registry/wire_format.hpp"

namespace sluice::http {
class Client;
}

namespace sluice::registry {

struct ClientOptions {
  std::string url;  // e.g. "http://127.0.0.1:18081" (SLUICE_REGISTRY_URL)
  core::Duration request_timeout{10'000};
  int max_attempts = 6;                  // first try + retries
  core::Duration initial_backoff{100};   // doubled per retry
  core::Duration max_backoff{5'000};
  std::string username;  // basic auth when non-empty
  std::string password;
};

// A 4xx answer from the registry.
class RegistryError : public core::InfraError {
 public:
  RegistryError(int http_status, int error_code, const std::string& message);
  int HttpStatus() const noexcept { return http_status_; }
  int ErrorCode() const noexcept { return error_code_; }
  bool IsIncompatible() const noexcept;
  bool IsNotFound() const noexcept { return http_status_ == 404; }

 private:
  int http_status_;
  int error_code_;
};

struct RegisteredSchema {
  SubjectName subject{""};
  int version = 0;
  SchemaId id;
  std::string schema;  // the registry's JSON text
};

struct CompatibilityResult {
  bool compatible = true;
  std::vector<std::string> messages;  // verbose details when incompatible
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Registers (or finds) the schema under the subject; returns its id. Cached.
  SchemaId Register(const SubjectName& subject, const std::string& schema_json);
  // The subject's version holding this schema, or nullopt (40401/40403). Cached when found.
  std::optional<RegisteredSchema> Lookup(const SubjectName& subject, const std::string& schema_json);
  // The schema text for an id. Cached. Throws RegistryError (404) for an unknown id.
  std::string SchemaText(SchemaId id);
  // The parsed schema for an id (for decoding). Cached.
  avro::Schema Schema(SchemaId id);
  // The subject's latest version. Not cached.
  RegisteredSchema Latest(const SubjectName& subject);
  // Tests the schema against the subject's version ("latest" by default), verbosely. An empty
  // `version` tests against the versions the subject's level names (all of them for a
  // *_TRANSITIVE level, the latest otherwise), as registering would.
  CompatibilityResult TestCompatibility(const SubjectName& subject, const std::string& schema_json,
                                        const std::string& version = "latest");
  // The subject's effective compatibility level ("BACKWARD", ...): its own when set, else the
  // global one (GET /config/<subject>?defaultToGlobal=true; a registry that ignores the flag
  // and answers 40408 is asked GET /config). Not cached (it moves).
  std::string Compatibility(const SubjectName& subject);
  // Sets the compatibility level of a subject (or the global one when subject is nullopt).
  void SetCompatibility(const std::optional<SubjectName>& subject, const std::string& level);

 private:
  struct Reply {
    long status;
    std::string body;
  };
  Reply Call(const char* method, const std::string& path, const std::string* body);
  Reply CallOk(const char* method, const std::string& path, const std::string* body);

  ClientOptions options_;
  std::mutex mu_;
  std::unique_ptr<http::Client> http_;
  std::map<std::pair<std::string, std::string>, SchemaId> registered_;  // (subject, schema)
  std::map<std::pair<std::string, std::string>, RegisteredSchema> looked_up_;
  std::map<SchemaId, std::string> texts_;
  std::map<SchemaId, avro::Schema> parsed_;
};

}  // namespace sluice::registry

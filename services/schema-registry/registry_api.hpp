#pragma once
// The Confluent Schema Registry REST API (v7 paths, content types, bodies and error codes) as
// a pure function of a request: RegistryApi::Handle maps method + path + query + body to a
// status, a body and a content type, reading and writing through a RegistryStore. No sockets:
// the HTTP server (registry_service.hpp) and the unit tests both call Handle.
// Threading: Handle is thread-safe (the store serialises writes).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "registry_store.hpp"

namespace sluice::schema_registry {

inline constexpr const char* kContentType = "application/vnd.schemaregistry.v1+json";

struct ApiRequest {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  std::string path;    // percent-decoded, without the query string
  std::multimap<std::string, std::string> query;
  std::string body;
  std::string content_type;  // empty when the client sent none
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = kContentType;
};

// Confluent's error codes (the HTTP status is the first three digits).
enum class ErrorCode : int {
  kSubjectNotFound = 40401,
  kVersionNotFound = 40402,
  kSchemaNotFound = 40403,
  kSubjectSoftDeleted = 40404,
  kSubjectNotSoftDeleted = 40405,
  kVersionSoftDeleted = 40406,
  kVersionNotSoftDeleted = 40407,
  kSubjectCompatibilityNotConfigured = 40408,
  kSubjectModeNotConfigured = 40409,
  kIncompatibleSchema = 409,  // Confluent 7: HTTP 409 with error_code 409
  kInvalidSchema = 42201,
  kInvalidVersion = 42202,
  kInvalidCompatibilityLevel = 42203,
  kInvalidMode = 42204,
  kOperationNotPermitted = 42205,
  kStoreError = 50001,
  kOperationTimeout = 50002,
  kForwardingError = 50003,
};

class RegistryApi {
 public:
  explicit RegistryApi(RegistryStore& store) : store_(store) {}

  ApiResponse Handle(const ApiRequest& request);

  // (method, pattern) pairs this API serves, with ":name" segments, for mounting on a router.
  static std::vector<std::pair<std::string, std::string>> Routes();

 private:
  RegistryStore& store_;
};

// {"error_code":code,"message":message} with HTTP status code/100 (409 stays 409).
ApiResponse ErrorResponse(ErrorCode code, const std::string& message);

}  // namespace sluice::schema_registry

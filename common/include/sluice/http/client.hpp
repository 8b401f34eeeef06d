#pragma once
// A small blocking HTTP client over libcurl for API sources, lookups and the registry client.
// One CURL handle per object, reused across calls for keep-alive: NOT thread-safe; give each
// thread its own Client. A network failure or timeout throws core::InfraError(Retry::kYes);
// any HTTP status (including 4xx/5xx) is returned for the caller to judge.
#include <map>
#include <string>

#include "sluice/core/duration.hpp"

namespace sluice::http {

struct ClientOptions {
  core::Duration timeout{10'000};         // whole request
  core::Duration connect_timeout{3'000};  // TCP/TLS connect
  std::string username;                   // basic auth when non-empty
  std::string password;
  std::map<std::string, std::string> headers;  // sent with every request
  std::size_t max_body_bytes = 0;  // a longer response body is cut off (too_large); 0 = no limit
};

struct ClientResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names; last value wins
  bool too_large = false;  // the body passed max_body_bytes: `body` holds its first bytes only
};

// See the file comment.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  using Headers = std::map<std::string, std::string>;
  ClientResponse Get(const std::string& url, const Headers& headers = {});
  ClientResponse Post(const std::string& url, const std::string& body, const Headers& headers = {});
  ClientResponse Put(const std::string& url, const std::string& body, const Headers& headers = {});
  ClientResponse Delete(const std::string& url, const Headers& headers = {});

 private:
  ClientResponse Perform(const char* method, const std::string& url, const std::string* body,
                         const Headers& headers);

  ClientOptions options_;
  void* curl_;  // CURL*, kept opaque so users do not include curl.h
};

// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay).
std::string UrlEncode(const std::string& text);

}  // namespace sluice::http

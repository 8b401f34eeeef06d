#include "sluice/http/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "sluice/core/error.hpp"

namespace sluice::http {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct BodySink {
  std::string* body;
  std::size_t max;  // 0 = no limit
  bool over = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  if (sink->max != 0 && sink->body->size() + size * n > sink->max) {
    sink->over = true;
    return 0;  // curl stops the transfer (CURLE_WRITE_ERROR)
  }
  sink->body->append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    auto first = value.find_first_not_of(" \t");
    auto last = value.find_last_not_of(" \t\r\n");
    value = first == std::string::npos ? "" : value.substr(first, last - first + 1);
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

// Frees a curl_slist on scope exit.
struct SlistGuard {
  curl_slist* list = nullptr;
  ~SlistGuard() { curl_slist_free_all(list); }
};

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  GlobalInit();
  curl_ = curl_easy_init();
  if (!curl_) throw core::InfraError("curl_easy_init failed", core::Retry::kNo);
}

Client::~Client() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

ClientResponse Client::Get(const std::string& url, const Headers& headers) {
  return Perform("GET", url, nullptr, headers);
}
ClientResponse Client::Post(const std::string& url, const std::string& body,
                            const Headers& headers) {
  return Perform("POST", url, &body, headers);
}
ClientResponse Client::Put(const std::string& url, const std::string& body,
                           const Headers& headers) {
  return Perform("PUT", url, &body, headers);
}
ClientResponse Client::Delete(const std::string& url, const Headers& headers) {
  return Perform("DELETE", url, nullptr, headers);
}

ClientResponse Client::Perform(const char* method, const std::string& url,
                               const std::string* body, const Headers& headers) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache, clears options from the last call
  ClientResponse response;
  char error[CURL_ERROR_SIZE] = {0};
  SlistGuard list;
  Headers all = options_.headers;
  for (const auto& [k, v] : headers) all[k] = v;
  for (const auto& [k, v] : all) list.list = curl_slist_append(list.list, (k + ": " + v).c_str());
  // Suppress curl's "Expect: 100-continue" round trip on POST/PUT.
  list.list = curl_slist_append(list.list, "Expect:");

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  BodySink sink{&response.body, options_.max_body_bytes};
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (std::string_view(method) == "GET") curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (!options_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_WRITE_ERROR && sink.over) {
    response.too_large = true;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }
  if (rc != CURLE_OK) {
    std::string reason = error[0] ? error : curl_easy_strerror(rc);
    // Bad URLs and unsupported protocols are configuration mistakes: retrying cannot help.
    bool retry = rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL;
    throw core::InfraError(std::string(method) + " " + url + " failed: " + reason,
                           retry ? core::Retry::kYes : core::Retry::kNo);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

std::string UrlEncode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

}  // namespace sluice::http

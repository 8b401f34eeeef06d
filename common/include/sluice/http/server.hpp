#pragma once
// The HTTP server every daemon runs beside its stage: /livez, /readyz and /metrics, plus any
// routes a component registers (the schema registry mounts the Confluent REST API here).
// Lifecycle: construct, register routes and checks, Start() (binds, serves on its own
// thread), Stop() or destroy. Routes must be registered before Start(); readiness checks may
// be added at any time. Handlers run on the server's worker threads and must be thread-safe.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace sluice::obs {
class Registry;
}

namespace sluice::http {

enum class Method { kGet, kPost, kPut, kDelete };

// One request as a handler sees it. Path parameters come from ":name" segments in the route.
struct Request {
  Method method = Method::kGet;
  std::string path;  // decoded path, without the query string
  std::string body;
  std::map<std::string, std::string> path_params;
  std::multimap<std::string, std::string> query;
  std::multimap<std::string, std::string> headers;  // as httplib gives them (case-insensitive)

  // First value of a query parameter, or fallback.
  std::string Query(const std::string& name, const std::string& fallback = {}) const;
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
  // First value of a header (case-insensitive), or fallback.
  std::string Header(const std::string& name, const std::string& fallback = {}) const;
  const std::string& Param(const std::string& name) const { return path_params.at(name); }
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::multimap<std::string, std::string> headers;
};

using Handler = std::function<Response(const Request&)>;

// Result of one readiness check: ok, and a short reason shown in /readyz when not ok.
struct CheckResult {
  bool ok = true;
  std::string detail;
};
using ReadinessCheck = std::function<CheckResult()>;

struct ServerOptions {
  std::string bind = "127.0.0.1";
  int port = 0;  // 0: the kernel picks a free port; read it with Port()
  int threads = 4;
};

// See the file comment for lifecycle and threading.
class Server {
 public:
  // metrics may be null (then /metrics serves an empty body); it must outlive the server.
  Server(ServerOptions options, const obs::Registry* metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // pattern: a literal path with ":name" segments, e.g. "/subjects/:subject/versions/:version".
  // A handler that throws answers 500 with {"error_code":500,"message":...}.
  void Route(Method method, const std::string& pattern, Handler handler);

  // Named check run by every /readyz request (keep it fast: no network calls; report
  // state that the stage keeps up to date). Re-adding a name replaces the check.
  void AddReadinessCheck(const std::string& name, ReadinessCheck check);

  // Binds and starts serving; throws core::InfraError(kNo) if the port cannot be bound.
  void Start();
  // Stops accepting, waits for in-flight requests, joins the thread. Idempotent.
  void Stop();
  int Port() const { return port_; }

 private:
  Response Readyz() const;

  ServerOptions options_;
  const obs::Registry* metrics_;
  mutable std::mutex checks_mu_;
  std::vector<std::pair<std::string, ReadinessCheck>> checks_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace sluice::http

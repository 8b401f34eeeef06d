#include "sluice/http/server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <atomic>
#include <chrono>
#include <regex>

#include "sluice/core/error.hpp"
#include "sluice/obs/metrics.hpp"

namespace sluice::http {

std::string Request::Query(const std::string& name, const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

std::string Request::Header(const std::string& name, const std::string& fallback) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return fallback;
}

namespace {

// Turns "/a/:x/b" into a regex with one capture group per ":name" segment (httplib matches
// the whole path).
std::string PatternToRegex(const std::string& pattern, std::vector<std::string>* names) {
  static const std::regex kSpecial(R"([.^$|()\[\]{}*+?\\])");
  std::string out;
  size_t i = 0;
  while (i <= pattern.size()) {
    size_t end = pattern.find('/', i);
    if (end == std::string::npos) end = pattern.size();
    std::string segment = pattern.substr(i, end - i);
    if (!segment.empty() && segment[0] == ':') {
      SLUICE_ASSERT(segment.size() > 1, "empty path parameter name");
      names->push_back(segment.substr(1));
      out += "([^/]+)";
    } else {
      out += std::regex_replace(segment, kSpecial, R"(\$&)");
    }
    if (end < pattern.size()) out += '/';
    i = end + 1;
  }
  return out;
}

void Apply(const Response& from, httplib::Response& to) {
  to.status = from.status;
  for (const auto& [k, v] : from.headers) to.set_header(k, v);
  to.set_content(from.body, from.content_type);
}

Response ErrorBody(int status, const std::string& message) {
  nlohmann::json j{{"error_code", status}, {"message", message}};
  return Response{status, j.dump(), "application/json", {}};
}

}  // namespace

Server::Server(ServerOptions options, const obs::Registry* metrics)
    : options_(std::move(options)), metrics_(metrics), server_(std::make_unique<httplib::Server>()) {
  int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default also sets SO_REUSEPORT, which lets two daemons configured with the same
  // port share it silently; keep only SO_REUSEADDR so the second one fails to start.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        Apply(ErrorBody(500, what), res);
      });
  Route(Method::kGet, "/livez", [](const Request&) {
    return Response{200, R"({"status":"ok"})", "application/json", {}};
  });
  Route(Method::kGet, "/readyz", [this](const Request&) { return Readyz(); });
  Route(Method::kGet, "/metrics", [this](const Request&) {
    return Response{200, metrics_ ? metrics_->Render() : std::string(),
                    "text/plain; version=0.0.4; charset=utf-8", {}};
  });
}

Server::~Server() { Stop(); }

void Server::Route(Method method, const std::string& pattern, Handler handler) {
  SLUICE_ASSERT(!started_, "routes must be registered before Start()");
  std::vector<std::string> names;
  std::string regex = PatternToRegex(pattern, &names);
  auto wrapped = [method, names, handler = std::move(handler)](const httplib::Request& req,
                                                               httplib::Response& res) {
    Request r;
    r.method = method;
    r.path = req.path;
    r.body = req.body;
    for (size_t i = 0; i < names.size() && i + 1 < req.matches.size(); ++i) {
      r.path_params[names[i]] = req.matches[i + 1].str();
    }
    for (const auto& [k, v] : req.params) r.query.emplace(k, v);
    for (const auto& [k, v] : req.headers) r.headers.emplace(k, v);
    Apply(handler(r), res);
  };
  switch (method) {
    case Method::kGet: server_->Get(regex, wrapped); break;
    case Method::kPost: server_->Post(regex, wrapped); break;
    case Method::kPut: server_->Put(regex, wrapped); break;
    case Method::kDelete: server_->Delete(regex, wrapped); break;
  }
}

void Server::AddReadinessCheck(const std::string& name, ReadinessCheck check) {
  std::lock_guard lock(checks_mu_);
  for (auto& [n, c] : checks_) {
    if (n == name) {
      c = std::move(check);
      return;
    }
  }
  checks_.emplace_back(name, std::move(check));
}

Response Server::Readyz() const {
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  bool all_ok = true;
  std::lock_guard lock(checks_mu_);
  for (const auto& [name, check] : checks_) {
    CheckResult r;
    try {
      r = check();
    } catch (const std::exception& e) {
      r = CheckResult{false, std::string("check threw: ") + e.what()};
    }
    all_ok = all_ok && r.ok;
    nlohmann::ordered_json c{{"name", name}, {"ok", r.ok}};
    if (!r.detail.empty()) c["detail"] = r.detail;
    checks.push_back(std::move(c));
  }
  nlohmann::ordered_json body{{"ready", all_ok}, {"checks", checks}};
  return Response{all_ok ? 200 : 503, body.dump(), "application/json", {}};
}

void Server::Start() {
  SLUICE_ASSERT(!started_, "Start() called twice");
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.bind);
    if (port_ < 0) port_ = 0;
  } else if (server_->bind_to_port(options_.bind, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0) {
    throw core::InfraError("cannot listen on " + options_.bind + ":" +
                               std::to_string(options_.port) + " (port in use?)",
                           core::Retry::kNo);
  }
  started_ = true;
  // The socket already listens, so requests queue until the thread runs the accept loop.
  auto loop_ended = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, loop_ended] {
    server_->listen_after_bind();
    loop_ended->store(true);
  });
  // httplib's stop() is a no-op until the accept loop runs, so a Stop() right after Start()
  // would leave the loop running forever; wait for it to start (it takes microseconds).
  while (!server_->is_running() && !loop_ended->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Server::Stop() {
  if (!started_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  started_ = false;
}

}  // namespace sluice::http

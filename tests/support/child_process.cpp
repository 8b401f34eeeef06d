#include "support/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "sluice/http/client.hpp"
#include "support/stack_env.hpp"

extern char** environ;

namespace sluice::testing {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) FAIL("socket: " << std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int error = errno;
  close(fd);
  if (!ok) FAIL("no free port on 127.0.0.1: " << std::strerror(error));
  return ntohs(addr.sin_port);
}

ChildProcess::ChildProcess(std::vector<std::string> argv,
                           const std::map<std::string, std::string>& env,
                           const std::string& output) {
  REQUIRE_FALSE(argv.empty());
  program_ = argv[0];
  // The environment is built before the spawn: the child must not allocate between fork and
  // exec (the test's librdkafka threads may hold the allocator's lock).
  std::vector<std::string> variables;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string variable(*e);
    if (env.count(variable.substr(0, variable.find('='))) == 0) variables.push_back(variable);
  }
  for (const auto& [name, value] : env) variables.push_back(name + "=" + value);
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!output.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  const int rc = posix_spawn(&pid_, program_.c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    FAIL("cannot start " << program_ << ": " << std::strerror(rc));
  }
}

ChildProcess::~ChildProcess() { Stop(); }

void ChildProcess::Reaped(int wait_status) {
  pid_ = -1;
  status_ = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int wait_status = 0;
  if (waitpid(pid_, &wait_status, WNOHANG) != pid_) return true;
  Reaped(wait_status);
  return false;
}

void ChildProcess::Signal(int signal) {
  REQUIRE(pid_ > 0);
  kill(pid_, signal);
}

int ChildProcess::Wait() {
  if (pid_ > 0) {
    int wait_status = 0;
    waitpid(pid_, &wait_status, 0);
    Reaped(wait_status);
  }
  return status_;
}

int ChildProcess::WaitExit(std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL(program_ << " did not exit within " << bound.count() << " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status_;
}

int ChildProcess::Stop() {
  if (pid_ > 0) kill(pid_, SIGTERM);
  return Wait();
}

RegistryProcess::RegistryProcess(std::string schemas_topic, int port)
    : schemas_topic_(std::move(schemas_topic)),
      port_(port),
      process_({std::string(SLUICE_BINARY_DIR) + "/bin/sluice-registry", "--port",
                std::to_string(port_), "--schemas-topic", schemas_topic_, "--brokers",
                RequireEnv("SLUICE_KAFKA_BROKERS"), "--log-level", "warn"}) {}

void RegistryProcess::WaitReady(std::chrono::seconds bound) {
  http::Client client({std::chrono::milliseconds(2000), std::chrono::milliseconds(500)});
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (!process_.Running()) {
      FAIL("sluice-registry on port " << port_ << " exited during start-up with status "
                                      << process_.Wait());
    }
    try {
      if (client.Get(Url() + "/readyz").status == 200) return;
    } catch (const std::exception&) {
      // not listening yet
    }
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL("sluice-registry on port " << port_ << " was not ready within " << bound.count() << " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace sluice::testing

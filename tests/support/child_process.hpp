#pragma once
// Processes for the tests that run Sluice's real binaries: a free loopback port, a child
// process, and a sluice-registry on the stack's broker. Failures fail the calling test with a
// message (Catch2); none of them skips.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace sluice::testing {

// Upper bound of a process start-up or exit wait: hitting it fails the test.
inline constexpr std::chrono::seconds kProcessBound{180};

// A TCP port on 127.0.0.1 that is free now (the kernel's pick; it is released before the
// caller binds it, so another process could take it first, which a test machine never does).
int FreePort();

// A child process running argv[0] (a path) with argv, in this process's environment plus
// `env`; with `output` set, its stdout and stderr both go to that file (truncated), for tests
// that read what it printed. Destruction stops it (SIGTERM, then waits) if it still runs. One
// thread at a time.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv,
                        const std::map<std::string, std::string>& env = {},
                        const std::string& output = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // False once it has exited (and is reaped).
  bool Running();
  void Signal(int signal);
  // Waits for the exit: the exit code, or 128 + N when signal N ended it.
  int Wait();
  // Waits for it to exit by itself within `bound`; fails the test otherwise.
  int WaitExit(std::chrono::seconds bound = kProcessBound);
  // SIGTERM, then Wait(). Once exited, the exit status again.
  int Stop();

 private:
  void Reaped(int wait_status);

  std::string program_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// This build's sluice-registry on 127.0.0.1:port, keeping its state in `schemas_topic` on
// $SLUICE_KAFKA_BROKERS. Two instances on one topic share their state, and a new one on the
// same topic and port continues where a stopped one left off.
class RegistryProcess {
 public:
  explicit RegistryProcess(std::string schemas_topic, int port = FreePort());

  // Polls /readyz until it answers 200; fails the test if the process exits or `bound` passes.
  void WaitReady(std::chrono::seconds bound = kProcessBound);
  // SIGTERM, then the exit status (0 for a clean shutdown).
  int Stop() { return process_.Stop(); }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& SchemasTopic() const { return schemas_topic_; }

 private:
  std::string schemas_topic_;
  int port_;
  ChildProcess process_;
};

}  // namespace sluice::testing

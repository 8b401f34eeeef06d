#include "cli_context.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"

extern char** environ;

namespace sluice::cli {

namespace fs = std::filesystem;
using core::ConfigError;

namespace {

bool IsCheckout(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p / "deploy/local/pipeline", ec) && fs::exists(p / "deploy/local/lib/pipeline_tool.py", ec);
}

std::optional<fs::path> FindUp(fs::path p) {
  for (; !p.empty(); p = p.parent_path()) {
    if (IsCheckout(p)) return p;
    if (p == p.parent_path()) break;
  }
  return std::nullopt;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int Spawn(const std::vector<std::string>& argv, int out_fd) {
  // What this process printed so far comes before the child's output.
  std::cout.flush();
  std::cerr.flush();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw core::InfraError("cannot run " + argv[0] + ": " + std::strerror(rc), core::Retry::kNo);
  return pid;
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

CliContext FindContext(const char* argv0) {
  CliContext ctx;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) exe = fs::absolute(argv0);
  if (!Env("SLUICE_ROOT").empty()) {
    ctx.root = Env("SLUICE_ROOT");
    if (!IsCheckout(ctx.root)) throw ConfigError("SLUICE_ROOT=" + ctx.root.string() + " is not a Sluice checkout");
  } else if (auto r = FindUp(exe.parent_path())) {
    ctx.root = *r;
  } else if (auto c = FindUp(fs::current_path())) {
    ctx.root = *c;
  } else {
    throw ConfigError("cannot find the Sluice checkout (deploy/local/pipeline) above " + exe.string() +
                      " or the current directory: set SLUICE_ROOT");
  }
  ctx.bin_dir = Env("SLUICE_BIN_DIR").empty() ? exe.parent_path() : fs::path(Env("SLUICE_BIN_DIR"));
  ctx.build_dir = ctx.bin_dir.parent_path();
  return ctx;
}

PipelineFacts LoadPipeline(const CliContext& ctx, const std::string& name_or_file, const std::string& dir) {
  PipelineFacts f;
  const fs::path as_path(name_or_file);
  if (as_path.extension() == ".yaml" || as_path.extension() == ".yml") {
    f.file = fs::absolute(as_path);
  } else {
    const fs::path base = dir.empty() ? ctx.root / "pipelines" : fs::absolute(dir);
    f.file = base / name_or_file / "pipeline.yaml";
  }
  if (!fs::is_regular_file(f.file)) {
    throw ConfigError("no pipeline '" + name_or_file + "': " + f.file.string() +
                      " does not exist (sluice pipeline new creates one; --dir says where pipelines are)");
  }
  f.file = fs::canonical(f.file);
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(f.file.string());
  } catch (const YAML::Exception& e) {
    throw ConfigError(f.file.string() + ": " + e.what());
  }
  if (!doc["pipeline"]) throw ConfigError(f.file.string() + ": no 'pipeline:' name");
  f.name = doc["pipeline"].as<std::string>();
  f.dlq_topic = doc["topics"] && doc["topics"]["dlq"] ? doc["topics"]["dlq"].as<std::string>() : f.name + ".dlq";
  f.table = doc["sink"] && doc["sink"]["table"] ? doc["sink"]["table"].as<std::string>() : "";
  if (doc["producer"] && doc["producer"]["sources"]) {
    for (const auto& s : doc["producer"]["sources"]) {
      if (s["type"] && s["type"].as<std::string>() == "csv" && s["dir"]) {
        fs::path inbox = s["dir"].as<std::string>();
        if (inbox.is_relative()) inbox = f.file.parent_path() / inbox;
        f.inbox = inbox.lexically_normal();
        break;
      }
    }
  }
  return f;
}

void LoadStackEnv(const CliContext& ctx) {
  if (!Env("SLUICE_KAFKA_BROKERS").empty()) return;
  std::string out;
  if (RunCapture({(ctx.root / "deploy/local/stack").string(), "env"}, &out) != 0) {
    throw ConfigError("SLUICE_KAFKA_BROKERS is unset and `deploy/local/stack env` failed");
  }
  // Lines of `export A=1 B=2` with values free of spaces and quotes.
  std::istringstream lines(out);
  std::string word;
  while (lines >> word) {
    const auto eq = word.find('=');
    if (word == "export" || eq == std::string::npos) continue;
    setenv(word.substr(0, eq).c_str(), word.substr(eq + 1).c_str(), 0);
  }
}

int Run(const std::vector<std::string>& argv) { return WaitFor(Spawn(argv, -1)); }

int RunCapture(const std::vector<std::string>& argv, std::string* out) {
  int fds[2];
  if (pipe(fds) != 0) throw core::InfraError("pipe: " + std::string(std::strerror(errno)), core::Retry::kNo);
  pid_t pid = 0;
  try {
    pid = Spawn(argv, fds[1]);
  } catch (...) {
    close(fds[0]);
    close(fds[1]);
    throw;
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out->append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  return WaitFor(pid);
}

}  // namespace sluice::cli

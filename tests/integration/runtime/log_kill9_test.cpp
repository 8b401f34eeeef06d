// A log line written just before a kill -9 is in the file (issue #20): a child process logs
// to stdout redirected to a file, through an obs::Logger and through spdlog's default logger
// (which librdkafka's log callback and the PostgreSQL connection's retries use), then
// SIGKILLs itself. Nothing may be left in a stdio buffer.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "sluice/obs/log.hpp"

TEST_CASE("log lines from every logger reach the file before a kill -9") {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("sluice-log-kill9-" + std::to_string(getpid()));
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(3);
    sluice::obs::ConfigureLogging({"sluice-test"});
    sluice::obs::Logger("stage").Warn("marker from a stage logger");
    spdlog::warn("marker from the default logger");
    spdlog::info("info from the default logger");
    raise(SIGKILL);
    _exit(4);  // not reached
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(file);
  INFO("the file holds: " << text.str());
  CHECK(text.str().find("marker from a stage logger") != std::string::npos);
  CHECK(text.str().find("marker from the default logger") != std::string::npos);
  CHECK(text.str().find("info from the default logger") != std::string::npos);
}

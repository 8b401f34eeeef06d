#include "support/stack_env.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <random>

namespace sluice::testing {

std::string RequireEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    FAIL(name << " is not set: run `eval \"$(deploy/local/stack env)\"` (after `deploy/local/stack up`)");
  }
  return value;
}

std::string RandomSuffix() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(digits, 10);
}

}  // namespace sluice::testing

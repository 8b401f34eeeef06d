#pragma once
// Shared by the *_pgtest.cpp files: the connection string from the environment (a missing
// variable fails the test with a clear message; a tier never passes by skipping) and unique
// names so that concurrent test runs never touch each other's tables.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>
#include <string>

namespace sluice::pg::testing {

inline std::string RequirePgConninfo() {
  const char* url = std::getenv("SLUICE_PG_URL");
  if (url != nullptr && *url != '\0') return url;
  const char* host = std::getenv("PGHOST");
  if (host == nullptr || *host == '\0') {
    FAIL("neither SLUICE_PG_URL nor PGHOST is set: run `eval \"$(deploy/local/stack env)\"` "
         "after `deploy/local/stack up`");
  }
  return "";  // libpq reads the PG* variables itself
}

inline std::string UniqueName(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string name = prefix + "_";
  for (int i = 0; i < 10; ++i) name += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return name;
}

}  // namespace sluice::pg::testing

#pragma once
// What the tests on the local stack read from the environment, and names no other test run
// uses.
#include <string>

namespace sluice::testing {

// The variable's value; fails the test, saying how to set it, when it is unset or empty.
std::string RequireEnv(const char* name);

// Ten random lowercase hex digits, for topic, group, table and pipeline names that concurrent
// and repeated test runs never share.
std::string RandomSuffix();

}  // namespace sluice::testing

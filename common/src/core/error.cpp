#include "sluice/core/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace sluice::core {

void AssertFail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "assertion failed: %s (%s) at %s:%d\n", expr, msg, file, line);
  std::abort();
}

}  // namespace sluice::core

#pragma once
// Runs a loop (runtime::TransformLoop, runtime::SinkLoop: anything with Run()) on its own thread until `done()` holds (or `limit` has passed,
// so a broken loop fails the test instead of hanging it), then requests shutdown, joins, and
// rethrows whatever the loop threw. Header-only: the tests that use it link the runtime.
#include <chrono>
#include <exception>
#include <functional>
#include <thread>

#include "sluice/core/shutdown.hpp"

namespace sluice::testing {

template <class Loop>
void RunLoopUntil(Loop& loop, core::ShutdownSource& stop,
                         const std::function<bool()>& done, std::chrono::seconds limit) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      loop.Run();
    } catch (...) {
      error = std::current_exception();
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && !error && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop.Request();
  t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace sluice::testing

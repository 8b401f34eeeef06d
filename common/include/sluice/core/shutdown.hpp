#pragma once
// Cooperative shutdown. The runtime owns a ShutdownSource and turns SIGTERM/SIGINT into
// Request(); stages hold ShutdownTokens and check Requested() between batches, or sleep with
// WaitFor() so a backoff or poll interval ends as soon as shutdown is asked for.
// Both are cheap to copy and thread-safe.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace sluice::core {

namespace detail {
struct ShutdownState {
  std::mutex mu;
  std::condition_variable cv;
  bool requested = false;
};
}  // namespace detail

// Observer side: may only read.
class ShutdownToken {
 public:
  // A token that is never cancelled (for tests and tools that run to completion).
  ShutdownToken() : state_(std::make_shared<detail::ShutdownState>()) {}

  bool Requested() const {
    std::lock_guard lock(state_->mu);
    return state_->requested;
  }
  // Sleeps up to `timeout`; returns true as soon as shutdown is requested.
  template <class Rep, class Period>
  bool WaitFor(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, timeout, [&] { return state_->requested; });
  }
  // Blocks until shutdown is requested.
  void Wait() const {
    std::unique_lock lock(state_->mu);
    state_->cv.wait(lock, [&] { return state_->requested; });
  }

 private:
  friend class ShutdownSource;
  explicit ShutdownToken(std::shared_ptr<detail::ShutdownState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::ShutdownState> state_;
};

// Owner side: requests shutdown. Not async-signal-safe: call it from a normal thread (the
// runtime's signal thread does).
class ShutdownSource {
 public:
  ShutdownSource() : state_(std::make_shared<detail::ShutdownState>()) {}

  void Request() {
    {
      std::lock_guard lock(state_->mu);
      state_->requested = true;
    }
    state_->cv.notify_all();
  }
  bool Requested() const { return Token().Requested(); }
  ShutdownToken Token() const { return ShutdownToken(state_); }

 private:
  std::shared_ptr<detail::ShutdownState> state_;
};

}  // namespace sluice::core

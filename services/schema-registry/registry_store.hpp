#pragma once
// RegistryStore: the in-memory state plus the `_schemas` log behind it, with optimistic
// single-writer semantics across any number of registry instances.
//
// Write protocol (after Redpanda's registry): a writer catches up to the log end E, plans its
// change on that state, stamps the record's key with seq=E and its node id, appends it and
// reads the log up to its own record. Every instance applies a stamped record only when
// seq == its offset, i.e. when it was planned on exactly the state that precedes it. A loser
// (another write landed first) sees its record ignored, tombstones it and retries on the
// newer state. So no id or version can be handed out twice, whatever the interleaving.
//
// Lifecycle: construct, then call Poll() from one tail thread (or CatchUp from anywhere).
// Threading: all methods are thread-safe. Writes are serialised within an instance.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "registry_state.hpp"
#include "schemas_log.hpp"

namespace sluice::schema_registry {

// What a write wants to append: at most one stamped record (the change itself) and any number
// of tombstones for keys it makes obsolete. A plan with neither writes nothing.
struct WritePlan {
  struct Record {
    LogKey key;  // seq/node are filled in by the store
    std::string value;
  };
  std::optional<Record> record;
  std::vector<std::string> tombstones;
};

// Called with the caught-up state; may be called several times (once per attempt), so it
// must only write its results into the caller's variables, never act on the outside world.
using Planner = std::function<WritePlan(const RegistryState&)>;

// A write gave up (the log stayed contended or unreachable). Maps to 50001/50002.
class StoreError : public std::runtime_error {
 public:
  StoreError(std::string what, bool timeout) : std::runtime_error(std::move(what)), timeout_(timeout) {}
  bool Timeout() const { return timeout_; }

 private:
  bool timeout_;
};

struct StoreOptions {
  std::chrono::milliseconds write_timeout{10'000};
  int max_write_attempts = 20;
};

class RegistryStore {
 public:
  RegistryStore(SchemasLog& log, std::int64_t node_id, StoreOptions options = {});

  // Reads what the log has (waiting up to timeout for the first record) and applies it.
  // Returns the number of records read. Throws core::InfraError from the transport.
  std::size_t Poll(std::chrono::milliseconds timeout);
  // Reads until every record below the log's current end is applied, or the deadline passes
  // (then throws StoreError{timeout}). Marks the store caught up on success.
  void CatchUp(std::chrono::steady_clock::time_point deadline);
  // True once a CatchUp succeeded (the start-up read of the whole log): /readyz.
  bool CaughtUp() const;

  // Runs f(state) under the read lock.
  template <typename F>
  auto Read(F&& f) const {
    std::shared_lock lock(state_mu_);
    return f(state_);
  }

  // Plans on a caught-up state and appends until the stamped record lands at its seq.
  // Throws StoreError when it cannot (timeout or too many lost races).
  void Write(const Planner& planner);

  std::int64_t NodeId() const { return node_id_; }
  // Races this instance lost so far (its stamped record landed behind another write).
  std::uint64_t LostRaces() const;

 private:
  void ReadUntil(std::int64_t offset, std::chrono::steady_clock::time_point deadline);
  void AppendTombstones(const std::vector<std::string>& keys);

  SchemasLog& log_;
  std::int64_t node_id_;
  StoreOptions options_;

  mutable std::shared_mutex state_mu_;
  RegistryState state_;
  std::mutex read_mu_;   // one reader drives the log at a time
  std::mutex write_mu_;  // one write at a time per instance
  mutable std::mutex stats_mu_;
  bool caught_up_ = false;
  std::uint64_t lost_races_ = 0;
};

// A random node id for this process (63 bits, so it is a positive JSON integer).
std::int64_t RandomNodeId();

}  // namespace sluice::schema_registry

// dedupe: a key already seen within the window (records whose timestamp is within `window`
// of this one, at most `max_keys` keys) is a duplicate.
//
// Keys are remembered as 128-bit digests, not as strings: two 64-bit hashes of the joined key
// by two different algorithms (FNV-1a with a mixing finalizer, and libstdc++'s murmur-based
// std::hash), 16 bytes a key whatever its length. A false duplicate needs both to collide at
// once. The digests live in memory only (the window is rebuilt from the output topic at
// start), so the second hash need not be stable across builds.
#include <climits>
#include <deque>
#include <functional>
#include <string_view>
#include <unordered_map>

#include "rule.hpp"
#include "sluice/stages/csv_reader.hpp"

namespace sluice::stages::rules {
namespace {

class Dedupe final : public Rule {
 public:
  explicit Dedupe(const ComponentInput& in)
      : Rule(in),
        key_(in.options.Strings("key")),
        time_ms_(in.options.Duration("window").count()),
        max_keys_(static_cast<std::size_t>(in.options.Int("max_keys"))) {
    if (key_.empty()) in.Fail("key", "must not be empty");
    if (time_ms_ <= 0) in.Fail("window", "must be > 0");
  }

  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    Expire(ctx.timestamp_ms);
    bool all_null = true;
    for (const auto& f : key_) all_null = all_null && IsNull(row.Get(f));
    if (all_null) return Step::kContinue;
    if (seen_.count(DigestOf(row)) == 0) return Step::kContinue;
    return Violation(ctx, "duplicate key " + ShowKey(row, key_) + " within the window", reason, kNoFix);
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    AddUses(uses, "key", key_, FieldAccess::kRead);
    return uses;
  }

  void Commit(const Row& row, std::int64_t ts) override {
    bool all_null = true;
    for (const auto& f : key_) all_null = all_null && IsNull(row.Get(f));
    if (all_null) return;
    // Stamps must not go backwards or expiry (front to back) would be wrong: a record older
    // than the newest one seen counts as seen at the newest time.
    newest_ = std::max(newest_, ts);
    const Digest key = DigestOf(row);
    seen_[key] = ++seq_;
    order_.push_back(Entry{key, seq_, newest_});
    while (order_.size() > max_keys_) PopFront();
  }

 private:
  struct Digest {
    std::uint64_t a, b;
    friend bool operator==(const Digest&, const Digest&) = default;
  };
  struct DigestHash {
    std::size_t operator()(const Digest& d) const { return static_cast<std::size_t>(d.a); }
  };
  Digest DigestOf(const Row& row) const {
    const std::string key = KeyOf(row, key_);
    return {StableHash64(key), std::hash<std::string_view>{}(key)};
  }

  struct Entry {
    Digest key;
    std::uint64_t seq;  // identifies the entry: a key can be in the window more than once
    std::int64_t ts;
  };

  void Expire(std::int64_t now) {
    while (!order_.empty() && order_.front().ts < now - time_ms_) PopFront();
  }
  void PopFront() {
    const Entry& e = order_.front();
    if (auto it = seen_.find(e.key); it != seen_.end() && it->second == e.seq) seen_.erase(it);
    order_.pop_front();
  }

  std::vector<std::string> key_;
  std::int64_t time_ms_ = 0;
  std::size_t max_keys_ = 0;
  std::int64_t newest_ = INT64_MIN;
  std::uint64_t seq_ = 0;
  std::unordered_map<Digest, std::uint64_t, DigestHash> seen_;
  std::deque<Entry> order_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject", {"reject", "flag", "drop"});
  s.Add("key", T::kList).Required().Describe("Fields that identify a duplicate").Example("[loan_id]");
  s.Add("window", T::kDuration).Default("24h").Describe("How long a key is remembered").Example("1h");
  s.Add("max_keys", T::kInt).Default("1000000").Min(1).Describe("Most keys remembered (oldest evicted first)").Example("100000");
}

}  // namespace

RuleType DedupeRule() {
  return {"dedupe", "A record whose key was seen within the window is a duplicate", Declare,
          {"{name: once, action: drop, key: [loan_id], window: 1h, max_keys: 1000}"},
          [](const ComponentInput& in) { return std::make_shared<Dedupe>(in); }};
}

}  // namespace sluice::stages::rules

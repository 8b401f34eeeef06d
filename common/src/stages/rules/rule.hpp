#pragma once
// Internal to the cleaner: the base of every rule type and what rules share. Each rule type
// lives in its own file in this folder - its declaration (options, examples), its factory
// and its logic - and the cleaner's table (cleaner.cpp, CleanerRules) lists them.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/stages/component.hpp"
#include "sluice/stages/dlq_code.hpp"
#include "sluice/stages/field_use.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages::rules {

enum class Action { kReject, kFlag, kFix, kDrop };

struct RuleContext {
  std::vector<std::string>* flags;
  std::int64_t timestamp_ms;
};

enum class Step { kContinue, kReject, kDrop };

// A compiled rule. Apply may read but not change the running state; Commit updates it with
// the final row of an emitted record.
class Rule {
 public:
  explicit Rule(const ComponentInput& in);
  virtual ~Rule() = default;
  virtual Step Apply(Row& row, RuleContext& ctx, std::string* reason) = 0;
  virtual void Commit(const Row&, std::int64_t) {}
  // The record was rejected or dropped: forget per-record marks made by Apply.
  virtual void Abandon() {}
  // Called once by the Cleaner when every rule is built: the type each field was left in by
  // the coerce rules before this one ("timestamp", "date", "int", ...) and the clean schema.
  // Throws core::ConfigError when the rule cannot work in that place.
  virtual void Bind(const std::map<std::string, std::string>& coerced_before, const RecordSpec& output) {
    (void)coerced_before;
    (void)output;
  }
  // The DLQ code of a reject: kRule (under the rule's name) unless the rule has a fixed word.
  virtual DlqCode RejectCode() const { return DlqCode::kRule; }
  virtual std::vector<FieldUse> Fields() const = 0;
  const std::string& name() const { return name_; }
  Action action() const { return action_; }

 protected:
  // Applies the action to a violation. `fix` repairs the row for action fix.
  template <typename Fix>
  Step Violation(RuleContext& ctx, std::string why, std::string* reason, Fix&& fix) {
    switch (action_) {
      case Action::kReject:
        *reason = std::move(why);
        return Step::kReject;
      case Action::kDrop:
        *reason = std::move(why);
        return Step::kDrop;
      case Action::kFlag:
        if (std::find(ctx.flags->begin(), ctx.flags->end(), name_) == ctx.flags->end()) {
          ctx.flags->push_back(name_);
        }
        return Step::kContinue;
      case Action::kFix:
        fix();
        return Step::kContinue;
    }
    return Step::kContinue;
  }

  std::string name_;
  Action action_ = Action::kReject;
};

using RuleType = ComponentType<Rule>;

inline constexpr auto kNoFix = [] {};

// The options every rule has: name, and action (`actions` allowed, `default_action` if unset).
void DeclareRuleCommon(config::Section& s, const std::string& default_action,
                       std::vector<std::string> actions = {"reject", "flag", "fix"});

// Case- and whitespace-insensitive form used to match allowed values and maps.
std::string Normalize(std::string_view s);
std::string FormatNumber(double d);
// Null, or text that is blank.
bool IsMissing(const Value& v);
// Uses of each name in `fields`, keyed "key[i]".
void AddUses(std::vector<FieldUse>& out, const std::string& key,
             const std::vector<std::string>& fields, FieldAccess access);
// The field(s) a per-field rule (coerce, range, allowed) applies to: `field: a` or
// `fields: [a, b]`, exactly one of the two (DeclareTargetFields). Fields() gives their uses
// keyed "field" or "fields[i]".
class TargetFields {
 public:
  explicit TargetFields(const ComponentInput& in);
  const std::vector<std::string>& names() const { return names_; }
  std::vector<FieldUse> Uses() const;

 private:
  std::vector<std::string> names_;
  bool list_ = false;  // written as `fields:`
};
// Declares `field` and `fields` (exactly one of them); `example` is an example field name.
void DeclareTargetFields(config::Section& s, const std::string& what, const std::string& example);

// A rule that checks or converts each of its target fields alike (`field:` or `fields:`):
// Apply runs ApplyTo on each field in order and stops at the first that rejects or drops.
class FieldsRule : public Rule {
 public:
  explicit FieldsRule(const ComponentInput& in) : Rule(in), fields_(in) {}
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) final {
    for (const auto& field : fields_.names()) {
      if (Step step = ApplyTo(field, row, ctx, reason); step != Step::kContinue) return step;
    }
    return Step::kContinue;
  }
  std::vector<FieldUse> Fields() const override { return fields_.Uses(); }

 protected:
  virtual Step ApplyTo(const std::string& field, Row& row, RuleContext& ctx, std::string* reason) = 0;

  TargetFields fields_;
};

// The values of `by` joined, as a map key; and as "a=1,b=2" for messages.
std::string KeyOf(const Row& row, const std::vector<std::string>& by);
std::string ShowKey(const Row& row, const std::vector<std::string>& by);

// Running statistics per key, bounded: at most max_keys keys, `window` recent values each
// for the median.
class KeyedStats {
 public:
  KeyedStats(std::size_t max_keys, std::size_t window) : max_keys_(max_keys), window_(window) {}

  struct Stat {
    std::uint64_t count = 0;
    double mean = 0, m2 = 0;  // Welford
    std::deque<double> recent;
    double Variance() const { return count > 1 ? m2 / static_cast<double>(count - 1) : 0.0; }
    double Median() const;
  };

  const Stat* Find(const std::string& key) const;
  void Observe(const std::string& key, double x);

 private:
  std::size_t max_keys_, window_;
  std::unordered_map<std::string, Stat> stats_;
};

// The rule types, one per file.
RuleType RequiredRule();
RuleType CoerceRule();
RuleType RangeRule();
RuleType RegexRule();
RuleType AllowedRule();
RuleType ImputeRule();
RuleType DedupeRule();
RuleType OutlierRule();
RuleType SyntheticDateRule();
RuleType LateRule();

}  // namespace sluice::stages::rules

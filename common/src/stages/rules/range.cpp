// range: numeric bounds (inclusive). fix clamps.
#include <optional>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Range final : public FieldsRule {
 public:
  explicit Range(const ComponentInput& in)
      : FieldsRule(in),
        min_(in.options.OptionalDouble("min")),
        max_(in.options.OptionalDouble("max")) {
    if (min_ && max_ && *min_ > *max_) in.Fail("min", "min is greater than max");
  }

 private:
  Step ApplyTo(const std::string& field, Row& row, RuleContext& ctx, std::string* reason) override {
    const Value& v = row.Get(field);
    if (IsNull(v)) return Step::kContinue;
    auto x = AsNumber(v);
    if (!x) {
      return Violation(ctx, field + ": " + Describe(v) + " is not a number", reason,
                       [&] { row.Set(field, Null{}); });
    }
    if ((min_ && *x < *min_) || (max_ && *x > *max_)) {
      const std::string bounds = "[" + (min_ ? FormatNumber(*min_) : "-inf") + ", " +
                                 (max_ ? FormatNumber(*max_) : "inf") + "]";
      return Violation(ctx, field + ": " + FormatNumber(*x) + " is outside " + bounds, reason, [&] {
        const double c = std::clamp(*x, min_.value_or(*x), max_.value_or(*x));
        if (std::holds_alternative<std::int64_t>(v)) row.Set(field, static_cast<std::int64_t>(c));
        else row.Set(field, c);
      });
    }
    return Step::kContinue;
  }

  std::optional<double> min_, max_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject");
  DeclareTargetFields(s, "Numeric field", "annual_inc");
  s.Add("min", T::kDouble).Describe("Smallest allowed value").Example("0");
  s.Add("max", T::kDouble).Describe("Largest allowed value").Example("100");
  s.Check(config::OneOf({"min", "max"}, false));
}

}  // namespace

RuleType RangeRule() {
  return {"range", "Numeric bounds (inclusive); fix clamps the value", Declare,
          {"{name: rate, action: fix, field: int_rate, min: 0, max: 40}",
           "{fields: [revol_util, all_util], max: 150}"},
          [](const ComponentInput& in) { return std::make_shared<Range>(in); }};
}

}  // namespace sluice::stages::rules

// range: numeric bounds (inclusive). fix clamps.
#include <optional>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Range final : public Rule {
 public:
  explicit Range(const ComponentInput& in)
      : Rule(in),
        field_(in.options.String("field")),
        min_(in.options.OptionalDouble("min")),
        max_(in.options.OptionalDouble("max")) {
    if (min_ && max_ && *min_ > *max_) in.Fail("min", "min is greater than max");
  }
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value v = row.Get(field_);
    if (IsNull(v)) return Step::kContinue;
    auto x = AsNumber(v);
    if (!x) {
      return Violation(ctx, field_ + ": " + Describe(v) + " is not a number", reason,
                       [&] { row.Set(field_, Null{}); });
    }
    if ((min_ && *x < *min_) || (max_ && *x > *max_)) {
      const std::string bounds = "[" + (min_ ? FormatNumber(*min_) : "-inf") + ", " +
                                 (max_ ? FormatNumber(*max_) : "inf") + "]";
      return Violation(ctx, field_ + ": " + FormatNumber(*x) + " is outside " + bounds, reason, [&] {
        const double c = std::clamp(*x, min_.value_or(*x), max_.value_or(*x));
        if (std::holds_alternative<std::int64_t>(v)) row.Set(field_, static_cast<std::int64_t>(c));
        else row.Set(field_, c);
      });
    }
    return Step::kContinue;
  }
  std::vector<FieldUse> Fields() const override { return {{field_, "field", FieldAccess::kUpdate}}; }

 private:
  std::string field_;
  std::optional<double> min_, max_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject");
  s.Add("field", T::kString).Required().Describe("Numeric field").Example("annual_inc");
  s.Add("min", T::kDouble).Describe("Smallest allowed value").Example("0");
  s.Add("max", T::kDouble).Describe("Largest allowed value").Example("100");
  s.Check(config::OneOf({"min", "max"}, false));
}

}  // namespace

RuleType RangeRule() {
  return {"range", "Numeric bounds (inclusive); fix clamps the value", Declare,
          {"{name: rate, action: fix, field: int_rate, min: 0, max: 40}"},
          [](const ComponentInput& in) { return std::make_shared<Range>(in); }};
}

}  // namespace sluice::stages::rules

// regex: the value's text must match the whole pattern.
#include <regex>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Regex final : public Rule {
 public:
  explicit Regex(const ComponentInput& in)
      : Rule(in), field_(in.options.String("field")), pattern_(in.options.String("regex")) {
    try {
      regex_ = std::regex(pattern_, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      in.Fail("regex", std::string("invalid regular expression: ") + e.what());
    }
  }
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value& v = row.Get(field_);
    if (IsNull(v)) return Step::kContinue;
    const std::string* s = std::get_if<std::string>(&v);
    if (s ? std::regex_match(*s, regex_) : std::regex_match(AsText(v), regex_)) return Step::kContinue;
    return Violation(ctx, field_ + ": " + Describe(v) + " does not match " + pattern_, reason,
                     [&] { row.Set(field_, Null{}); });
  }
  std::vector<FieldUse> Fields() const override {
    FieldUse use{field_, "field", FieldAccess::kUpdate};
    use.compares_text = true;
    use.number_text_passes = true;  // a pattern like '36|60' is written for a number's text
    return {use};
  }

 private:
  std::string field_, pattern_;
  std::regex regex_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject");
  s.Add("field", T::kString).Required().Describe("Field to check").Example("sub_grade");
  s.Add("regex", T::kString).Required().Describe("ECMAScript regular expression; fix sets a non-matching value to null").Example("'[A-G][1-5]'");
  s.Check(config::RegexCompiles("regex"));
}

}  // namespace

RuleType RegexRule() {
  return {"regex", "The field's text must match a regular expression (whole value)", Declare,
          {"{name: grade, action: flag, field: sub_grade, regex: '[A-G][1-5]'}"},
          [](const ComponentInput& in) { return std::make_shared<Regex>(in); }};
}

}  // namespace sluice::stages::rules

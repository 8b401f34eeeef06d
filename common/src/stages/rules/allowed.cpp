// allowed: the value must be one of `values` or a key of `map`; matching ignores case and
// extra whitespace, and the output is the canonical spelling.
#include <unordered_map>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Allowed final : public FieldsRule {
 public:
  explicit Allowed(const ComponentInput& in)
      : FieldsRule(in),
        case_sensitive_(in.options.Bool("case_sensitive")) {
    const auto values = in.options.Strings("values");
    const auto map = in.options.StringMap("map");
    if (values.empty() && map.empty()) in.Fail("", "an allowed rule needs values, map or both");
    for (const auto& v : values) canonical_[Key(v)] = v;
    for (const auto& [variant, canonical] : map) canonical_[Key(variant)] = canonical;
    for (const auto& [key, canonical] : canonical_) number_passes_ = number_passes_ || ParseDouble(key);
  }
  std::vector<FieldUse> Fields() const override {
    auto uses = fields_.Uses();
    for (auto& use : uses) {
      use.compares_text = true;
      use.number_text_passes = number_passes_;
    }
    return uses;
  }

 private:
  Step ApplyTo(const std::string& field, Row& row, RuleContext& ctx, std::string* reason) override {
    const Value& v = row.Get(field);
    if (IsNull(v)) return Step::kContinue;
    if (auto it = canonical_.find(Key(AsText(v))); it != canonical_.end()) {
      row.Set(field, it->second);
      return Step::kContinue;
    }
    return Violation(ctx, field + ": " + Describe(v) + " is not an allowed value", reason,
                     [&] { row.Set(field, Null{}); });
  }

  // Matching ignores surrounding and repeated whitespace, and case unless case_sensitive.
  std::string Key(std::string_view s) const {
    if (!case_sensitive_) return Normalize(s);
    std::string out;
    bool space = false;
    for (char c : Trim(s)) {
      if (c == ' ' || c == '\t') {
        space = true;
        continue;
      }
      if (space && !out.empty()) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
    return out;
  }

  bool case_sensitive_ = false;
  bool number_passes_ = false;  // some accepted text is a number
  std::unordered_map<std::string, std::string> canonical_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject");
  DeclareTargetFields(s, "Field to check", "addr_state");
  s.Add("values", T::kList).Default("[]").Describe("Canonical allowed values").Example("[CA, NY, TX]");
  s.Add("map", T::kMap).Default("{}").Describe("Variant -> canonical value, applied first").Example("{California: CA, 'N.Y.': NY}");
  s.Add("case_sensitive", T::kBool).Default("false").Describe("Compare case-sensitively").Example("true");
  s.Check(config::OneOf({"values", "map"}, false));
}

}  // namespace

RuleType AllowedRule() {
  return {"allowed", "Allowed values, with a mapping that standardizes variants", Declare,
          {"{name: state, action: fix, field: addr_state, values: [CA, NY], map: {California: CA}, case_sensitive: true}",
           "{fields: [has_job, has_car], values: [yes, no]}"},
          [](const ComponentInput& in) { return std::make_shared<Allowed>(in); }};
}

}  // namespace sluice::stages::rules

// allowed: the value must be one of `values` or a key of `map`; matching ignores case and
// extra whitespace, and the output is the canonical spelling.
#include <unordered_map>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Allowed final : public Rule {
 public:
  explicit Allowed(const ComponentInput& in)
      : Rule(in),
        field_(in.options.String("field")),
        case_sensitive_(in.options.Bool("case_sensitive")) {
    const auto values = in.options.Strings("values");
    const auto map = in.options.StringMap("map");
    if (values.empty() && map.empty()) in.Fail("", "an allowed rule needs values, map or both");
    for (const auto& v : values) canonical_[Key(v)] = v;
    for (const auto& [variant, canonical] : map) canonical_[Key(variant)] = canonical;
  }
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value v = row.Get(field_);
    if (IsNull(v)) return Step::kContinue;
    if (auto it = canonical_.find(Key(AsText(v))); it != canonical_.end()) {
      row.Set(field_, it->second);
      return Step::kContinue;
    }
    return Violation(ctx, field_ + ": " + Describe(v) + " is not an allowed value", reason,
                     [&] { row.Set(field_, Null{}); });
  }
  std::vector<FieldUse> Fields() const override { return {{field_, "field", FieldAccess::kUpdate}}; }

 private:
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

  std::string field_;
  bool case_sensitive_ = false;
  std::unordered_map<std::string, std::string> canonical_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject");
  s.Add("field", T::kString).Required().Describe("Field to check").Example("addr_state");
  s.Add("values", T::kList).Default("[]").Describe("Canonical allowed values").Example("[CA, NY, TX]");
  s.Add("map", T::kMap).Default("{}").Describe("Variant -> canonical value, applied first").Example("{California: CA, 'N.Y.': NY}");
  s.Add("case_sensitive", T::kBool).Default("false").Describe("Compare case-sensitively").Example("true");
  s.Check(config::OneOf({"values", "map"}, false));
}

}  // namespace

RuleType AllowedRule() {
  return {"allowed", "Allowed values, with a mapping that standardizes variants", Declare,
          {"{name: state, action: fix, field: addr_state, values: [CA, NY], map: {California: CA}, case_sensitive: true}"},
          [](const ComponentInput& in) { return std::make_shared<Allowed>(in); }};
}

}  // namespace sluice::stages::rules

// required: the fields must be present and not blank.
#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Required final : public Rule {
 public:
  explicit Required(const ComponentInput& in) : Rule(in), fields_(in.options.Strings("fields")) {
    if (fields_.empty()) in.Fail("fields", "must not be empty");
  }
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    std::string missing;
    for (const auto& f : fields_) {
      if (IsMissing(row.Get(f))) missing += (missing.empty() ? "" : ", ") + f;
    }
    if (missing.empty()) return Step::kContinue;
    return Violation(ctx, "missing required field(s): " + missing, reason, kNoFix);
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    AddUses(uses, "fields", fields_, FieldAccess::kRead);
    return uses;
  }

 private:
  std::vector<std::string> fields_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject", {"reject", "flag"});
  s.Add("fields", T::kList).Required().Describe("Fields that must be set").Example("[loan_id, funded_amnt]");
}

}  // namespace

RuleType RequiredRule() {
  return {"required", "Fields that must be present and non-empty", Declare,
          {"{name: ids, action: flag, fields: [loan_id]}"},
          [](const ComponentInput& in) { return std::make_shared<Required>(in); }};
}

}  // namespace sluice::stages::rules

// impute: fills a null with a constant or a running mean/median (per key when `by` is set,
// falling back to the overall statistic; else the value stays null).
#include "rule.hpp"
#include "sluice/stages/yaml_util.hpp"

namespace sluice::stages::rules {
namespace {

class Impute final : public Rule {
 public:
  explicit Impute(const ComponentInput& in)
      : Rule(in),
        field_(in.options.String("field")),
        statistic_(in.options.OptionalString("statistic").value_or("")),
        by_(in.options.Strings("by")),
        stats_(kMaxKeys, static_cast<std::size_t>(in.options.Int("window"))) {
    // The constant as written (a quoted '0' stays text; the clean schema types it).
    if (in.options.Has("constant")) constant_ = ScalarValue(config::Lookup(in.raw, "constant"));
  }

  Step Apply(Row& row, RuleContext& ctx, std::string*) override {
    const Value& v = row.Get(field_);
    if (!IsMissing(v)) return Step::kContinue;
    Value fill = constant_;
    if (!statistic_.empty()) {
      // The group's statistic, else the overall one, else the value stays null.
      fill = Null{};
      const KeyedStats::Stat* s = by_.empty() ? nullptr : stats_.Find(KeyOf(row, by_));
      if (!s || s->count == 0) s = stats_.Find("");
      if (s && s->count > 0) fill = statistic_ == "mean" ? s->mean : s->Median();
    }
    row.Set(field_, fill);
    imputed_ = true;
    if (action_ == Action::kFlag && !IsNull(fill)) ctx.flags->push_back(name_);
    return Step::kContinue;
  }

  void Abandon() override { imputed_ = false; }

  // A missing value is filled, so the rule can create the field.
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses{{field_, "field", FieldAccess::kWrite}};
    AddUses(uses, "by", by_, FieldAccess::kRead);
    return uses;
  }

  void Commit(const Row& row, std::int64_t) override {
    const bool was_imputed = imputed_;
    imputed_ = false;
    if (statistic_.empty() || was_imputed) return;  // imputed values are not observations
    auto x = AsNumber(row.Get(field_));
    if (!x) return;
    stats_.Observe("", *x);
    if (!by_.empty()) stats_.Observe(KeyOf(row, by_), *x);
  }

 private:
  static constexpr std::size_t kMaxKeys = 10000;  // groups tracked; later groups use the overall statistic
  std::string field_;
  Value constant_ = Null{};
  std::string statistic_;
  std::vector<std::string> by_;
  bool imputed_ = false;
  KeyedStats stats_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "fix", {"fix", "flag"});
  s.Add("field", T::kString).Required().Describe("Field to fill when null").Example("revol_util");
  s.Add("constant", T::kString).Describe("Value to use").Example("'0'");
  s.Add("statistic", T::kEnum).Allowed({"mean", "median"}).Describe("Running statistic of the values seen so far").Example("median");
  s.Add("by", T::kList).Default("[]").Describe("Fields that key the statistic (per group)").Example("[sub_grade]");
  s.Add("window", T::kInt).Default("1000").Min(1).Describe("Values kept per group for the statistic").Example("500");
  s.Check(config::OneOf({"constant", "statistic"}));
}

}  // namespace

RuleType ImputeRule() {
  return {"impute", "Fill a missing value with a constant or a running statistic", Declare,
          {"{name: util, action: flag, field: revol_util, statistic: median, by: [sub_grade], window: 50}",
           "{field: emp_length, constant: '0'}"},
          [](const ComponentInput& in) { return std::make_shared<Impute>(in); }};
}

}  // namespace sluice::stages::rules

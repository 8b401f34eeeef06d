// outlier: bounds, or a z-score against the running mean and deviation (per key); flags by
// default.
#include <cmath>
#include <optional>
#include <sstream>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Outlier final : public Rule {
 public:
  explicit Outlier(const ComponentInput& in)
      : Rule(in), field_(in.options.String("field")), method_(in.options.String("method")), stats_(10000, 0) {
    const config::View& o = in.options;
    if (method_ == "bounds") {
      min_ = o.OptionalDouble("min");
      max_ = o.OptionalDouble("max");
    } else {
      threshold_ = o.Double("threshold");
      if (threshold_ <= 0) in.Fail("threshold", "must be > 0");
      by_ = o.Strings("by");
      min_count_ = static_cast<std::uint64_t>(o.Int("warmup"));
    }
  }

  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value& v = row.Get(field_);
    if (IsNull(v)) return Step::kContinue;
    auto x = AsNumber(v);
    if (!x) return Step::kContinue;  // typing reports non-numbers
    if (method_ == "bounds") {
      if ((min_ && *x < *min_) || (max_ && *x > *max_)) {
        return Violation(ctx, field_ + ": " + FormatNumber(*x) + " is an outlier (outside [" +
                                  (min_ ? FormatNumber(*min_) : "-inf") + ", " +
                                  (max_ ? FormatNumber(*max_) : "inf") + "])",
                         reason, kNoFix);
      }
      return Step::kContinue;
    }
    const KeyedStats::Stat* s = stats_.Find(KeyOf(row, by_));
    if (!s || s->count < min_count_) return Step::kContinue;
    const double sd = std::sqrt(s->Variance());
    if (sd <= 0) return Step::kContinue;
    const double z = (*x - s->mean) / sd;
    if (std::fabs(z) <= threshold_) return Step::kContinue;
    std::ostringstream os;
    os.precision(3);
    os << field_ << ": z-score " << z << " beyond " << threshold_;
    if (!by_.empty()) os << " for " << ShowKey(row, by_);
    return Violation(ctx, os.str(), reason, kNoFix);
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses{{field_, "field", FieldAccess::kRead}};
    AddUses(uses, "by", by_, FieldAccess::kRead);
    return uses;
  }

  void Commit(const Row& row, std::int64_t) override {
    if (method_ != "zscore") return;
    if (auto x = AsNumber(row.Get(field_))) stats_.Observe(KeyOf(row, by_), *x);
  }

 private:
  std::string field_, method_;
  std::optional<double> min_, max_;
  double threshold_ = 3.0;
  std::vector<std::string> by_;
  std::uint64_t min_count_ = 100;
  KeyedStats stats_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "flag", {"flag", "reject"});
  s.Add("field", T::kString).Required().Describe("Numeric field").Example("revol_util");
  s.Add("method", T::kEnum).Allowed({"bounds", "zscore"}).Required().Describe("bounds: outside [min, max]; zscore: |z| above threshold").Example("zscore");
  s.Add("min", T::kDouble).Describe("Lower bound (method: bounds)").Example("0");
  s.Add("max", T::kDouble).Describe("Upper bound (method: bounds)").Example("100");
  s.Add("threshold", T::kDouble).Default("3").Min(0).Describe("|z| limit (method: zscore)").Example("3.5");
  s.Add("by", T::kList).Default("[]").Describe("Fields that group the running mean and deviation").Example("[sub_grade]");
  s.Add("warmup", T::kInt).Default("100").Min(2).Describe("Values seen before z-scores are judged").Example("50");
  s.Check([](const YAML::Node& raw, const YAML::Node& eff, const std::string& path, config::Validator& v) {
    const YAML::Node method = config::Lookup(eff, "method");
    if (method.IsScalar() && method.Scalar() == "bounds" && !config::IsSet(raw, "min") &&
        !config::IsSet(raw, "max")) {
      v.Error(raw, path, "method 'bounds' needs 'min' or 'max'");
    }
  });
}

}  // namespace

RuleType OutlierRule() {
  return {"outlier", "Flag unusual values by bounds or z-score", Declare,
          {"{name: util, action: reject, field: revol_util, method: bounds, min: 0, max: 150}",
           "{field: annual_inc, method: zscore, threshold: 4, by: [sub_grade], warmup: 20}"},
          [](const ComponentInput& in) { return std::make_shared<Outlier>(in); }};
}

}  // namespace sluice::stages::rules

// synthetic_date: a deterministic date from a hash of other fields, for sources that have
// none (documented as SYNTHETIC wherever shown).
#include <regex>

#include "rule.hpp"
#include "sluice/stages/cleaner.hpp"

namespace sluice::stages::rules {
namespace {

class SyntheticDateFill final : public Rule {
 public:
  explicit SyntheticDateFill(const ComponentInput& in)
      : Rule(in), field_(in.options.String("field")), from_(in.options.Strings("from")) {
    if (from_.empty()) in.Fail("from", "must not be empty");
    auto day = [&](const char* key) {
      auto d = ParseDate(in.options.String(key), "%Y-%m-%d");
      if (!d) in.Fail(key, "expected a date YYYY-MM-DD");
      return *d;
    };
    first_ = day("start");
    last_ = day("end");
    if (first_ > last_) in.Fail("start", "start is after end");
  }
  Step Apply(Row& row, RuleContext&, std::string*) override {
    row.Set(field_, SyntheticDate(KeyOf(row, from_), first_, last_));
    return Step::kContinue;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses{{field_, "field", FieldAccess::kWrite}};
    AddUses(uses, "from", from_, FieldAccess::kRead);
    return uses;
  }

 private:
  std::string field_;
  std::vector<std::string> from_;
  std::int64_t first_ = 0, last_ = 0;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "fix", {"fix"});
  s.Add("field", T::kString).Required().Describe("Field that receives the date").Example("issue_date");
  s.Add("from", T::kList).Required().Describe("Fields hashed into the date").Example("[loan_id]");
  s.Add("start", T::kString).Required().Describe("First possible date (YYYY-MM-DD)").Example("'2014-01-01'");
  s.Add("end", T::kString).Required().Describe("Last possible date (YYYY-MM-DD)").Example("'2016-12-31'");
  for (const char* key : {"start", "end"}) {
    s.Check([key](const YAML::Node& raw, const YAML::Node&, const std::string& path, config::Validator& v) {
      static const std::regex kDate("[0-9]{4}-[0-9]{2}-[0-9]{2}");
      YAML::Node value = config::Lookup(raw, key);
      if (value.IsScalar() && !std::regex_match(value.Scalar(), kDate)) {
        v.Error(value, config::JoinPath(path, key), "expected a date like '2014-01-01', got '" + value.Scalar() + "'");
      }
    });
  }
}

}  // namespace

RuleType SyntheticDateRule() {
  return {"synthetic_date",
          "A deterministic date from a hash of other fields, for sources without one (label it "
          "synthetic wherever shown)",
          Declare,
          {"{name: issued, action: fix, field: issue_date, from: [loan_id], start: '2014-01-01', end: '2016-12-31'}"},
          [](const ComponentInput& in) { return std::make_shared<SyntheticDateFill>(in); }};
}

}  // namespace sluice::stages::rules

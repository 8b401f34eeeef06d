// derive: a field computed from others with a fixed set of functions.
#include <cmath>
#include <optional>

#include "expression.hpp"
#include "step.hpp"

namespace sluice::stages::steps {
namespace {

class Derive final : public Step {
 public:
  explicit Derive(const ComponentInput& in)
      : Step(in), field_(in.options.String("field")), function_(in.options.String("function")) {
    // The declaration checked that each function has the options it needs.
    const config::View& o = in.options;
    if (function_ == "substr" || function_ == "date_part" || function_ == "copy") from_ = o.String("from");
    if (function_ == "substr") {
      start_ = o.Int("start");
      length_ = o.Int("length");
    }
    if (function_ == "concat") {
      fields_ = o.Strings("fields");
      separator_ = o.String("separator");
    }
    if (function_ == "date_part") part_ = o.String("part");
    if (function_ == "expression") {
      try {
        expression_.emplace(o.String("expression"));
      } catch (const ExpressionError& e) {
        in.Fail("expression", e.what());
      }
    }
    if (function_ == "installment") {
      principal_ = o.String("principal");
      rate_ = o.String("rate");
      term_ = o.String("term");
    }
  }

  bool Apply(Row& row, SteadyTime, EnrichResult&, std::string* reason) override {
    if (expression_) {
      std::string why;
      auto v = expression_->Evaluate(row, &why);
      if (!v) {
        *reason = "step '" + name_ + "' (" + field_ + " = " + expression_->Text() + "): " + why;
        return false;
      }
      row.Set(field_, std::move(*v));
    } else if (function_ == "copy") {
      row.Set(field_, row.Get(from_));
    } else if (function_ == "substr") {
      const Value& v = row.Get(from_);
      if (IsNull(v)) {
        row.Set(field_, Null{});
      } else {
        const std::string s = AsText(v);
        const auto start = static_cast<std::size_t>(start_);
        row.Set(field_, start >= s.size() ? std::string() : s.substr(start, static_cast<std::size_t>(length_)));
      }
    } else if (function_ == "concat") {
      std::string out;
      bool any_null = false;
      for (std::size_t i = 0; i < fields_.size(); ++i) {
        const Value& v = row.Get(fields_[i]);
        any_null = any_null || IsNull(v);
        out += (i ? separator_ : "") + AsText(v);
      }
      row.Set(field_, any_null ? Value{Null{}} : Value{out});
    } else if (function_ == "date_part") {
      const Value& v = row.Get(from_);
      if (IsNull(v)) {
        row.Set(field_, Null{});
        return true;
      }
      std::int64_t days = 0;
      if (auto* i = std::get_if<std::int64_t>(&v)) {
        days = *i;
      } else if (auto d = ParseDate(Trim(AsText(v)), "%Y-%m-%d")) {
        days = *d;
      } else {
        *reason = from_ + ": " + Describe(v) + " is not a date";
        return false;
      }
      int y;
      unsigned mo, d;
      CivilFromDays(days, &y, &mo, &d);
      if (part_ == "year") row.Set(field_, std::int64_t{y});
      else if (part_ == "month") row.Set(field_, std::int64_t{mo});
      else if (part_ == "day") row.Set(field_, std::int64_t{d});
      else if (part_ == "quarter") row.Set(field_, std::int64_t{(mo - 1) / 3 + 1});
      else if (part_ == "weekday") row.Set(field_, std::int64_t{((days % 7 + 7) % 7 + 3) % 7 + 1});  // ISO: Monday 1
      else row.Set(field_, FormatDate(days).substr(0, 7));
    } else {  // installment
      const auto p = AsNumber(row.Get(principal_));
      const auto r = AsNumber(row.Get(rate_));
      const auto n = AsNumber(row.Get(term_));
      if (!p || !r || !n) {
        row.Set(field_, Null{});
        return true;
      }
      if (*n < 1 || std::trunc(*n) != *n || *r < 0) {
        *reason = "installment needs a whole number of months >= 1 and a rate >= 0, got term " +
                  Describe(row.Get(term_)) + " and rate " + Describe(row.Get(rate_));
        return false;
      }
      row.Set(field_, MonthlyInstallment(*p, *r, static_cast<std::int64_t>(*n)));
    }
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    if (!from_.empty()) uses.push_back({from_, "from", FieldAccess::kRead});
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      uses.push_back({fields_[i], "fields[" + std::to_string(i) + "]", FieldAccess::kRead});
    }
    if (expression_) {
      for (const auto& f : expression_->Fields()) uses.push_back({f, "expression", FieldAccess::kRead});
    }
    if (function_ == "installment") {
      uses.push_back({principal_, "principal", FieldAccess::kRead});
      uses.push_back({rate_, "rate", FieldAccess::kRead});
      uses.push_back({term_, "term", FieldAccess::kRead});
    }
    uses.push_back({field_, "field", FieldAccess::kWrite});
    return uses;
  }

 private:
  std::string field_, function_, from_, separator_, part_, principal_, rate_, term_;
  std::int64_t start_ = 0, length_ = 1;
  std::vector<std::string> fields_;
  std::optional<Expression> expression_;
};


void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareStepName(s, "grade");
  s.Add("field", T::kString).Required().Describe("Output field").Example("grade");
  s.Add("function", T::kEnum).Allowed({"substr", "concat", "installment", "date_part", "copy", "expression"}).Required().Describe("substr: from[start:start+length]; concat: fields joined by separator; installment: monthly payment of an amortized loan; date_part: part of a date; copy: the value of from; expression: arithmetic on numeric fields").Example("substr");
  s.Add("from", T::kString).Describe("Input field (substr, date_part, copy)").Example("sub_grade");
  s.Add("start", T::kInt).Default("0").Min(0).Describe("substr: first character (0-based)").Example("0");
  s.Add("length", T::kInt).Default("1").Min(1).Describe("substr: number of characters").Example("1");
  s.Add("fields", T::kList).Default("[]").Describe("concat: input fields").Example("[addr_state, sub_grade]");
  s.Add("separator", T::kString).Default("''").Describe("concat: text between values").Example("'-'");
  s.Add("part", T::kEnum).Allowed({"year", "month", "day", "quarter", "year_month", "weekday"}).Describe("date_part: which part").Example("year_month");
  s.Add("principal", T::kString).Describe("installment: loan amount field").Example("funded_amnt");
  s.Add("rate", T::kString).Describe("installment: annual interest rate field, in percent").Example("int_rate");
  s.Add("term", T::kString).Describe("installment: number of monthly payments field").Example("term");
  s.Add("expression", T::kString).Describe("expression: + - * / on numeric fields and numbers, with parentheses, round(x, decimals) and coalesce(a, b, ...); a null operand gives null; division by zero rejects the record").Example("'round(funded_amnt / term, 2)'");
  s.Check([](const YAML::Node& raw, const YAML::Node& eff, const std::string& path, config::Validator& v) {
    const YAML::Node function = config::Lookup(eff, "function");
    if (!function.IsScalar()) return;
    const std::string fn = function.Scalar();
    std::vector<std::string> needs;
    if (fn == "substr" || fn == "date_part" || fn == "copy") needs.push_back("from");
    if (fn == "date_part") needs.push_back("part");
    if (fn == "installment") needs = {"principal", "rate", "term"};
    if (fn == "expression") needs = {"expression"};
    if (fn != "expression" && config::IsSet(raw, "expression")) {
      v.Error(config::Lookup(raw, "expression"), config::JoinPath(path, "expression"), "only for function 'expression'");
    }
    for (const auto& k : needs) {
      if (!config::IsSet(raw, k)) v.Error(raw, path, "function '" + fn + "' needs '" + k + "'");
    }
    const YAML::Node fields = config::Lookup(eff, "fields");
    if (fn == "concat" && (!fields.IsSequence() || fields.size() == 0)) {
      v.Error(raw, path, "function 'concat' needs 'fields'");
    }
  });
}

}  // namespace

StepType DeriveStep() {
  return {"derive", "Compute a field from others with a fixed set of functions", Declare,
          {"{name: grade, field: grade, function: substr, from: sub_grade, start: 0, length: 1}",
           "{field: label, function: concat, fields: [a, b], separator: '-'}",
           "{field: month, function: date_part, from: issue_date, part: year_month}",
           "{field: payment, function: installment, principal: funded_amnt, rate: int_rate, term: term}",
           "{field: copy_of_a, function: copy, from: a}",
           "{field: ratio, function: expression, expression: 'round(coalesce(amount, 0) / price, 2)'}"},
          [](const ComponentInput& in, const EnricherDeps&) { return std::make_shared<Derive>(in); }};
}

}  // namespace sluice::stages::steps

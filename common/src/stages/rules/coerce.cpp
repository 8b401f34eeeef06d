// coerce: text -> typed value through an exact-value map, substring removal, a regex
// extraction (first capture group) and date/timestamp formats.
#include <map>
#include <optional>
#include <regex>

#include "rule.hpp"

namespace sluice::stages::rules {
namespace {

class Coerce final : public FieldsRule {
 public:
  explicit Coerce(const ComponentInput& in)
      : FieldsRule(in), to_(in.options.String("to")) {
    const config::View& o = in.options;
    remove_ = o.Strings("remove");
    for (const auto& [from, to] : o.StringMap("map")) {
      std::optional<std::string> out;
      if (!to.empty()) out = to;
      map_[std::string(Trim(from))] = out;  // '' and ~ map to null
    }
    if (auto extract = o.OptionalString("extract")) {
      pattern_ = *extract;
      try {
        regex_ = std::regex(pattern_, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        in.Fail("extract", std::string("invalid regular expression: ") + e.what());
      }
    }
    if (o.Has("round")) {
      if (to_ != "double" && to_ != "decimal") in.Fail("round", "only for to: double or decimal");
      round_ = static_cast<int>(o.Int("round"));
    }
    formats_ = o.Strings("formats");
    if (!formats_.empty() && to_ != "date" && to_ != "timestamp") in.Fail("formats", "only for to: date or timestamp");
    if (formats_.empty() && to_ == "date") formats_ = {"%Y-%m-%d"};
    if (formats_.empty() && to_ == "timestamp") formats_ = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"};
    // Map replacements must themselves parse: a typo in the pipeline file is a config error.
    for (const auto& [from, to] : map_) {
      std::string why;
      if (to && !Parse(*to, &why)) in.Fail("map", "replacement for '" + from + "': " + why);
    }
  }

  std::vector<FieldUse> Fields() const override {
    auto uses = fields_.Uses();
    for (auto& use : uses) use.coerced_to = to_;
    return uses;
  }

 private:
  Step ApplyTo(const std::string& field, Row& row, RuleContext& ctx, std::string* reason) override {
    const Value& in = row.Get(field);
    if (IsNull(in)) return Step::kContinue;
    std::string why;
    auto out = Convert(in, &why);
    if (out) {
      if (auto* d = std::get_if<double>(&*out); d && round_) *d = RoundDecimal(*d, *round_);
      row.Set(field, std::move(*out));
      return Step::kContinue;
    }
    const Step step = Violation(ctx, field + ": " + why, reason, [&] { row.Set(field, Null{}); });
    // A flagged value that cannot be converted must not reach the typing step as text.
    if (action_ == Action::kFlag) row.Set(field, Null{});
    return step;
  }

  std::optional<Value> Convert(const Value& in, std::string* why) const {
    const std::string text(Trim(AsText(in)));
    if (auto it = map_.find(text); it != map_.end()) {
      if (!it->second) return Value{Null{}};
      return Parse(*it->second, why);
    }
    std::string s = text;
    for (const auto& r : remove_) {
      for (std::size_t p = s.find(r); !r.empty() && p != std::string::npos; p = s.find(r, p)) s.erase(p, r.size());
    }
    if (!pattern_.empty()) {
      std::smatch match;
      if (!std::regex_search(s, match, regex_)) {
        *why = Describe(in) + " does not match " + pattern_;
        return std::nullopt;
      }
      s = match.size() > 1 && match[1].matched ? match[1].str() : match[0].str();
    }
    auto v = Parse(s, why);
    if (!v) *why = Describe(in) + " " + *why;
    return v;
  }

  // Parses already-extracted text as the target type.
  std::optional<Value> Parse(const std::string& raw, std::string* why) const {
    const std::string_view s = Trim(raw);
    if (to_ == "date" || to_ == "timestamp") {
      for (const auto& f : formats_) {
        if (to_ == "date") {
          if (auto d = ParseDate(s, f)) return Value{*d};
        } else if (auto t = ParseDateTime(s, f)) {
          return Value{*t};
        }
      }
      std::string list;
      for (const auto& f : formats_) list += (list.empty() ? "" : ", ") + f;
      *why = "is not a " + to_ + " in any of the formats [" + list + "]";
      return std::nullopt;
    }
    FieldType t = FieldType::kString;
    if (to_ == "int") t = FieldType::kInt;
    else if (to_ == "long") t = FieldType::kLong;
    else if (to_ == "double" || to_ == "decimal") t = FieldType::kDouble;
    else if (to_ == "bool") t = FieldType::kBoolean;
    std::string inner;
    auto v = ConvertTo(Value{std::string(s)}, t, &inner);
    if (!v) *why = "is not a valid " + to_;
    return v;
  }

  std::string to_;
  std::vector<std::string> remove_;
  std::string pattern_;
  std::regex regex_;
  std::vector<std::string> formats_;
  std::map<std::string, std::optional<std::string>> map_;
  std::optional<int> round_;  // decimals kept by to: double/decimal
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject", {"reject", "flag", "fix"});
  DeclareTargetFields(s, "Field to convert", "term");
  s.Add("to", T::kEnum).Allowed({"int", "long", "double", "decimal", "string", "bool", "date", "timestamp"}).Required().Describe("Target type").Example("int");
  s.Add("extract", T::kString).Describe("Regex whose first capture group holds the value").Example("'term_(\\d+)'");
  s.Add("remove", T::kList).Default("[]").Describe("Substrings removed before parsing").Example("['$', ',']");
  s.Add("formats", T::kList).Default("[]").Describe("strptime formats tried in order for date/timestamp (%Y %y %m %d %H %M %S %b, and %f: a fraction of a second, kept to the millisecond)").Example("['%Y-%m-%d', '%m/%d/%Y', '%b-%Y']");
  s.Add("round", T::kInt).Min(0).Max(15).Describe("to: double or decimal only: round the number to this many decimals (half away from zero)").Example("2");
  s.Add("map", T::kMap).Default("{}").Describe("Exact input values replaced before parsing ('' maps to null)").Example("{emp_lt_1: '0', emp_ge_10: '10', emp_unk: ''}");
  s.Check(config::RegexCompiles("extract"));
}

}  // namespace

RuleType CoerceRule() {
  return {"coerce", "Convert a field's text to a type", Declare,
          {"{name: term, action: fix, field: term, to: int, extract: '(\\d+)', remove: [' '], map: {unknown: ''}}",
           "{field: issued, to: date, formats: ['%b-%Y']}",
           "{fields: [has_job, has_car], to: bool}",
           "{field: int_rate, to: double, remove: ['%'], round: 2}"},
          [](const ComponentInput& in) { return std::make_shared<Coerce>(in); }};
}

}  // namespace sluice::stages::rules

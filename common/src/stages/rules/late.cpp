// late: allowed lateness against a watermark. The watermark is the greatest value of `field`
// among the records the cleaner has emitted (Commit, and Warm after a restart); a record whose
// value is more than `lateness` behind it goes to the DLQ under the fixed code `late`.
//
// The field must hold a day count (a coerce to date) or a millisecond count (a coerce to
// timestamp) by the time the rule runs, and be an integer field of the clean schema, so the
// watermark re-read from the clean topic (Warm) is in the same unit as the values compared
// (Bind checks both when the cleaner is built).
#include <climits>
#include <cstdio>

#include "rule.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/error.hpp"

namespace sluice::stages::rules {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

class Late final : public Rule {
 public:
  explicit Late(const ComponentInput& in)
      : Rule(in),
        field_(in.options.String("field")),
        lateness_ms_(in.options.Duration("lateness").count()),
        where_(in.where) {
    if (lateness_ms_ < 0) in.Fail("lateness", "must not be negative");
  }

  void Bind(const std::map<std::string, std::string>& coerced_before, const RecordSpec& output) override {
    auto it = coerced_before.find(field_);
    if (it == coerced_before.end() || (it->second != "timestamp" && it->second != "date")) {
      throw core::ConfigError(where_ + ".field: '" + field_ +
                              "' must be coerced to timestamp or date by an earlier rule (a coerce "
                              "with to: timestamp or to: date): the rule compares times" +
                              (it == coerced_before.end() ? std::string() : ", not " + it->second + " values"));
    }
    days_ = it->second == "date";
    const FieldSpec* f = output.Find(field_);
    if (f == nullptr || (f->type != FieldType::kLong && f->type != FieldType::kInt && f->type != FieldType::kDate)) {
      throw core::ConfigError(where_ + ".field: '" + field_ +
                              "' must be a long (timestamp) or date field of the clean schema: the "
                              "watermark is re-read from the clean topic after a restart");
    }
  }

  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value& v = row.Get(field_);
    if (IsNull(v) || watermark_ == INT64_MIN) return Step::kContinue;  // nulls: the required rule's
    const auto* n = std::get_if<std::int64_t>(&v);
    if (n == nullptr) {
      return Violation(ctx, field_ + ": " + Describe(v) + " is not a " + (days_ ? "date" : "timestamp"), reason, kNoFix);
    }
    const std::int64_t at = Millis(*n);
    if (at >= watermark_ - lateness_ms_) return Step::kContinue;
    return Violation(ctx,
                     field_ + " " + Show(at) + " is " + core::FormatDuration(core::Duration(watermark_ - at)) +
                         " behind the watermark " + Show(watermark_) + " (lateness " +
                         core::FormatDuration(core::Duration(lateness_ms_)) + ")",
                     reason, kNoFix);
  }

  void Commit(const Row& row, std::int64_t) override {
    const auto* n = std::get_if<std::int64_t>(&row.Get(field_));
    if (n != nullptr) watermark_ = std::max(watermark_, Millis(*n));
  }

  DlqCode RejectCode() const override { return DlqCode::kLate; }

  std::vector<FieldUse> Fields() const override { return {{field_, "field", FieldAccess::kRead}}; }

 private:
  // Days and milliseconds are compared as milliseconds; far-off values saturate.
  std::int64_t Millis(std::int64_t n) const {
    if (!days_) return n;
    if (n > INT64_MAX / kDayMs) return INT64_MAX;
    if (n < INT64_MIN / kDayMs) return INT64_MIN + 1;
    return n * kDayMs;
  }
  std::string Show(std::int64_t ms) const {
    std::int64_t days = ms / kDayMs, rest = ms % kDayMs;
    if (rest < 0) {
      days -= 1;
      rest += kDayMs;
    }
    if (days_) return FormatDate(days);
    char buf[40];
    const int h = static_cast<int>(rest / 3'600'000), m = static_cast<int>(rest / 60'000 % 60),
              s = static_cast<int>(rest / 1000 % 60), frac = static_cast<int>(rest % 1000);
    if (frac != 0) std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d.%03dZ", h, m, s, frac);
    else std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", h, m, s);
    return FormatDate(days) + buf;
  }

  std::string field_;
  std::int64_t lateness_ms_ = 0;
  std::string where_;
  bool days_ = false;
  std::int64_t watermark_ = INT64_MIN;  // none yet
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareRuleCommon(s, "reject", {"reject", "flag"});
  s.Add("field", T::kString).Required().Describe("A timestamp or date field, coerced by an earlier rule and kept in the clean schema").Example("ts");
  s.Add("lateness", T::kDuration).Required().Describe("How far behind the watermark (the greatest value of the field among emitted records) a record may be").Example("2h");
}

}  // namespace

RuleType LateRule() {
  return {"late",
          "A record whose time is more than `lateness` behind the watermark (the greatest time the "
          "cleaner has emitted, warmed from the clean topic on restart) goes to the DLQ as `late`",
          Declare,
          {"{name: too_late, action: reject, field: ts, lateness: 2h}"},
          [](const ComponentInput& in) { return std::make_shared<Late>(in); }};
}

}  // namespace sluice::stages::rules

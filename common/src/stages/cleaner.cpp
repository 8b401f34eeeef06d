#include "sluice/stages/cleaner.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "sluice/core/error.hpp"
#include "sluice/stages/csv_reader.hpp"
#include "sluice/stages/yaml_util.hpp"

namespace sluice::stages {

using core::ConfigError;

enum class Action { kReject, kFlag, kFix, kDrop };

namespace {

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kReject: return "reject";
    case Action::kFlag: return "flag";
    case Action::kFix: return "fix";
    case Action::kDrop: return "drop";
  }
  return "?";
}

// Case- and whitespace-insensitive form used to match allowed values and maps.
std::string Normalize(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : Trim(s)) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string FormatNumber(double d) { return Describe(Value{d}); }

bool IsMissing(const Value& v) {
  if (IsNull(v)) return true;
  if (auto* s = std::get_if<std::string>(&v)) return Trim(*s).empty();
  return false;
}

// Uses of each name in `fields`, keyed "key[i]".
void AddUses(std::vector<FieldUse>& out, const std::string& key,
             const std::vector<std::string>& fields, FieldAccess access) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    out.push_back(FieldUse{fields[i], key + "[" + std::to_string(i) + "]", access});
  }
}

}  // namespace

struct RuleContext {
  std::vector<std::string>* flags;
  std::int64_t timestamp_ms;
};

enum class Step { kContinue, kReject, kDrop };

// A compiled rule. Apply may read but not change the running state; Commit updates it with
// the final row of an emitted record.
class Rule {
 public:
  Rule(const YamlMap& m, std::initializer_list<Action> allowed, Action fallback) {
    name_ = m.String("name", m.label);
    const std::string a = m.String("action", std::string(ActionName(fallback)));
    bool ok = false;
    for (Action x : allowed) {
      if (ActionName(x) == a) {
        action_ = x;
        ok = true;
      }
    }
    if (!ok) {
      std::string list;
      for (Action x : allowed) list += (list.empty() ? "" : ", ") + std::string(ActionName(x));
      m.Fail("action", "'" + a + "' is not allowed for this rule type (allowed: " + list + ")");
    }
  }
  virtual ~Rule() = default;
  virtual Step Apply(Row& row, RuleContext& ctx, std::string* reason) = 0;
  virtual void Commit(const Row&, std::int64_t) {}
  // The record was rejected or dropped: forget per-record marks made by Apply.
  virtual void Abandon() {}
  virtual std::vector<FieldUse> Fields() const = 0;
  const std::string& name() const { return name_; }
  Action action() const { return action_; }

 protected:
  // Applies the action to a violation. `fix` repairs the row for action fix.
  template <typename Fix>
  Step Violation(RuleContext& ctx, std::string why, std::string* reason, Fix&& fix) {
    switch (action_) {
      case Action::kReject:
        *reason = std::move(why);
        return Step::kReject;
      case Action::kDrop:
        *reason = std::move(why);
        return Step::kDrop;
      case Action::kFlag:
        if (std::find(ctx.flags->begin(), ctx.flags->end(), name_) == ctx.flags->end()) {
          ctx.flags->push_back(name_);
        }
        return Step::kContinue;
      case Action::kFix:
        fix();
        return Step::kContinue;
    }
    return Step::kContinue;
  }

  std::string name_;
  Action action_ = Action::kReject;
};

namespace {

constexpr auto kNoFix = [] {};

// required: the fields must be present and not blank.
class RequiredRule final : public Rule {
 public:
  explicit RequiredRule(const YamlMap& m) : Rule(m, {Action::kReject, Action::kFlag}, Action::kReject) {
    m.AllowOnly({"name", "type", "action", "fields"});
    fields_ = m.StringList("fields");
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

// coerce: text -> typed value through an exact-value map, substring removal, a regex
// extraction (first capture group) and date/timestamp formats.
class CoerceRule final : public Rule {
 public:
  explicit CoerceRule(const YamlMap& m) : Rule(m, {Action::kReject, Action::kFlag, Action::kFix}, Action::kReject) {
    m.AllowOnly({"name", "type", "action", "field", "to", "extract", "remove", "formats", "map"});
    field_ = m.String("field");
    to_ = m.String("to");
    static const std::set<std::string> kTo = {"int", "long", "double", "decimal", "string", "bool", "date", "timestamp"};
    if (!kTo.count(to_)) m.Fail("to", "expected one of int, long, double, decimal, string, bool, date, timestamp");
    if (m.Has("remove") && m.Get("remove").size() > 0) remove_ = m.StringList("remove");
    if (m.Has("map")) {
      const auto node = m.Get("map");
      if (!node.IsMap()) m.Fail("map", "expected a map of input value: replacement");
      for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node v = it->second;  // a copy: yaml-cpp iterators yield temporaries
        if (!v.IsNull() && !v.IsScalar()) m.Fail("map", "replacement for '" + it->first.Scalar() + "' must be a scalar");
        std::optional<std::string> out;
        if (v.IsScalar() && !v.Scalar().empty()) out = v.Scalar();
        map_[std::string(Trim(it->first.Scalar()))] = out;  // '' and ~ map to null
      }
    }
    if (m.Has("extract")) {
      pattern_ = m.String("extract");
      try {
        regex_ = std::regex(pattern_, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        m.Fail("extract", std::string("invalid regular expression: ") + e.what());
      }
    }
    if (m.Has("formats") && m.Get("formats").size() > 0) {
      if (to_ != "date" && to_ != "timestamp") m.Fail("formats", "only for to: date or timestamp");
      formats_ = m.StringList("formats");
    }
    if (formats_.empty() && to_ == "date") formats_ = {"%Y-%m-%d"};
    if (formats_.empty() && to_ == "timestamp") formats_ = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"};
    // Map replacements must themselves parse: a typo in the pipeline file is a config error.
    for (const auto& [from, to] : map_) {
      std::string why;
      if (to && !Parse(*to, &why)) m.Fail("map", "replacement for '" + from + "': " + why);
    }
  }

  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value in = row.Get(field_);
    if (IsNull(in)) return Step::kContinue;
    std::string why;
    auto out = Coerce(in, &why);
    if (out) {
      row.Set(field_, std::move(*out));
      return Step::kContinue;
    }
    const Step step = Violation(ctx, field_ + ": " + why, reason, [&] { row.Set(field_, Null{}); });
    // A flagged value that cannot be converted must not reach the typing step as text.
    if (action_ == Action::kFlag) row.Set(field_, Null{});
    return step;
  }
  std::vector<FieldUse> Fields() const override { return {{field_, "field", FieldAccess::kUpdate}}; }

 private:
  std::optional<Value> Coerce(const Value& in, std::string* why) const {
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

  std::string field_, to_;
  std::vector<std::string> remove_;
  std::string pattern_;
  std::regex regex_;
  std::vector<std::string> formats_;
  std::map<std::string, std::optional<std::string>> map_;
};

// range: numeric bounds (inclusive). fix clamps.
class RangeRule final : public Rule {
 public:
  explicit RangeRule(const YamlMap& m) : Rule(m, {Action::kReject, Action::kFlag, Action::kFix}, Action::kReject) {
    m.AllowOnly({"name", "type", "action", "field", "min", "max"});
    field_ = m.String("field");
    if (!m.Has("min") && !m.Has("max")) m.Fail("", "a range rule needs min, max or both");
    if (m.Has("min")) min_ = m.Number("min");
    if (m.Has("max")) max_ = m.Number("max");
    if (min_ && max_ && *min_ > *max_) m.Fail("min", "min is greater than max");
  }
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value v = row.Get(field_);
    if (IsNull(v)) return Step::kContinue;
    auto x = AsNumber(v);
    if (!x) {
      return Violation(ctx, field_ + ": " + Describe(v) + " is not a number", reason,
                       [&] { row.Set(field_, Null{}); });
    }
    if ((min_ && *x < *min_) || (max_ && *x > *max_)) {
      const std::string bounds = "[" + (min_ ? FormatNumber(*min_) : "-inf") + ", " +
                                 (max_ ? FormatNumber(*max_) : "inf") + "]";
      return Violation(ctx, field_ + ": " + FormatNumber(*x) + " is outside " + bounds, reason, [&] {
        const double c = std::clamp(*x, min_.value_or(*x), max_.value_or(*x));
        if (std::holds_alternative<std::int64_t>(v)) row.Set(field_, static_cast<std::int64_t>(c));
        else row.Set(field_, c);
      });
    }
    return Step::kContinue;
  }
  std::vector<FieldUse> Fields() const override { return {{field_, "field", FieldAccess::kUpdate}}; }

 private:
  std::string field_;
  std::optional<double> min_, max_;
};

// regex: the value's text must match the whole pattern.
class RegexRule final : public Rule {
 public:
  explicit RegexRule(const YamlMap& m) : Rule(m, {Action::kReject, Action::kFlag, Action::kFix}, Action::kReject) {
    m.AllowOnly({"name", "type", "action", "field", "regex"});
    field_ = m.String("field");
    pattern_ = m.String("regex");
    try {
      regex_ = std::regex(pattern_, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      m.Fail("regex", std::string("invalid regular expression: ") + e.what());
    }
  }
  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value v = row.Get(field_);
    if (IsNull(v)) return Step::kContinue;
    const std::string text = AsText(v);
    if (std::regex_match(text, regex_)) return Step::kContinue;
    return Violation(ctx, field_ + ": " + Describe(v) + " does not match " + pattern_, reason,
                     [&] { row.Set(field_, Null{}); });
  }
  std::vector<FieldUse> Fields() const override { return {{field_, "field", FieldAccess::kUpdate}}; }

 private:
  std::string field_, pattern_;
  std::regex regex_;
};

// allowed: the value must be one of `values` or a key of `map`; matching ignores case and
// extra whitespace, and the output is the canonical spelling.
class AllowedRule final : public Rule {
 public:
  explicit AllowedRule(const YamlMap& m) : Rule(m, {Action::kReject, Action::kFlag, Action::kFix}, Action::kReject) {
    m.AllowOnly({"name", "type", "action", "field", "values", "map", "case_sensitive"});
    field_ = m.String("field");
    case_sensitive_ = m.Bool("case_sensitive", false);
    const bool has_values = m.Has("values") && m.Get("values").size() > 0;
    const bool has_map = m.Has("map") && m.Get("map").size() > 0;
    if (!has_values && !has_map) m.Fail("", "an allowed rule needs values, map or both");
    if (has_values) {
      for (const auto& v : m.StringList("values")) canonical_[Key(v)] = v;
    }
    if (has_map) {
      const auto node = m.Get("map");
      if (!node.IsMap()) m.Fail("map", "expected a map of variant: canonical value");
      for (auto it = node.begin(); it != node.end(); ++it) {
        canonical_[Key(it->first.Scalar())] = it->second.Scalar();
      }
    }
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

// Running statistics per key, bounded: at most max_keys keys, `window` recent values each
// for the median.
class KeyedStats {
 public:
  KeyedStats(std::size_t max_keys, std::size_t window) : max_keys_(max_keys), window_(window) {}

  struct Stat {
    std::uint64_t count = 0;
    double mean = 0, m2 = 0;  // Welford
    std::deque<double> recent;
    double Variance() const { return count > 1 ? m2 / static_cast<double>(count - 1) : 0.0; }
    double Median() const {
      std::vector<double> v(recent.begin(), recent.end());
      const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
      std::nth_element(v.begin(), mid, v.end());
      if (v.size() % 2 == 1) return *mid;
      const double hi = *mid;
      const double lo = *std::max_element(v.begin(), mid);
      return (lo + hi) / 2;
    }
  };

  const Stat* Find(const std::string& key) const {
    auto it = stats_.find(key);
    return it == stats_.end() ? nullptr : &it->second;
  }
  void Observe(const std::string& key, double x) {
    auto it = stats_.find(key);
    if (it == stats_.end()) {
      if (stats_.size() >= max_keys_) return;  // bounded: new keys beyond the cap are not tracked
      it = stats_.emplace(key, Stat{}).first;
    }
    Stat& s = it->second;
    ++s.count;
    const double d = x - s.mean;
    s.mean += d / static_cast<double>(s.count);
    s.m2 += d * (x - s.mean);
    if (window_ > 0) {
      s.recent.push_back(x);
      if (s.recent.size() > window_) s.recent.pop_front();
    }
  }

 private:
  std::size_t max_keys_, window_;
  std::unordered_map<std::string, Stat> stats_;
};

std::string KeyOf(const Row& row, const std::vector<std::string>& by) {
  std::string key;
  for (const auto& f : by) {
    key += AsText(row.Get(f));
    key += '\x1f';
  }
  return key;
}

std::string ShowKey(const Row& row, const std::vector<std::string>& by) {
  std::string out;
  for (const auto& f : by) out += (out.empty() ? "" : ",") + f + "=" + AsText(row.Get(f));
  return out;
}

// impute: fills a null with a constant or a running mean/median (per key when `by` is set,
// falling back to the overall statistic, then to `fallback`).
class ImputeRule final : public Rule {
 public:
  explicit ImputeRule(const YamlMap& m)
      : Rule(m, {Action::kFix, Action::kFlag}, Action::kFix),
        stats_(kMaxKeys, static_cast<std::size_t>(m.Integer("window", 1000))) {
    m.AllowOnly({"name", "type", "action", "field", "constant", "statistic", "by", "window"});
    field_ = m.String("field");
    if (m.Has("constant") == m.Has("statistic")) m.Fail("", "an impute rule needs exactly one of constant, statistic");
    if (m.Has("constant")) constant_ = m.Scalar("constant");
    if (m.Has("statistic")) {
      statistic_ = m.String("statistic");
      if (statistic_ != "mean" && statistic_ != "median") m.Fail("statistic", "expected mean or median");
    }
    if (m.Integer("window", 1000) < 1) m.Fail("window", "must be >= 1");
    if (m.Has("by") && m.Get("by").size() > 0) by_ = m.StringList("by");
  }

  Step Apply(Row& row, RuleContext& ctx, std::string*) override {
    const Value v = row.Get(field_);
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

// dedupe: a key already seen within the window (last `count` emitted records, or records
// whose timestamp is within `time` of this one) is a duplicate.
class DedupeRule final : public Rule {
 public:
  explicit DedupeRule(const YamlMap& m) : Rule(m, {Action::kReject, Action::kFlag, Action::kDrop}, Action::kReject) {
    m.AllowOnly({"name", "type", "action", "key", "window", "max_keys"});
    key_ = m.StringList("key");
    time_ms_ = m.Has("window") ? m.Duration("window").count() : 24LL * 3600 * 1000;
    if (time_ms_ <= 0) m.Fail("window", "must be > 0");
    const std::int64_t max_keys = m.Integer("max_keys", 1'000'000);
    if (max_keys < 1) m.Fail("max_keys", "must be >= 1");
    max_keys_ = static_cast<std::size_t>(max_keys);
  }

  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    Expire(ctx.timestamp_ms);
    bool all_null = true;
    for (const auto& f : key_) all_null = all_null && IsNull(row.Get(f));
    if (all_null) return Step::kContinue;
    if (seen_.count(KeyOf(row, key_)) == 0) return Step::kContinue;
    return Violation(ctx, "duplicate key " + ShowKey(row, key_) + " within the window", reason, kNoFix);
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    AddUses(uses, "key", key_, FieldAccess::kRead);
    return uses;
  }

  void Commit(const Row& row, std::int64_t ts) override {
    bool all_null = true;
    for (const auto& f : key_) all_null = all_null && IsNull(row.Get(f));
    if (all_null) return;
    // Stamps must not go backwards or expiry (front to back) would be wrong: a record older
    // than the newest one seen counts as seen at the newest time.
    newest_ = std::max(newest_, ts);
    std::string key = KeyOf(row, key_);
    seen_[key] = ++seq_;
    order_.push_back(Entry{std::move(key), seq_, newest_});
    while (order_.size() > max_keys_) PopFront();
  }

 private:
  struct Entry {
    std::string key;
    std::uint64_t seq;  // identifies the entry: a key can be in the window more than once
    std::int64_t ts;
  };

  void Expire(std::int64_t now) {
    while (!order_.empty() && order_.front().ts < now - time_ms_) PopFront();
  }
  void PopFront() {
    const Entry& e = order_.front();
    if (auto it = seen_.find(e.key); it != seen_.end() && it->second == e.seq) seen_.erase(it);
    order_.pop_front();
  }

  std::vector<std::string> key_;
  std::int64_t time_ms_ = 0;
  std::size_t max_keys_ = 0;
  std::int64_t newest_ = INT64_MIN;
  std::uint64_t seq_ = 0;
  std::unordered_map<std::string, std::uint64_t> seen_;
  std::deque<Entry> order_;
};

// outlier: bounds or a z-score against the running mean/variance (per key); flags by default.
class OutlierRule final : public Rule {
 public:
  explicit OutlierRule(const YamlMap& m)
      : Rule(m, {Action::kFlag, Action::kReject}, Action::kFlag),
        stats_(10000, 0) {
    m.AllowOnly({"name", "type", "action", "field", "method", "min", "max", "threshold", "by",
                 "warmup"});
    field_ = m.String("field");
    method_ = m.String("method");
    if (method_ == "bounds") {
      if (!m.Has("min") && !m.Has("max")) m.Fail("", "bounds needs min, max or both");
      if (m.Has("min")) min_ = m.Number("min");
      if (m.Has("max")) max_ = m.Number("max");
    } else if (method_ == "zscore") {
      threshold_ = m.Number("threshold", 3.0);
      if (threshold_ <= 0) m.Fail("threshold", "must be > 0");
      if (m.Has("by") && m.Get("by").size() > 0) by_ = m.StringList("by");
      min_count_ = static_cast<std::uint64_t>(m.Integer("warmup", 100));
      if (min_count_ < 2) m.Fail("warmup", "must be >= 2");
    } else {
      m.Fail("method", "expected bounds or zscore");
    }
  }

  Step Apply(Row& row, RuleContext& ctx, std::string* reason) override {
    const Value v = row.Get(field_);
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

// synthetic_date: a deterministic date from a hash of other fields, for sources that have
// none (documented as SYNTHETIC wherever shown).
class SyntheticDateRule final : public Rule {
 public:
  explicit SyntheticDateRule(const YamlMap& m) : Rule(m, {Action::kFix}, Action::kFix) {
    m.AllowOnly({"name", "type", "action", "field", "from", "start", "end"});
    field_ = m.String("field");
    from_ = m.StringList("from");
    auto day = [&](const char* key) {
      auto d = ParseDate(m.String(key), "%Y-%m-%d");
      if (!d) m.Fail(key, "expected a date YYYY-MM-DD");
      return *d;
    };
    first_ = day("start");
    last_ = day("end");
    if (first_ > last_) m.Fail("start", "start is after end");
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

std::unique_ptr<Rule> MakeRule(const YamlMap& m) {
  const std::string type = m.String("type");
  if (type == "required") return std::make_unique<RequiredRule>(m);
  if (type == "coerce") return std::make_unique<CoerceRule>(m);
  if (type == "range") return std::make_unique<RangeRule>(m);
  if (type == "regex") return std::make_unique<RegexRule>(m);
  if (type == "allowed") return std::make_unique<AllowedRule>(m);
  if (type == "impute") return std::make_unique<ImputeRule>(m);
  if (type == "dedupe") return std::make_unique<DedupeRule>(m);
  if (type == "outlier") return std::make_unique<OutlierRule>(m);
  if (type == "synthetic_date") return std::make_unique<SyntheticDateRule>(m);
  m.Fail("type", "unknown rule type '" + type +
                     "' (known: required, coerce, range, regex, allowed, impute, dedupe, outlier, synthetic_date)");
}

}  // namespace

std::int64_t SyntheticDate(std::string_view seed_text, std::int64_t first_day, std::int64_t last_day) {
  const auto span = static_cast<std::uint64_t>(last_day - first_day + 1);
  return first_day + static_cast<std::int64_t>(StableHash64(seed_text, 0x5eed) % span);
}

Cleaner::Cleaner(const YAML::Node& rules, RecordSpec output, const std::string& origin,
                 CleanerSettings settings)
    : output_(std::move(output)), settings_(std::move(settings)) {
  if (!rules.IsDefined() || rules.IsNull()) return;  // no rules: typing only
  if (!rules.IsSequence()) throw ConfigError(origin + ": expected a list of rules" + Location(rules));
  std::set<std::string> names;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    YamlMap m(rules[i], origin + "[" + std::to_string(i) + "]");
    // Unnamed rules are called after their type and position, e.g. "range_3".
    const std::string name = m.String("name", m.String("type") + "_" + std::to_string(i));
    YamlMap named(rules[i], origin + "[" + std::to_string(i) + "] (" + name + ")");
    named.label = name;
    if (!names.insert(name).second) named.Fail("name", "duplicate rule name '" + name + "'");
    if (IsReservedDlqWord(name)) {
      named.Fail("name", "'" + name + "' is reserved: it is a fixed DLQ rule code (docs/dlq-codes.md)");
    }
    rules_.push_back(MakeRule(named));
    // A flag is kept only in the flags field: without one in the clean schema the flags would
    // vanish at run time, silently.
    if (rules_.back()->action() == Action::kFlag && !output_.Find(settings_.flags_field)) {
      named.Fail("action", "this rule flags records (action flag), but the clean schema has no '" +
                               settings_.flags_field +
                               "' field to keep the flags in: add it (a nullable string) or use "
                               "another action");
    }
  }
  if (!settings_.flags_field.empty()) {
    const FieldSpec* f = output_.Find(settings_.flags_field);
    if (f && (f->type != FieldType::kString || !f->nullable)) {
      throw ConfigError(origin + ": flags field '" + settings_.flags_field +
                        "' must be a nullable string in the clean schema");
    }
  }
}

Cleaner::~Cleaner() = default;
Cleaner::Cleaner(Cleaner&&) noexcept = default;
Cleaner& Cleaner::operator=(Cleaner&&) noexcept = default;

CleanResult Cleaner::Process(const Row& input, std::int64_t timestamp_ms) {
  CleanResult result;
  Row work;
  work.Reserve(input.size() + 8);  // rules add a few fields (derived dates, flags)
  for (const auto& [name, value] : input.cells()) work.Append(name, value);
  RuleContext ctx{&result.flags, timestamp_ms};
  for (auto& rule : rules_) {
    std::string reason;
    const Step step = rule->Apply(work, ctx, &reason);
    if (step != Step::kContinue) {
      result.outcome = step == Step::kDrop ? Outcome::Drop(rule->name(), std::move(reason))
                                           : Outcome::RuleReject(rule->name(), std::move(reason));
      result.flags.clear();
      for (auto& r : rules_) r->Abandon();
      return result;
    }
  }
  if (!settings_.flags_field.empty() && output_.Find(settings_.flags_field)) {
    std::string joined;
    for (const auto& f : result.flags) joined += (joined.empty() ? "" : ",") + f;
    work.Set(settings_.flags_field, joined.empty() ? Value{Null{}} : Value{joined});
  }
  // Implicit typing into the clean schema.
  std::string why;
  std::optional<Row> typed = TypeInto(work, output_, &why);
  if (!typed) {
    result.outcome = Outcome::Reject(DlqCode::kType, std::move(why));
    result.flags.clear();
    for (auto& r : rules_) r->Abandon();
    return result;
  }
  Row out = std::move(*typed);
  // Rules see the working row (it may hold fields the clean schema leaves out) with the
  // typed values.
  for (const auto& [name, value] : out.cells()) work.Set(name, value);
  for (auto& rule : rules_) rule->Commit(work, timestamp_ms);
  result.outcome = Outcome::Emit();
  result.row = std::move(out);
  return result;
}

void Cleaner::Warm(const Row& clean_row, std::int64_t timestamp_ms) {
  for (auto& rule : rules_) rule->Commit(clean_row, timestamp_ms);
}

std::vector<std::vector<FieldUse>> Cleaner::FieldUses() const {
  std::vector<std::vector<FieldUse>> uses;
  for (const auto& r : rules_) uses.push_back(r->Fields());
  return uses;
}

std::vector<std::string> Cleaner::RuleNames() const {
  std::vector<std::string> names;
  for (const auto& r : rules_) names.push_back(r->name());
  return names;
}

}  // namespace sluice::stages

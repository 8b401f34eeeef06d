#include "rule.hpp"

#include "sluice/stages/csv_reader.hpp"

namespace sluice::stages::rules {
namespace {

Action ActionOf(const std::string& name) {
  if (name == "flag") return Action::kFlag;
  if (name == "fix") return Action::kFix;
  if (name == "drop") return Action::kDrop;
  return Action::kReject;  // the declaration allows nothing else
}

}  // namespace

Rule::Rule(const ComponentInput& in) : name_(in.name), action_(ActionOf(in.options.String("action"))) {}

void DeclareRuleCommon(config::Section& s, const std::string& default_action,
                       std::vector<std::string> actions) {
  using T = config::OptionType;
  s.Add("name", T::kString).Describe("Name used in DLQ headers and metrics; defaults to the type and index").Example("term_is_36_or_60");
  s.Add("action", T::kEnum).Allowed(std::move(actions)).Default(default_action).Describe("reject: send to the DLQ; flag: keep and add a flag; fix: repair in place; drop: discard and count").Example(default_action);
}

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

void AddUses(std::vector<FieldUse>& out, const std::string& key,
             const std::vector<std::string>& fields, FieldAccess access) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    out.push_back(FieldUse{fields[i], key + "[" + std::to_string(i) + "]", access});
  }
}

TargetFields::TargetFields(const ComponentInput& in) {
  if (auto one = in.options.OptionalString("field")) {
    names_ = {*one};
    return;
  }
  list_ = true;
  names_ = in.options.Strings("fields");
  if (names_.empty()) in.Fail("fields", "name at least one field");
  for (std::size_t i = 0; i < names_.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (names_[i] == names_[j]) in.Fail("fields", "'" + names_[i] + "' is listed twice");
    }
  }
}

std::vector<FieldUse> TargetFields::Uses() const {
  std::vector<FieldUse> out;
  if (!list_) {
    out.push_back(FieldUse{names_.front(), "field", FieldAccess::kUpdate});
  } else {
    AddUses(out, "fields", names_, FieldAccess::kUpdate);
  }
  return out;
}

void DeclareTargetFields(config::Section& s, const std::string& what, const std::string& example) {
  using T = config::OptionType;
  s.Add("field", T::kString).Describe(what).Example(example);
  s.Add("fields", T::kList).Describe(what + ", for several fields: the rule applies to each in order").Example("[" + example + "]");
  s.Check(config::OneOf({"field", "fields"}));
}

std::string KeyOf(const Row& row, const std::vector<std::string>& by) {
  std::string key;
  key.reserve(64);
  for (const auto& f : by) {
    const Value& v = row.Get(f);
    if (const auto* s = std::get_if<std::string>(&v)) key += *s;  // no copy of the text
    else key += AsText(v);
    key += '\x1f';
  }
  return key;
}

std::string ShowKey(const Row& row, const std::vector<std::string>& by) {
  std::string out;
  for (const auto& f : by) out += (out.empty() ? "" : ",") + f + "=" + AsText(row.Get(f));
  return out;
}

double KeyedStats::Stat::Median() const {
  std::vector<double> v(recent.begin(), recent.end());
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2 == 1) return *mid;
  const double hi = *mid;
  const double lo = *std::max_element(v.begin(), mid);
  return (lo + hi) / 2;
}

const KeyedStats::Stat* KeyedStats::Find(const std::string& key) const {
  auto it = stats_.find(key);
  return it == stats_.end() ? nullptr : &it->second;
}

void KeyedStats::Observe(const std::string& key, double x) {
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

}  // namespace sluice::stages::rules

#include "sluice/stages/cleaner.hpp"

#include <map>
#include <optional>

#include "rules/rule.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/csv_reader.hpp"
#include "sluice/stages/yaml_util.hpp"

namespace sluice::stages {

using core::ConfigError;
using rules::Step;

const ComponentList<rules::Rule>& CleanerRules() {
  static const ComponentList<rules::Rule> list(
      "rule", {rules::RequiredRule(), rules::CoerceRule(), rules::RangeRule(), rules::RegexRule(),
               rules::AllowedRule(), rules::ImputeRule(), rules::DedupeRule(), rules::OutlierRule(),
               rules::SyntheticDateRule(), rules::LateRule()},
      /*names_in_dlq=*/true);
  return list;
}

std::int64_t SyntheticDate(std::string_view seed_text, std::int64_t first_day, std::int64_t last_day) {
  const auto span = static_cast<std::uint64_t>(last_day - first_day + 1);
  return first_day + static_cast<std::int64_t>(StableHash64(seed_text, 0x5eed) % span);
}

Cleaner::Cleaner(const YAML::Node& rules, RecordSpec output, const std::string& origin,
                 CleanerSettings settings)
    : output_(std::move(output)), settings_(std::move(settings)) {
  for (const auto& in : CleanerRules().Read(rules, origin)) {
    rules_.push_back(CleanerRules().Make(in));
    // A flag is kept only in the flags field: without one in the clean schema the flags would
    // vanish at run time, silently.
    if (rules_.back()->action() == rules::Action::kFlag && !output_.Find(settings_.flags_field)) {
      in.Fail("action", "this rule flags records (action flag), but the clean schema has no '" +
                            settings_.flags_field +
                            "' field to keep the flags in: add it (a nullable string) or use "
                            "another action");
    }
  }
  // What each field was coerced to by the rules before each rule (as --check's RuleOrder
  // follows it), for the rules that depend on it (late).
  std::map<std::string, std::string> coerced;
  for (auto& rule : rules_) {
    rule->Bind(coerced, output_);
    for (const auto& use : rule->Fields()) {
      if (use.coerced_to.empty()) continue;
      if (use.coerced_to == "string") coerced.erase(use.field);
      else coerced[use.field] = use.coerced_to;
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

CleanResult Cleaner::Process(Row work, std::int64_t timestamp_ms) {
  CleanResult result;
  work.Reserve(work.size() + 8);  // rules add a few fields (derived dates, flags)
  rules::RuleContext ctx{&result.flags, timestamp_ms};
  auto refuse = [&](Outcome outcome) {
    result.outcome = std::move(outcome);
    result.flags.clear();
    for (auto& r : rules_) r->Abandon();
    return std::move(result);
  };
  for (auto& rule : rules_) {
    std::string reason;
    const Step step = rule->Apply(work, ctx, &reason);
    if (step != Step::kContinue) {
      if (step == Step::kDrop) return refuse(Outcome::Drop(rule->name(), std::move(reason)));
      if (rule->RejectCode() != DlqCode::kRule) return refuse(Outcome::Reject(rule->RejectCode(), std::move(reason)));
      return refuse(Outcome::RuleReject(rule->name(), std::move(reason)));
    }
  }
  if (!settings_.flags_field.empty() && output_.Find(settings_.flags_field)) {
    std::string joined;
    for (const auto& f : result.flags) joined += (joined.empty() ? "" : ",") + f;
    work.Set(settings_.flags_field, joined.empty() ? Value{Null{}} : Value{joined});
  }
  // Implicit typing into the clean schema, in place: rules then see the working row (it may
  // hold fields the clean schema leaves out) with the typed values, and the clean row takes
  // its cells from it.
  std::string why;
  if (!TypeInPlace(work, output_, &slots_, &why)) return refuse(Outcome::Reject(DlqCode::kType, std::move(why)));
  for (auto& rule : rules_) rule->Commit(work, timestamp_ms);
  result.outcome = Outcome::Emit();
  result.row = TakeTyped(work, slots_);
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

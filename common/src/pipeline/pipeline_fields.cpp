#include "sluice/pipeline/pipeline_fields.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include "sluice/config/spec.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/enricher.hpp"

namespace sluice::pipeline {

// The vocabulary of the config and stages modules, used throughout this file.
using namespace sluice::config;  // NOLINT(google-build-using-namespace)
using namespace sluice::stages;  // NOLINT(google-build-using-namespace)
namespace {

using config::Issue;
using config::JoinPath;
using pipeline::PipelineConfig;
using config::View;

std::string Indexed(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string Suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string hint = config::ClosestMatch(word, candidates);
  return hint.empty() ? "" : " (did you mean '" + hint + "'?)";
}

// One of the pipeline's schemas, as the messages name it.
struct Schema {
  std::string label;  // "the raw schema (loans.raw.v1.avsc)"
  RecordSpec spec;

  bool Has(const std::string& field) const { return spec.Find(field) != nullptr; }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& f : spec.fields) names.push_back(f.name);
    return names;
  }
};

// The first step after `after` whose uses of `field` have the given kind, if any.
std::optional<std::size_t> Later(const std::vector<std::vector<FieldUse>>& steps, std::size_t after,
                                 const std::string& field, bool writes) {
  for (std::size_t j = after + 1; j < steps.size(); ++j) {
    for (const auto& use : steps[j]) {
      if (use.field == field && (use.access == FieldAccess::kWrite) == writes) return j;
    }
  }
  return std::nullopt;
}

class Checker {
 public:
  explicit Checker(const PipelineConfig& config) : config_(config) {}

  // nullopt when the schema is not set, or could not be read (reported once per file).
  std::optional<Schema> Load(const std::string& which) {
    const auto path = config_.SchemaPath(which);
    if (path.empty()) return std::nullopt;
    auto [it, fresh] = loaded_.emplace(path.string(), std::nullopt);
    if (fresh) {
      try {
        it->second = LoadRecordSpec(path.string());
      } catch (const core::ConfigError& e) {
        Error("schemas." + which, e.what());
      }
    }
    if (!it->second) return std::nullopt;
    return Schema{"the " + which + " schema (" + path.filename().string() + ")", *it->second};
  }

  void CheckProducer(const Schema& raw) {
    const View producer = config_.SectionView("producer");
    if (!producer.Exists()) return;
    const auto keys = producer.Strings("key");
    for (std::size_t i = 0; i < keys.size(); ++i) InSchema(raw, keys[i], Indexed("producer.key", i));
    if (producer.Has("id")) {
      const View id = producer.Child("id");
      const std::string field = id.String("field");
      InSchema(raw, field, "producer.id.field");
      const auto from = id.Strings("from");
      for (std::size_t i = 0; i < from.size(); ++i) {
        const std::string path = Indexed("producer.id.from", i);
        if (from[i] == field) {
          Error(path, "'" + field + "' is the id field itself: the id is hashed from the other fields");
        } else {
          InSchema(raw, from[i], path);
        }
      }
    }
    for (const View& source : producer.Items("sources")) {
      const std::string type = source.String("type");
      if (type == "csv") {
        for (const auto& [column, field] : source.StringMap("columns")) {
          InSchema(raw, field, JoinPath(source.Path(), "columns." + column));
        }
      }
    }
  }

  void CheckCleaner(const Schema& raw, const Schema& clean) {
    const YAML::Node rules = config::Lookup(config_.SectionView("cleaner").Node(), "rules");
    try {
      const Cleaner cleaner(rules, clean.spec, "cleaner.rules");
      Flow("cleaner.rules", "rule", raw, clean, cleaner.FieldUses());
      RuleOrder(rules, cleaner.FieldUses());
    } catch (const core::ConfigError& e) {
      EngineError("cleaner.rules", e.what());
    }
  }

  void CheckEnricher(const Schema& clean, const Schema& enriched) {
    const YAML::Node steps = config::Lookup(config_.SectionView("enricher").Node(), "steps");
    // The steps are built only to learn their fields: nothing is looked up.
    EnricherDeps deps;
    deps.table_loader = [](const std::string&, const std::string&, const std::vector<std::string>&) {
      return LookupTable::Loader([] { return std::vector<Row>{}; });
    };
    deps.versioned_loader = [](const EnricherDeps::VersionedQuery&) {
      return VersionedTable::Loader([] { return VersionedTable::Snapshot{}; });
    };
    deps.http_fetch = [](const std::string&, core::Duration) { return std::optional<HttpResponse>(); };
    try {
      const Enricher enricher(steps, enriched.spec, "enricher.steps", std::move(deps));
      Flow("enricher.steps", "step", clean, enriched, enricher.FieldUses());
    } catch (const core::ConfigError& e) {
      EngineError("enricher.steps", e.what());
    }
  }

  void CheckSink(const Schema& enriched) {
    const View sink = config_.SectionView("sink");
    if (!sink.Exists()) return;
    const auto keys = sink.Strings("key");
    for (std::size_t i = 0; i < keys.size(); ++i) InSchema(enriched, keys[i], Indexed("sink.key", i));
  }

  std::vector<Issue> Take() { return std::move(issues_); }

 private:
  void Error(const std::string& path, const std::string& message) {
    issues_.push_back(config_.IssueAt(path, message));
  }

  // The engines name the rule in their own messages ("cleaner.rules[3] (x).min: ...").
  void EngineError(const std::string& path, const std::string& message) {
    Issue issue = config_.IssueAt(path, message);
    issue.path.clear();
    issues_.push_back(std::move(issue));
  }

  void InSchema(const Schema& schema, const std::string& field, const std::string& path) {
    if (schema.Has(field)) return;
    Error(path, "unknown field '" + field + "': not in " + schema.label +
                    Suggestion(field, schema.Names()));
  }

  // An allowed or regex rule compares a value's text; after a coerce to bool, date or
  // timestamp that text is "true" or a day count, and after a coerce to a number it is
  // digits, which an allowed list without a number never accepts: every record with a value
  // would fail the rule, which --check accepted before because the field names are right.
  void RuleOrder(const YAML::Node& rules, const std::vector<std::vector<FieldUse>>& uses) {
    struct Coerced {
      std::size_t rule;
      std::string type;
    };
    std::map<std::string, Coerced> coerced;  // field -> the last coerce that left a non-text value
    for (std::size_t i = 0; i < uses.size(); ++i) {
      for (const auto& use : uses[i]) {
        auto it = coerced.find(use.field);
        if (!use.compares_text || it == coerced.end()) continue;
        const std::string& type = it->second.type;
        const bool number = type == "int" || type == "long" || type == "double" || type == "decimal";
        if (number && use.number_text_passes) continue;
        const std::string path = Indexed("cleaner.rules", i);
        const std::string kind = RuleType(rules, i);
        Error(JoinPath(path, use.key),
              "rule '" + RuleName(rules, i) + "' (" + kind + ") compares the text of '" + use.field +
                  "', which rule '" + RuleName(rules, it->second.rule) + "' (" +
                  Indexed("cleaner.rules", it->second.rule) + ") has already coerced to " + type +
                  ", so every record with a value would fail it: put the " + kind +
                  " rule before the coerce");
      }
      for (const auto& use : uses[i]) {
        if (use.coerced_to.empty()) continue;
        if (use.coerced_to == "string") coerced.erase(use.field);
        else coerced[use.field] = Coerced{i, use.coerced_to};
      }
      if (RuleType(rules, i) == "dedupe") DedupeBeforeRewrite(rules, uses, i);
    }
  }

  // A dedupe rule compares a record's key as the rules before it left it, but remembers the
  // key of the row the cleaner emits: a later rule that rewrites a key field (a date coerced
  // from its text) makes the two differ, and no duplicate is ever found.
  void DedupeBeforeRewrite(const YAML::Node& rules, const std::vector<std::vector<FieldUse>>& uses,
                           std::size_t i) {
    for (const auto& key : uses[i]) {
      for (std::size_t j = i + 1; j < uses.size(); ++j) {
        const auto rewrites = std::find_if(uses[j].begin(), uses[j].end(), [&](const FieldUse& u) {
          return u.field == key.field && u.access == FieldAccess::kUpdate;
        });
        if (rewrites == uses[j].end()) continue;
        Error(JoinPath(Indexed("cleaner.rules", i), key.key),
              "rule '" + RuleName(rules, i) + "' (dedupe) keys on '" + key.field + "', which rule '" +
                  RuleName(rules, j) + "' (" + Indexed("cleaner.rules", j) + ", " + RuleType(rules, j) +
                  ") rewrites after it, so the key it remembers is not the key it compares and no "
                  "duplicate would be found: put the dedupe rule after it");
        break;
      }
    }
  }

  static std::string RuleType(const YAML::Node& rules, std::size_t i) {
    const YAML::Node type = config::Lookup(rules[i], "type");
    return type.IsScalar() ? type.Scalar() : "";
  }

  // As the cleaner names a rule: its `name`, else "<type>_<index>".
  static std::string RuleName(const YAML::Node& rules, std::size_t i) {
    const YAML::Node name = config::Lookup(rules[i], "name");
    return name.IsScalar() ? name.Scalar() : RuleType(rules, i) + "_" + std::to_string(i);
  }

  // Rules (or steps) run in order on a record of `in`; the result is typed into `out`.
  // A field in neither schema that draws any complaint is most likely a typo: it gets ONE
  // issue, at its first use, with the "did you mean" (not one per rule naming it, the first
  // of them saying it is "written only by a later rule").
  void Flow(const std::string& path, const std::string& noun, const Schema& in, const Schema& out,
            const std::vector<std::vector<FieldUse>>& steps) {
    struct Complaint {
      std::string field, where, message;
      bool written_later = false;  // "written only by a later ..."
    };
    std::vector<Complaint> complaints;
    std::vector<std::string> known = in.Names();  // in the record when the step runs
    std::set<std::string> written;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const std::string step_path = Indexed(path, i);
      for (const auto& use : steps[i]) {
        if (use.access == FieldAccess::kWrite || in.Has(use.field) || written.count(use.field)) continue;
        const std::string where = JoinPath(step_path, use.key);
        if (auto later = Later(steps, i, use.field, true)) {
          complaints.push_back({use.field, where,
                                "field '" + use.field + "' is written only by a later " + noun +
                                    " (" + Indexed(path, *later) + "): " + noun +
                                    "s run in the order written",
                                true});
        } else {
          complaints.push_back({use.field, where,
                                "unknown field '" + use.field + "': not in " + in.label +
                                    " and not written by an earlier " + noun +
                                    Suggestion(use.field, known)});
        }
      }
      for (const auto& use : steps[i]) {
        if (use.access != FieldAccess::kWrite) continue;
        if (written.insert(use.field).second && !in.Has(use.field)) known.push_back(use.field);
        if (out.Has(use.field) || Later(steps, i, use.field, false)) continue;
        complaints.push_back({use.field, JoinPath(step_path, use.key),
                              "field '" + use.field + "' is not in " + out.label + " and no later " +
                                  noun + " reads it, so its value would be lost" +
                                  Suggestion(use.field, out.Names())});
      }
    }
    std::set<std::string> stray_reported;
    for (const Complaint& c : complaints) {
      if (in.Has(c.field) || out.Has(c.field)) {
        Error(c.where, c.message);
        continue;
      }
      if (!stray_reported.insert(c.field).second) continue;
      if (!c.written_later) {
        Error(c.where, c.message);  // already the unknown-field or lost-value message
        continue;
      }
      std::vector<std::string> names = in.Names();
      for (const std::string& n : out.Names()) names.push_back(n);
      Error(c.where, "unknown field '" + c.field + "': not in " + in.label + " nor in " +
                         out.label + ", and no earlier " + noun + " writes it" +
                         Suggestion(c.field, names));
    }
  }

  const PipelineConfig& config_;
  std::map<std::string, std::optional<RecordSpec>> loaded_;  // by schema file
  std::vector<Issue> issues_;
};

}  // namespace

std::vector<Issue> CheckPipelineFields(const PipelineConfig& config) {
  Checker check(config);
  const auto raw = check.Load("raw");
  const auto clean = check.Load("clean");
  const auto enriched = check.Load("enriched");
  if (raw) check.CheckProducer(*raw);
  if (raw && clean) check.CheckCleaner(*raw, *clean);
  if (clean && enriched) check.CheckEnricher(*clean, *enriched);
  if (enriched) check.CheckSink(*enriched);
  return check.Take();
}

}  // namespace sluice::pipeline

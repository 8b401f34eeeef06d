#include "case_file.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "sluice/config/environment.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/yaml_util.hpp"

namespace sluice::cases {

namespace fs = std::filesystem;
using stages::Row;
using stages::Value;

namespace {

int LineOf(const YAML::Node& node) { return node.IsDefined() ? node.Mark().line + 1 : 0; }

// Unknown keys are errors: a misspelt `expcet:` must fail, not pass unchecked.
void AllowOnly(const YAML::Node& map, const std::vector<std::string>& known, const std::string& where) {
  if (!map.IsMap()) throw core::ConfigError(where + ": expected a map" + stages::Location(map));
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw core::ConfigError(where + (where.empty() ? "" : ": ") + "unknown key '" + key + "' (known: " + list + ")" +
                              stages::Location(it->first));
    }
  }
}

bool SameValue(const Value& got, const Value& want) {
  const auto* g = std::get_if<double>(&got);
  const auto* w = std::get_if<double>(&want);
  if (g && w) return std::fabs(*g - *w) <= 1e-9 * std::max(1.0, std::fabs(*w));
  return got == want;
}

std::string Show(const CaseResult& o, const std::string& marks_key) {
  std::string s(stages::KindName(o.outcome.kind()));
  if (!o.outcome.rule().empty()) s += " by " + o.outcome.rule() + ": " + o.outcome.reason();
  if (!o.marks.empty()) {
    s += ", " + marks_key + ":";
    for (const auto& m : o.marks) s += " " + m;
  }
  return s;
}

std::string Join(const std::vector<std::string>& list) {
  std::string s = "[";
  for (std::size_t i = 0; i < list.size(); ++i) s += (i ? ", " : "") + list[i];
  return s + "]";
}

// The expected fields (a subset of the output schema), dates as YYYY-MM-DD.
void CheckFields(const YAML::Node& want, const Row& got, const stages::RecordSpec& spec, Report& report,
                 const std::string& label) {
  if (!want) return;
  if (!want.IsMap()) return report.Fail(want, label + ": output: expected a map of field: value");
  for (auto it = want.begin(); it != want.end(); ++it) {
    const std::string field = it->first.as<std::string>();
    const stages::FieldSpec* f = spec.Find(field);
    if (!f) {
      report.Fail(it->first, label + ": output field '" + field + "' is not in the output schema");
      continue;
    }
    std::string why;
    const auto typed = stages::ConvertTo(stages::ScalarValue(it->second), f->type, &why);
    if (!typed) {
      report.Fail(it->second, label + ": expected value of '" + field + "' is not a " +
                                  std::string(stages::FieldTypeName(f->type)) + ": " + why);
      continue;
    }
    const Value* value = got.Find(field);
    if (!value) {
      report.Fail(it->first, label + ": the output has no field '" + field + "'");
    } else if (!SameValue(*value, *typed)) {
      report.Fail(it->second, label + ": " + field + " is " + stages::Describe(*value) + ", expected " +
                                  stages::Describe(*typed));
    }
  }
}

}  // namespace

void Report::Fail(const YAML::Node& at, const std::string& what) {
  ++failures_;
  const int line = LineOf(at);
  std::cerr << file_.string() << (line ? ":" + std::to_string(line) : "") << ": " << what << "\n";
}

fs::path CaseFile::Resolve(const std::string& relative) const {
  const fs::path p(relative);
  return p.is_absolute() ? p : (path.parent_path() / p).lexically_normal();
}

YAML::Node CaseFile::ListOf(const std::string& section, const std::string& list_key) const {
  if (doc[list_key]) return doc[list_key];
  if (pipeline) return pipeline->SectionView(section).Node()[list_key];
  return YAML::Node(YAML::NodeType::Undefined);
}

std::optional<stages::RecordSpec> CaseFile::SchemaOf(const std::string& inline_key, const std::string& file_key,
                                                     const std::string& pipeline_role) const {
  if (const YAML::Node fields = doc[inline_key]) {
    if (!fields.IsMap()) throw core::ConfigError(path.string() + ": " + inline_key + ": expected {field: type}");
    stages::RecordSpec spec;
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      stages::FieldSpec f;
      f.name = it->first.as<std::string>();
      std::string type = it->second.as<std::string>();
      if (!type.empty() && type.back() == '?') {
        f.nullable = true;
        type.pop_back();
      }
      f.type = stages::ParseFieldType(type);
      spec.fields.push_back(f);
    }
    return spec;
  }
  if (doc[file_key]) return stages::LoadRecordSpec(Resolve(doc[file_key].as<std::string>()).string());
  if (pipeline && !pipeline->SchemaPath(pipeline_role).empty()) {
    return stages::LoadRecordSpec(pipeline->SchemaPath(pipeline_role).string());
  }
  return std::nullopt;
}

std::string StageOf(const YAML::Node& doc) {
  if (!doc.IsMap() || !doc["stage"]) {
    throw core::ConfigError("missing 'stage:' (cleaner or enricher)");
  }
  return doc["stage"].as<std::string>();
}

CaseFile LoadCaseFile(const fs::path& path, const std::vector<std::string>& stage_keys) {
  CaseFile file;
  file.path = path;
  file.doc = YAML::LoadFile(path.string());
  std::vector<std::string> known = {"stage", "description", "pipeline", "schema", "schema_file", "cases",
                                    "config_errors"};
  known.insert(known.end(), stage_keys.begin(), stage_keys.end());
  AllowOnly(file.doc, known, path.string());
  if (file.doc["pipeline"]) {
    file.pipeline = pipeline::PipelineConfig::Load(file.Resolve(file.doc["pipeline"].as<std::string>()),
                                                 config::Environment());
  }
  return file;
}

Row InputOf(const YAML::Node& input) {
  Row row;
  if (!input.IsMap()) throw core::ConfigError("input: expected a map of field: value" + stages::Location(input));
  for (auto it = input.begin(); it != input.end(); ++it) {
    row.Set(it->first.as<std::string>(), stages::ScalarValue(it->second));
  }
  return row;
}

std::int64_t MillisOf(const YAML::Node& at) {
  if (!at) return 0;
  if (auto d = core::ParseDuration(at.Scalar())) return d->count();
  return at.as<std::int64_t>();
}

std::size_t RunCases(const CaseFile& file, const StageCases& stage, Report& report) {
  const YAML::Node list = file.doc["cases"];
  if (!list) return 0;
  if (!list.IsSequence()) {
    report.Fail(list, "cases: expected a list");
    return 0;
  }
  const std::vector<std::string> case_keys = {"name", "at", "input", "expect", "output", "rule", "reason",
                                              stage.marks_key};
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node c = list[i];
    const std::string label = "case " + std::to_string(i) + " '" +
                              (c.IsMap() && c["name"] ? c["name"].as<std::string>() : "(unnamed)") + "'";
    try {
      AllowOnly(c, case_keys, "");
      if (!c["input"] || !c["expect"]) {
        report.Fail(c, label + ": needs input and expect");
        continue;
      }
      const std::string expect = c["expect"].as<std::string>();
      const CaseResult got = stage.process(c);
      const std::string shown = Show(got, stage.marks_key);
      if (expect == "emit" || expect == stage.marked) {
        if (!got.outcome.IsEmit()) {
          report.Fail(c["expect"], label + ": expected " + expect + ", got " + shown);
          continue;
        }
        // expect: emit means no marks unless the case lists them; a marked expect needs one.
        if (c[stage.marks_key] || expect == "emit") {
          std::vector<std::string> want;
          if (c[stage.marks_key]) want = c[stage.marks_key].as<std::vector<std::string>>();
          if (got.marks != want) {
            report.Fail(c[stage.marks_key] ? c[stage.marks_key] : c["expect"],
                        label + ": " + stage.marks_key + " " + Join(got.marks) + ", expected " + Join(want));
          }
        }
        if (expect == stage.marked && got.marks.empty()) {
          report.Fail(c["expect"], label + ": expected at least one of " + stage.marks_key + ", got none");
        }
        CheckFields(c["output"], got.row, *stage.output, report, label);
        // The emitted row has exactly the output schema's fields, in order.
        bool same_shape = got.row.size() == stage.output->fields.size();
        for (std::size_t f = 0; same_shape && f < got.row.size(); ++f) {
          same_shape = got.row.cells()[f].first == stage.output->fields[f].name;
        }
        if (!same_shape) report.Fail(c, label + ": the output row does not have the output schema's fields in order");
      } else if (expect == "reject" || (expect == "drop" && stage.can_drop)) {
        if (!c["rule"]) report.Fail(c, label + ": expect: " + expect + " needs rule (and reason)");
        if (stages::KindName(got.outcome.kind()) != expect || got.outcome.rule() != c["rule"].as<std::string>("") ||
            got.outcome.reason().find(c["reason"].as<std::string>("")) == std::string::npos) {
          report.Fail(c["expect"], label + ": expected " + expect + " by " + c["rule"].as<std::string>("?") +
                                       ": ..." + c["reason"].as<std::string>("") + "..., got " + shown);
        }
      } else {
        report.Fail(c["expect"], label + ": unknown expect '" + expect + "' (emit, " + stage.marked +
                                     ", reject" + (stage.can_drop ? ", drop" : "") + ")");
      }
    } catch (const std::exception& e) {
      report.Fail(c, label + ": " + e.what());
    }
  }
  return list.size();
}

std::size_t RunConfigErrors(const CaseFile& file, const std::string& list_key,
                            const std::function<void(const YAML::Node& list)>& build, Report& report) {
  const YAML::Node errors = file.doc["config_errors"];
  if (!errors) return 0;
  if (!errors.IsSequence()) {
    report.Fail(errors, "config_errors: expected a list");
    return 0;
  }
  for (std::size_t i = 0; i < errors.size(); ++i) {
    const YAML::Node e = errors[i];
    const std::string label = "config error " + std::to_string(i);
    try {
      AllowOnly(e, {list_key, "error"}, "");
      const std::string want = e["error"].as<std::string>();
      try {
        build(e[list_key]);
        report.Fail(e, label + ": the " + list_key + " loaded, expected an error containing '" + want + "'");
      } catch (const core::ConfigError& error) {
        if (std::string(error.what()).find(want) == std::string::npos) {
          report.Fail(e["error"], label + ": the error is '" + error.what() + "', expected it to contain '" + want + "'");
        }
      }
    } catch (const std::exception& error) {
      report.Fail(e, label + ": " + error.what());
    }
  }
  return errors.size();
}

void CollectTypes(const CaseFile& file, const std::string& stage, const std::string& list_key,
                  std::set<std::string>& types) {
  auto add = [&](const YAML::Node& list) {
    if (!list || !list.IsSequence()) return;
    for (const auto& entry : list) {
      if (entry.IsMap() && entry["type"]) types.insert(stage + ":" + entry["type"].as<std::string>());
    }
  };
  add(file.ListOf(stage, list_key));
  const YAML::Node errors = file.doc["config_errors"];
  for (std::size_t i = 0; errors && errors.IsSequence() && i < errors.size(); ++i) {
    if (errors[i].IsMap()) add(errors[i][list_key]);
  }
}

}  // namespace sluice::cases

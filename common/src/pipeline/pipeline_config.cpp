#include "sluice/pipeline/pipeline_config.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sluice/pipeline/pipeline_spec.hpp"
#include "sluice/config/spec.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/file.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::pipeline {

// The option-spec and issue vocabulary of the config module, used throughout this file.
using namespace sluice::config;  // NOLINT(google-build-using-namespace)
namespace fs = std::filesystem;

namespace {

// Files the pipeline definition points at must exist: a typo there is a config error, found
// by --check rather than at the first record.
void CheckFileExists(const YAML::Node& raw, const std::string& path, const fs::path& base,
                     Validator& v) {
  if (!raw.IsScalar()) return;
  fs::path p = base / raw.Scalar();
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    v.Error(raw, path, "file '" + raw.Scalar() + "' not found (paths are relative to the pipeline file)");
  }
}

void CheckReferencedFiles(const YAML::Node& root, const fs::path& base, Validator& v) {
  if (!root.IsMap()) return;
  const YAML::Node schemas = Lookup(root, "schemas");
  if (schemas.IsMap()) {
    for (const char* which : {"raw", "clean", "enriched"}) {
      if (Lookup(schemas, which).IsDefined()) {
        CheckFileExists(Lookup(schemas, which), std::string("schemas.") + which, base, v);
      }
    }
  }
  const YAML::Node views = Lookup(Lookup(root, "sink"), "views");
  if (views.IsSequence()) {
    for (size_t i = 0; i < views.size(); ++i) {
      CheckFileExists(views[i], "sink.views[" + std::to_string(i) + "]", base, v);
    }
  }
}

void MaskSecrets(YAML::Node node) {
  if (node.IsMap()) {
    for (auto kv : node) {
      if (kv.first.IsScalar() && IsSecretName(kv.first.Scalar()) && kv.second.IsScalar()) {
        kv.second = "****";
      } else {
        MaskSecrets(kv.second);
      }
    }
  } else if (node.IsSequence()) {
    for (auto item : node) MaskSecrets(item);
  }
}

// One layout whatever the file used: lists of scalars and empty collections inline, the rest
// as blocks, so printing is stable (print, re-load, print gives the same text).
void NormalizeStyle(YAML::Node node) {
  if (node.IsSequence()) {
    bool scalars = true;
    for (auto item : node) {
      scalars = scalars && item.IsScalar();
      NormalizeStyle(item);
    }
    node.SetStyle(scalars ? YAML::EmitterStyle::Flow : YAML::EmitterStyle::Block);
  } else if (node.IsMap()) {
    for (auto kv : node) NormalizeStyle(kv.second);
    node.SetStyle(node.size() == 0 ? YAML::EmitterStyle::Flow : YAML::EmitterStyle::Block);
  }
}

// The deepest node of the written tree along key path `path`. A map key may itself contain
// dots ("retention.ms"), so the longest key that prefixes the rest of the path wins.
YAML::Node DeepestNode(const YAML::Node& node, std::string_view path) {
  if (!path.empty() && path.front() == '.') path.remove_prefix(1);
  if (path.empty()) return node;
  if (path.front() == '[') {
    const size_t close = path.find(']');
    size_t index = 0;
    auto [end, ec] = std::from_chars(path.data() + 1, path.data() + std::min(close, path.size()), index);
    if (close == std::string_view::npos || ec != std::errc() || end != path.data() + close ||
        !node.IsSequence() || index >= node.size()) {
      return node;
    }
    return DeepestNode(node[index], path.substr(close + 1));
  }
  if (!node.IsMap()) return node;
  size_t best = 0;
  YAML::Node next;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) continue;
    const std::string& key = kv.first.Scalar();
    if (key.size() <= best || path.substr(0, key.size()) != key) continue;
    if (key.size() == path.size() || path[key.size()] == '.' || path[key.size()] == '[') {
      best = key.size();
      next.reset(kv.second);
    }
  }
  return best == 0 ? node : DeepestNode(next, path.substr(best));
}

}  // namespace

std::vector<Issue> PipelineConfig::CheckText(const std::string& yaml,
                                             const std::string& display_name,
                                             const fs::path& base_dir, const Environment& env,
                                             PipelineConfig* out) {
  YAML::Node raw;
  try {
    raw = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    Issue issue{display_name, "", e.mark.line + 1, e.mark.column + 1,
                "YAML syntax error: " + e.msg};
    if (e.mark.line < 0) issue.line = issue.column = 0;
    return {issue};
  }
  if (!raw.IsDefined() || raw.IsNull()) {
    return {Issue{display_name, "", 0, 0,
                  "the file is empty; expected a map starting with 'pipeline: <name>'"}};
  }
  if (!raw.IsMap()) {
    Validator v(display_name);
    v.Error(raw, "", "expected a map of sections (pipeline, topics, producer, ...), got " +
                         Describe(raw));
    return v.TakeIssues();
  }
  std::string name;
  if (Lookup(raw, "pipeline").IsScalar()) name = Lookup(raw, "pipeline").Scalar();
  Validator v(display_name, name);
  YAML::Node effective = v.ValidateSection(raw, PipelineSpec(), "");
  CheckReferencedFiles(raw, base_dir, v);
  std::vector<Issue> issues = v.TakeIssues();
  for (auto& issue : env.Validate()) issues.push_back(std::move(issue));
  if (!issues.empty() || !out) return issues;

  PipelineConfig c;
  c.file_ = base_dir / fs::path(display_name).filename();
  c.display_name_ = display_name;
  c.name_ = name;
  c.raw_ = raw;
  c.effective_ = effective;
  c.env_ = env;
  c.root_ = View(effective, "");
  c.ReadTopics();
  c.endpoints_.kafka_brokers = env.Get("SLUICE_KAFKA_BROKERS").value_or("");
  c.endpoints_.registry_url = env.Get("SLUICE_REGISTRY_URL").value_or("");
  while (!c.endpoints_.registry_url.empty() && c.endpoints_.registry_url.back() == '/') {
    c.endpoints_.registry_url.pop_back();
  }
  c.endpoints_.registry_username = env.Get("SLUICE_REGISTRY_USERNAME").value_or("");
  c.endpoints_.registry_password = env.Get("SLUICE_REGISTRY_PASSWORD").value_or("");
  c.endpoints_.pg_conninfo = env.Get("SLUICE_PG_URL").value_or("");
  *out = std::move(c);
  return {};
}

std::vector<Issue> PipelineConfig::Check(const fs::path& file, const Environment& env,
                                         PipelineConfig* out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return {Issue{file.string(), "", 0, 0,
                  std::string("cannot read the pipeline file: ") + std::strerror(errno)}};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto issues = CheckText(buffer.str(), file.string(), file.parent_path(), env, out);
  if (issues.empty() && out) out->file_ = fs::absolute(file);
  return issues;
}

PipelineConfig PipelineConfig::Load(const fs::path& file, const Environment& env) {
  PipelineConfig config;
  auto issues = Check(file, env, &config);
  if (!issues.empty()) {
    std::string text = FormatIssues(std::move(issues));
    if (!text.empty() && text.back() == '\n') text.pop_back();
    throw core::ConfigError(text);
  }
  return config;
}

void PipelineConfig::ReadTopics() {
  View topics = root_.Child("topics");
  topics_.raw = topics.String("raw");
  topics_.clean = topics.String("clean");
  topics_.enriched = topics.String("enriched");
  topics_.dlq = topics.String("dlq");
  topics_.partitions = static_cast<int>(topics.Int("partitions"));
  topics_.replication = static_cast<int>(topics.Int("replication"));
  topics_.configs = topics.StringMap("configs");
}

void PipelineConfig::TrackReads() {
  root_ = View::Tracked(effective_, "");
  root_.String("pipeline");  // the name, read at load
  ReadTopics();              // read at load: read again, now tracked
}

View PipelineConfig::SectionView(const std::string& key) const { return root_.Child(key); }

fs::path PipelineConfig::SchemaPath(const std::string& which) const {
  View schemas = SectionView("schemas");
  std::string chosen = which;
  // clean defaults to raw, enriched to clean: a stage that only validates keeps the shape.
  while (!schemas.Has(chosen)) {
    if (chosen == "enriched") {
      chosen = "clean";
    } else if (chosen == "clean") {
      chosen = "raw";
    } else {
      return {};
    }
  }
  return (file_.parent_path() / schemas.String(chosen)).lexically_normal();
}

avro::Schema PipelineConfig::LoadSchema(const std::string& which) const {
  const fs::path path = SchemaPath(which);
  if (path.empty()) throw core::ConfigError("schemas." + which + " is not set in the pipeline file");
  try {
    return avro::ParseSchema(stages::LoadAvsc(path.string()));  // sluice.extends resolved
  } catch (const avro::SchemaParseError& e) {
    throw core::ConfigError(path.string() + ": " + e.what());
  }
}

std::map<std::string, std::string> PipelineConfig::Librdkafka(Stage stage) const {
  std::map<std::string, std::string> props;
  const YAML::Node all = SectionView("librdkafka").Node();
  const std::string key(IdentityOf(stage).section);
  if (all.IsMap()) {
    for (const auto& kv : all) {
      if (kv.second.IsScalar()) props[kv.first.Scalar()] = kv.second.Scalar();
    }
    const YAML::Node mine = Lookup(all, key);
    if (mine.IsMap()) {
      for (const auto& kv : mine) props[kv.first.Scalar()] = kv.second.Scalar();
    }
  }
  if (!endpoints_.kafka_brokers.empty()) props["bootstrap.servers"] = endpoints_.kafka_brokers;
  if (auto u = env_.Get("SLUICE_KAFKA_SASL_USERNAME")) props["sasl.username"] = *u;
  if (auto p = env_.Get("SLUICE_KAFKA_SASL_PASSWORD")) props["sasl.password"] = *p;
  return props;
}

std::string PipelineConfig::ConsumerGroup(Stage stage) const { return ConsumerGroupOf(stage, name_); }

std::string PipelineConfig::GroupInstanceId(Stage stage) const {
  return GroupInstanceIdOf(stage, name_, InstanceId());
}

std::string PipelineConfig::TransactionalId(Stage stage) const {
  return TransactionalIdOf(stage, name_, InstanceId());
}

std::string PipelineConfig::InstanceId() const {
  auto v = env_.Get("SLUICE_INSTANCE_ID");
  return v && !v->empty() ? *v : "0";
}

Issue PipelineConfig::IssueAt(const std::string& path, std::string message) const {
  Issue issue{display_name_, path, 0, 0, std::move(message)};
  const YAML::Mark mark = DeepestNode(raw_, path).Mark();
  if (mark.line >= 0) {
    issue.line = mark.line + 1;
    issue.column = mark.column + 1;
  }
  return issue;
}

std::string PipelineConfig::ToYaml() const {
  YAML::Node copy = YAML::Clone(effective_);
  MaskSecrets(copy);
  NormalizeStyle(copy);
  std::string out = "# Effective configuration of " + file_.string() +
                    "\n# (defaults filled in; endpoints and secrets come from the environment)\n"
                    "# environment:\n";
  bool any = false;
  for (const auto& name : Environment::KnownNames()) {
    auto v = env_.Get(name);
    if (!v) continue;
    any = true;
    std::string shown = IsSecretName(name) ? "****" : MaskUrl(*v);
    out += "#   " + name + "=" + shown + "\n";
  }
  if (!any) out += "#   (none of SLUICE_KAFKA_BROKERS, SLUICE_REGISTRY_URL, SLUICE_PG_URL, PG* set)\n";
  YAML::Emitter emitter;
  emitter << copy;
  out += emitter.c_str();
  out += "\n";
  return out;
}

void PipelineConfig::RequireKafka() const {
  if (endpoints_.kafka_brokers.empty()) {
    throw core::ConfigError(
        "environment: SLUICE_KAFKA_BROKERS is not set; export the Kafka bootstrap servers, "
        "e.g. SLUICE_KAFKA_BROKERS=127.0.0.1:19092");
  }
}

void PipelineConfig::RequireRegistry() const {
  if (endpoints_.registry_url.empty()) {
    throw core::ConfigError(
        "environment: SLUICE_REGISTRY_URL is not set; export the schema registry URL, "
        "e.g. SLUICE_REGISTRY_URL=http://127.0.0.1:18081");
  }
}

void PipelineConfig::RequirePg() const {
  if (endpoints_.pg_conninfo.empty() && !env_.Get("PGHOST") && !env_.Get("PGDATABASE")) {
    throw core::ConfigError(
        "environment: neither SLUICE_PG_URL nor PGHOST/PGDATABASE is set; export a libpq URI, "
        "e.g. SLUICE_PG_URL=postgresql://user@127.0.0.1:5432/db");
  }
}

}  // namespace sluice::pipeline

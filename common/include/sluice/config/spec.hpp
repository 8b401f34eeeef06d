#pragma once
// Declarative option specs: each component declares its options once (name, type, default,
// description, example); validation, defaults, --print-config and the docs table all come
// from the declaration. Specs are built once at start-up and then only read (thread-safe to
// read). Adding an option is one line:
//   rule.Add("formats", OptionType::kList).Default("[]").Describe("...").Example("['%Y-%m-%d']");
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/config/issue.hpp"

namespace sluice::config {

enum class OptionType {
  kString,
  kInt,
  kDouble,
  kBool,
  kDuration,     // "250ms", "5s", "1h30m" (core::ParseDuration)
  kEnum,         // one of allowed strings
  kList,         // list of scalars of `element` type
  kMap,          // string keys to scalars of `element` type
  kSection,      // nested options
  kSectionList,  // list of sections of the same shape
  kVariantList,  // list of sections, each picking its shape with a discriminator key ("type")
};

std::string TypeName(OptionType type);

class Section;
class Validator;

// Called after the built-in checks with the raw node; returns the effective node. Used for
// options whose shape is not a plain type (the librdkafka pass-through map).
using CustomCheck =
    std::function<YAML::Node(const YAML::Node& raw, const std::string& path, Validator& v)>;
// Cross-option check on a validated section (e.g. "exactly one of path or dir").
// `raw` carries the line marks, `effective` has defaults filled.
using SectionCheck = std::function<void(const YAML::Node& raw, const YAML::Node& effective,
                                        const std::string& path, Validator& v)>;

// One declared option. The fluent setters return *this so a declaration stays on one line.
struct Option {
  std::string name;
  OptionType type = OptionType::kString;
  OptionType element = OptionType::kString;  // kList / kMap element type (scalar types only)
  std::string description;
  std::optional<std::string> default_yaml;  // YAML text; "{pipeline}" is replaced by the name
  std::string default_doc;                  // shown in docs instead of default_yaml if set
  std::string example;                      // YAML text of a value for this option
  bool required = false;
  bool secret = false;  // masked by --print-config
  std::vector<std::string> allowed;  // kEnum, and kList/kMap elements of kEnum
  std::optional<double> min, max;    // kInt / kDouble
  std::shared_ptr<Section> section;  // kSection / kSectionList
  std::string discriminator = "type";                                 // kVariantList
  std::vector<std::pair<std::string, std::shared_ptr<Section>>> variants;  // kVariantList
  CustomCheck custom;

  Option& Required() { required = true; return *this; }
  Option& Default(std::string yaml) { default_yaml = std::move(yaml); return *this; }
  Option& DefaultDoc(std::string doc) { default_doc = std::move(doc); return *this; }
  Option& Describe(std::string text) { description = std::move(text); return *this; }
  Option& Example(std::string yaml) { example = std::move(yaml); return *this; }
  Option& Of(OptionType t) { element = t; return *this; }
  Option& Allowed(std::vector<std::string> values) { allowed = std::move(values); return *this; }
  Option& Min(double v) { min = v; return *this; }
  Option& Max(double v) { max = v; return *this; }
  Option& Secret() { secret = true; return *this; }
  Option& Custom(CustomCheck check) { custom = std::move(check); return *this; }

  // kSection / kSectionList: the nested section, created on first use.
  Section& Fields();
  // kVariantList: declares one variant (e.g. "regex") and returns its section.
  Section& Variant(const std::string& name, const std::string& description);
  const Section* FindVariant(const std::string& name) const;
};

// An ordered set of options plus cross-option checks.
class Section {
 public:
  explicit Section(std::string description = {}) : description_(std::move(description)) {}

  Option& Add(const std::string& name, OptionType type);
  void Check(SectionCheck check) { checks_.push_back(std::move(check)); }
  // A key that is no longer read: setting it is an error with `message` (where the setting
  // lives now) instead of "unknown key". Listed in the docs.
  void Removed(const std::string& name, std::string message) {
    removed_.emplace_back(name, std::move(message));
  }

  const Option* Find(const std::string& name) const;
  const std::string* FindRemoved(const std::string& name) const;
  const std::vector<std::pair<std::string, std::string>>& RemovedKeys() const { return removed_; }
  const std::deque<Option>& Options() const { return options_; }
  const std::vector<SectionCheck>& Checks() const { return checks_; }
  const std::string& Description() const { return description_; }
  bool HasRequired() const;

 private:
  std::string description_;
  std::deque<Option> options_;  // deque: Add() hands out references that must stay valid
  std::vector<SectionCheck> checks_;
  std::vector<std::pair<std::string, std::string>> removed_;  // name, message
};

// Walks a YAML tree against a spec, collecting every issue (it never stops at the first) and
// building the effective tree with defaults filled.
class Validator {
 public:
  Validator(std::string file, std::string pipeline_name = {})
      : file_(std::move(file)), pipeline_(std::move(pipeline_name)) {}

  // ignore_key: a key handled by the caller (a variant list's discriminator).
  YAML::Node ValidateSection(const YAML::Node& node, const Section& section,
                             const std::string& path, const std::string& ignore_key = {});
  YAML::Node ValidateValue(const YAML::Node& node, const Option& option, const std::string& path);

  // Records an issue located at `at` (its line/column) under key path `path`.
  void Error(const YAML::Node& at, const std::string& path, const std::string& message);
  void Error(const YAML::Mark& at, const std::string& path, const std::string& message);

  const std::vector<Issue>& Issues() const { return issues_; }
  std::vector<Issue> TakeIssues() { return std::move(issues_); }
  const std::string& File() const { return file_; }

 private:
  YAML::Node ValidateScalar(const YAML::Node& node, OptionType type, const Option& option,
                            const std::string& path);
  YAML::Node DefaultValue(const Option& option);

  std::string file_;
  std::string pipeline_;
  std::vector<Issue> issues_;
};

// The value under `key` of a map, or an undefined (but valid) node. Use it instead of a const
// operator[] of yaml-cpp, whose "zombie" result throws on IsScalar()/IsMap()/Mark().
YAML::Node Lookup(const YAML::Node& map, const std::string& key);

// Joins key paths: JoinPath("cleaner", "rules") == "cleaner.rules".
std::string JoinPath(const std::string& parent, const std::string& key);
// "a map", "a list", "'abc'", "nothing": how a node is named in messages.
std::string Describe(const YAML::Node& node);
// The closest candidate within a small edit distance, or "" (for "did you mean").
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

// The key is present and not null in a map node.
bool IsSet(const YAML::Node& map, const std::string& key);
// Cross-option check: exactly one of `keys` is set (at least one when at_most_one is false).
SectionCheck OneOf(std::vector<std::string> keys, bool at_most_one = true);
// Cross-option check: the option `key`, when set, is a valid ECMAScript regular expression.
SectionCheck RegexCompiles(std::string key);

// Every option as Markdown tables, one per section, with the full key path of each option.
std::string RenderDocsMarkdown(const Section& root, const std::string& title);

// Calls fn(path, option) for every option in the tree (variants included), depth first.
void ForEachOption(const Section& root,
                   const std::function<void(const std::string&, const Option&)>& fn,
                   const std::string& prefix = {});

}  // namespace sluice::config

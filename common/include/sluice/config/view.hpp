#pragma once
// Read-only typed access to one validated section of the effective config. Because the
// section was validated against its spec, a getter only fails when code asks for a key it
// never declared or a type it did not declare (a programmer error, reported as
// core::ConfigError naming the path). Cheap to copy (shares the tree). Read it at start-up
// into the stage's own settings struct; yaml-cpp gives no thread-safety promise.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/core/duration.hpp"

namespace sluice::config {

class View {
 public:
  View() = default;
  View(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {}
  // A view that records every key read through it and through the views derived from it
  // (Child, Items), so a test can prove a component reads every option it declares.
  static View Tracked(YAML::Node node, std::string path);

  bool Has(const std::string& key) const;
  bool Exists() const { return node_.IsDefined() && !node_.IsNull(); }

  std::string String(const std::string& key) const;
  std::optional<std::string> OptionalString(const std::string& key) const;
  int64_t Int(const std::string& key) const;
  double Double(const std::string& key) const;
  std::optional<double> OptionalDouble(const std::string& key) const;
  bool Bool(const std::string& key) const;
  core::Duration Duration(const std::string& key) const;
  std::vector<std::string> Strings(const std::string& key) const;
  std::map<std::string, std::string> StringMap(const std::string& key) const;
  View Child(const std::string& key) const;
  // Items of a list of sections (or of a variant list), with paths like "cleaner.rules[3]".
  std::vector<View> Items(const std::string& key) const;

  const YAML::Node& Node() const { return node_; }
  const std::string& Path() const { return path_; }
  // Tracked views: the keys read so far (by Get, Has or any typed getter), relative to the
  // tracked root, e.g. "cursor.field" or "items[0].name". Empty for an untracked view.
  std::set<std::string> KeysRead() const;

 private:
  YAML::Node Get(const std::string& key) const;

  View Derived(YAML::Node node, std::string path, std::string relative) const;

  YAML::Node node_;
  std::string path_;
  std::string relative_;                            // path from the tracked root
  std::shared_ptr<std::set<std::string>> reads_;   // null: not tracked
};

}  // namespace sluice::config

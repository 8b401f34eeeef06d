#pragma once
// Strict reading of YAML option maps for stage rules: every key must be known, every error
// names the file, the path and the line. Used until the config module's option specs cover
// rule lists (each rule's keys depend on its type).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/core/duration.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

// A YAML map being read, with its location for error messages. Cheap to copy.
class YamlMap {
 public:
  YamlMap(YAML::Node node, std::string where);

  // Throws core::ConfigError for any key not in `known`.
  void AllowOnly(std::initializer_list<const char*> known) const;
  bool Has(const std::string& key) const;
  YAML::Node Get(const std::string& key) const { return node_[key]; }
  const std::string& where() const { return where_; }

  std::string String(const std::string& key) const;  // required
  std::string String(const std::string& key, const std::string& fallback) const;
  double Number(const std::string& key) const;
  double Number(const std::string& key, double fallback) const;
  std::int64_t Integer(const std::string& key, std::int64_t fallback) const;
  bool Bool(const std::string& key, bool fallback) const;
  core::Duration Duration(const std::string& key) const;
  // A string or a list of strings.
  std::vector<std::string> StringList(const std::string& key) const;
  // A scalar as a cell: ~/null -> null, true/false, integer, number, else string.
  // Quoted scalars stay strings.
  Value Scalar(const std::string& key) const;
  YamlMap Map(const std::string& key) const;

  [[noreturn]] void Fail(const std::string& key, const std::string& problem) const;

  std::string label;  // free for the owner (the cleaner stores a rule's effective name)

 private:
  YAML::Node node_;
  std::string where_;
};

// Converts one scalar node as YamlMap::Scalar does.
Value ScalarValue(const YAML::Node& node);
std::string Location(const YAML::Node& node);  // " (line N)" or ""

}  // namespace sluice::stages

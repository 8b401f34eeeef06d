#include "sluice/stages/yaml_util.hpp"

#include <algorithm>

#include "sluice/core/error.hpp"

namespace sluice::stages {

using core::ConfigError;

std::string Location(const YAML::Node& node) {
  const auto mark = node.Mark();
  if (mark.line < 0) return "";
  return " (line " + std::to_string(mark.line + 1) + ")";
}

Value ScalarValue(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return Null{};
  if (!node.IsScalar()) throw ConfigError("expected a scalar value" + Location(node));
  const std::string s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  if (auto i = ParseInt64(s)) return *i;
  if (auto d = ParseDouble(s)) return *d;
  return s;
}

YamlMap::YamlMap(YAML::Node node, std::string where) : node_(std::move(node)), where_(std::move(where)) {
  if (!node_.IsMap()) throw ConfigError(where_ + ": expected a map" + Location(node_));
}

void YamlMap::Fail(const std::string& key, const std::string& problem) const {
  const auto n = node_[key];
  throw ConfigError(where_ + (key.empty() ? "" : "." + key) + ": " + problem +
                    Location(n.IsDefined() ? n : node_));
}

void YamlMap::AllowOnly(std::initializer_list<const char*> known) const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw ConfigError(where_ + ": unknown key '" + key + "' (known: " + list + ")" +
                        Location(it->first));
    }
  }
}

bool YamlMap::Has(const std::string& key) const { return node_[key].IsDefined(); }

std::string YamlMap::String(const std::string& key) const {
  if (!Has(key)) Fail("", "missing required key '" + key + "'");
  const auto n = node_[key];
  if (!n.IsScalar()) Fail(key, "expected a string");
  return n.Scalar();
}

std::string YamlMap::String(const std::string& key, const std::string& fallback) const {
  return Has(key) ? String(key) : fallback;
}

double YamlMap::Number(const std::string& key) const {
  if (!Has(key)) Fail("", "missing required key '" + key + "'");
  const Value v = ScalarValue(node_[key]);
  if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  Fail(key, "expected a number");
}

double YamlMap::Number(const std::string& key, double fallback) const {
  return Has(key) ? Number(key) : fallback;
}

std::int64_t YamlMap::Integer(const std::string& key, std::int64_t fallback) const {
  if (!Has(key)) return fallback;
  const Value v = ScalarValue(node_[key]);
  if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
  Fail(key, "expected an integer");
}

bool YamlMap::Bool(const std::string& key, bool fallback) const {
  if (!Has(key)) return fallback;
  const Value v = ScalarValue(node_[key]);
  if (auto* b = std::get_if<bool>(&v)) return *b;
  Fail(key, "expected true or false");
}

core::Duration YamlMap::Duration(const std::string& key) const {
  std::string error;
  auto d = core::ParseDuration(String(key), &error);
  if (!d) Fail(key, error);
  return *d;
}

std::vector<std::string> YamlMap::StringList(const std::string& key) const {
  if (!Has(key)) Fail("", "missing required key '" + key + "'");
  const auto n = node_[key];
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
  } else if (n.IsSequence()) {
    for (const auto& x : n) {
      if (!x.IsScalar()) Fail(key, "expected a list of strings");
      out.push_back(x.Scalar());
    }
  } else {
    Fail(key, "expected a string or a list of strings");
  }
  if (out.empty()) Fail(key, "must not be empty");
  return out;
}

Value YamlMap::Scalar(const std::string& key) const {
  try {
    return ScalarValue(node_[key]);
  } catch (const ConfigError&) {
    Fail(key, "expected a scalar value");
  }
}

YamlMap YamlMap::Map(const std::string& key) const {
  if (!Has(key) || !node_[key].IsMap()) Fail(key, "expected a map");
  return YamlMap(node_[key], where_ + "." + key);
}

}  // namespace sluice::stages

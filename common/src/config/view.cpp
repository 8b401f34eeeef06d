#include "sluice/config/view.hpp"

#include "sluice/config/spec.hpp"
#include "sluice/core/error.hpp"

namespace sluice::config {
namespace {

[[noreturn]] void Misuse(const std::string& path, const std::string& what) {
  throw core::ConfigError("internal: config key '" + path + "' " + what +
                          " (read a key the spec does not declare with this type?)");
}

}  // namespace

View View::Tracked(YAML::Node node, std::string path) {
  View v(std::move(node), std::move(path));
  v.reads_ = std::make_shared<std::set<std::string>>();
  return v;
}

std::set<std::string> View::KeysRead() const { return reads_ ? *reads_ : std::set<std::string>{}; }

View View::Derived(YAML::Node node, std::string path, std::string relative) const {
  View v(std::move(node), std::move(path));
  v.relative_ = std::move(relative);
  v.reads_ = reads_;
  return v;
}

YAML::Node View::Get(const std::string& key) const {
  if (reads_) reads_->insert(JoinPath(relative_, key));
  if (!node_.IsDefined() || !node_.IsMap()) Misuse(path_, "is not a section");
  return Lookup(node_, key);
}

bool View::Has(const std::string& key) const {
  if (reads_) reads_->insert(JoinPath(relative_, key));
  if (!node_.IsDefined() || !node_.IsMap()) return false;
  YAML::Node v = Get(key);
  return v.IsDefined() && !v.IsNull();
}

std::string View::String(const std::string& key) const {
  YAML::Node v = Get(key);
  if (!v.IsScalar()) Misuse(JoinPath(path_, key), "is not set");
  return v.Scalar();
}

std::optional<std::string> View::OptionalString(const std::string& key) const {
  if (!Has(key)) return std::nullopt;
  return String(key);
}

int64_t View::Int(const std::string& key) const {
  YAML::Node v = Get(key);
  try {
    return v.as<int64_t>();
  } catch (const YAML::Exception&) {
    Misuse(JoinPath(path_, key), "is not an integer");
  }
}

double View::Double(const std::string& key) const {
  YAML::Node v = Get(key);
  try {
    return v.as<double>();
  } catch (const YAML::Exception&) {
    Misuse(JoinPath(path_, key), "is not a number");
  }
}

std::optional<double> View::OptionalDouble(const std::string& key) const {
  if (!Has(key)) return std::nullopt;
  return Double(key);
}

bool View::Bool(const std::string& key) const {
  YAML::Node v = Get(key);
  try {
    return v.as<bool>();
  } catch (const YAML::Exception&) {
    Misuse(JoinPath(path_, key), "is not a bool");
  }
}

core::Duration View::Duration(const std::string& key) const {
  auto d = core::ParseDuration(String(key));
  if (!d) Misuse(JoinPath(path_, key), "is not a duration");
  return *d;
}

std::vector<std::string> View::Strings(const std::string& key) const {
  YAML::Node v = Get(key);
  if (!v.IsSequence()) Misuse(JoinPath(path_, key), "is not a list");
  std::vector<std::string> out;
  for (const auto& item : v) out.push_back(item.Scalar());
  return out;
}

std::map<std::string, std::string> View::StringMap(const std::string& key) const {
  YAML::Node v = Get(key);
  if (!v.IsMap()) Misuse(JoinPath(path_, key), "is not a map");
  std::map<std::string, std::string> out;
  for (const auto& kv : v) out[kv.first.Scalar()] = kv.second.Scalar();
  return out;
}

View View::Child(const std::string& key) const {
  return Derived(Get(key), JoinPath(path_, key), JoinPath(relative_, key));
}

std::vector<View> View::Items(const std::string& key) const {
  YAML::Node v = Get(key);
  if (!v.IsSequence()) Misuse(JoinPath(path_, key), "is not a list");
  std::vector<View> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string index = "[" + std::to_string(i) + "]";
    out.push_back(Derived(v[i], JoinPath(path_, key) + index, JoinPath(relative_, key) + index));
  }
  return out;
}

}  // namespace sluice::config

#include "sluice/stages/component.hpp"

#include <set>

#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"
#include "sluice/stages/yaml_util.hpp"

namespace sluice::stages {

void ComponentInput::Fail(const std::string& key, const std::string& problem) const {
  const YAML::Node at = key.empty() ? raw : config::Lookup(raw, key);
  throw core::ConfigError(where + (key.empty() ? "" : "." + key) + ": " + problem +
                          Location(at.IsDefined() ? at : raw));
}

std::vector<ComponentInput> ReadComponentItems(const YAML::Node& items, const config::Option& list,
                                               const std::string& noun, const std::string& origin,
                                               bool names_in_dlq) {
  if (!items.IsDefined() || items.IsNull()) return {};
  if (!items.IsSequence()) {
    throw core::ConfigError(origin + ": expected a list of " + noun + "s" + Location(items));
  }
  config::Validator validator(origin);
  const YAML::Node valid = validator.ValidateValue(items, list, "");
  if (!validator.Issues().empty()) {
    std::string message;
    for (const auto& issue : validator.Issues()) {
      message += (message.empty() ? "" : "\n") + origin + issue.path + ": " + issue.message +
                 (issue.line > 0 ? " (line " + std::to_string(issue.line) + ")" : "");
    }
    throw core::ConfigError(message);
  }
  std::vector<ComponentInput> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const std::string index = "[" + std::to_string(i) + "]";
    ComponentInput input{config::View::Tracked(valid[i], index), items[i], "",
                         valid[i][list.discriminator].Scalar(), "", i};
    input.name = input.options.OptionalString("name").value_or(input.type + "_" + std::to_string(i));
    input.where = origin + index + " (" + input.name + ")";
    if (!names.insert(input.name).second) input.Fail("name", "duplicate " + noun + " name '" + input.name + "'");
    if (names_in_dlq && IsReservedDlqWord(input.name)) {
      input.Fail("name", "'" + input.name + "' is reserved: it is a fixed DLQ rule code (docs/dlq-codes.md)");
    }
    out.push_back(std::move(input));
  }
  return out;
}

}  // namespace sluice::stages

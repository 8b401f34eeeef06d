#pragma once
// A component type - one kind of cleaner rule, enricher step or source - is declared once,
// in the file that holds its logic: its name, its options (type, default, description,
// example), its factory, and examples that between them set every option. One list per
// kind of component (cleaner.rules, enricher.steps, producer.sources) holds the types; it
// drives construction, the pipeline file's validation and --check, docs/pipeline-file.md
// and the "did you mean" of an unknown type. A unit test builds every example of every type
// and fails if a declared option is never read by its factory.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/config/spec.hpp"
#include "sluice/config/view.hpp"

namespace sluice::stages {

// What a factory builds from: one item of a component list, validated against the type's
// declaration (defaults filled), with what error messages need.
struct ComponentInput {
  config::View options;  // the validated item; a tracked view (KeysRead) records what is read
  YAML::Node raw;        // the item as written: line numbers for messages
  std::string where;     // "pipelines/loans/pipeline.yaml: cleaner.rules[3] (term)"
  std::string type;      // the item's type, e.g. "range"
  std::string name;      // the item's name: `name`, else "<type>_<index>"
  std::size_t index = 0;  // position in the list

  // Throws core::ConfigError "<where>.<key>: <problem> (line N)" (key "" names the item).
  [[noreturn]] void Fail(const std::string& key, const std::string& problem) const;
};

template <typename Product, typename... Context>
struct ComponentType {
  std::string name;
  std::string description;
  void (*declare)(config::Section& options);
  // Items (YAML flow maps, without the type key) that between them set every option.
  std::vector<std::string> examples;
  std::function<std::shared_ptr<Product>(const ComponentInput&, Context...)> make;
};

// Reads a component list: validates every item against its type's declaration (collecting
// every issue, thrown as one core::ConfigError, one issue per line), then names each item
// and refuses duplicate names. `list` is the kVariantList option the types are declared in;
// `noun` names an item in messages ("rule", "step", "source"). With `names_in_dlq` (an item's
// rejects are dead-lettered under its name) a name that is a fixed DLQ word is refused too.
std::vector<ComponentInput> ReadComponentItems(const YAML::Node& items, const config::Option& list,
                                               const std::string& noun, const std::string& origin,
                                               bool names_in_dlq = false);

// The types of one kind of component, in the order the docs list them.
template <typename Product, typename... Context>
class ComponentList {
 public:
  using Type = ComponentType<Product, Context...>;

  // names_in_dlq: the items' names are DLQ rule names (cleaner rules, enricher steps).
  ComponentList(std::string noun, std::vector<Type> types, bool names_in_dlq = false)
      : noun_(std::move(noun)), types_(std::move(types)), names_in_dlq_(names_in_dlq) {
    Declare(spec_.Add("items", config::OptionType::kVariantList));
  }

  // Declares each type as a variant of `list`, a kVariantList option of a larger spec.
  void Declare(config::Option& list) const {
    for (const auto& t : types_) t.declare(list.Variant(t.name, t.description));
  }

  // Validates the items of `items` (a YAML list) and names them (ReadComponentItems); throws
  // core::ConfigError. `origin` prefixes messages, e.g. "pipeline.yaml: cleaner.rules".
  std::vector<ComponentInput> Read(const YAML::Node& items, const std::string& origin) const {
    return ReadComponentItems(items, Option(), noun_, origin, names_in_dlq_);
  }
  // Builds one read item with its type's factory.
  std::shared_ptr<Product> Make(const ComponentInput& input, Context... context) const {
    return Find(input.type)->make(input, context...);
  }
  // Read, then Make each item in order.
  std::vector<std::shared_ptr<Product>> Build(const YAML::Node& items, const std::string& origin,
                                              Context... context) const {
    std::vector<std::shared_ptr<Product>> out;
    for (const auto& input : Read(items, origin)) out.push_back(Make(input, context...));
    return out;
  }

  const std::vector<Type>& Types() const { return types_; }
  const Type* Find(const std::string& name) const {
    for (const auto& t : types_) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
  // The list option holding every type (for validating a list on its own).
  const config::Option& Option() const { return *spec_.Find("items"); }
  const std::string& Noun() const { return noun_; }

 private:
  std::string noun_;
  std::vector<Type> types_;
  bool names_in_dlq_ = false;
  config::Section spec_;
};

}  // namespace sluice::stages

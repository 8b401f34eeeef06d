// Every component type is declared once (options, factory, examples, logic in one file).
// These tests hold the declarations to the code: every example builds, and every option a
// type declares is read by its factory (an option nobody reads would be accepted from the
// pipeline file and then silently ignored).
#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/enricher.hpp"

using namespace sluice;
using namespace sluice::stages;

namespace {

// "items[3].name" -> "items[].name", as ForEachOption spells list items.
std::string Generic(const std::string& path) {
  static const std::regex kIndex(R"(\[[0-9]+\])");
  return std::regex_replace(path, kIndex, "[]");
}

// Builds every example of every type of `list`; returns "type.option" for each declared option
// that no example's factory read. Fails the test if an example does not build.
template <typename Product, typename... Context>
std::set<std::string> UnreadOptions(const ComponentList<Product, Context...>& list, Context... context) {
  std::set<std::string> unread;
  for (const auto& type : list.Types()) {
    INFO(list.Noun() << " type " << type.name);
    CHECK_FALSE(type.examples.empty());
    std::set<std::string> read;
    for (const auto& example : type.examples) {
      INFO("example " << example);
      YAML::Node item = YAML::Load(example);
      item["type"] = type.name;
      YAML::Node items(YAML::NodeType::Sequence);
      items.push_back(item);
      std::vector<ComponentInput> inputs;
      REQUIRE_NOTHROW(inputs = ReadComponentItems(items, list.Option(), list.Noun(), "example"));
      REQUIRE(inputs.size() == 1);
      REQUIRE_NOTHROW(type.make(inputs[0], context...));
      for (const auto& key : inputs[0].options.KeysRead()) read.insert(Generic(key));
    }
    const config::Section* options = list.Option().FindVariant(type.name);
    REQUIRE(options != nullptr);
    config::ForEachOption(*options, [&](const std::string& path, const config::Option&) {
      if (read.count(path) == 0) unread.insert(type.name + "." + path);
    });
  }
  return unread;
}

// A type that declares an option its factory never reads.
struct Thing {};
void DeclareThing(config::Section& s) {
  s.Add("name", config::OptionType::kString);
  s.Add("size", config::OptionType::kInt).Default("1");
  s.Add("colour", config::OptionType::kString).Default("red");
}

}  // namespace

TEST_CASE("the check finds a declared option that the factory never reads") {
  const ComponentList<Thing> things(
      "thing", {{"thing", "a test type", DeclareThing, {"{size: 2}"}, [](const ComponentInput& in) {
                   in.options.Int("size");
                   in.options.OptionalString("name");
                   return std::make_shared<Thing>();
                 }}});
  CHECK(UnreadOptions(things) == std::set<std::string>{"thing.colour"});
}

TEST_CASE("every cleaner rule type reads every option it declares") {
  CHECK(UnreadOptions(CleanerRules()).empty());
  CHECK(CleanerRules().Types().size() == 10);
}

TEST_CASE("a rule list is validated against the declarations, every issue at once") {
  const YAML::Node rules = YAML::Load(R"(
- {type: range, field: x, mx: 2}
- {type: rangee, field: x}
- {type: dedupe, key: [id], window: 10}
)");
  try {
    Cleaner cleaner(rules, RecordSpec{"t", {}}, "p.yaml: cleaner.rules");
    FAIL("accepted");
  } catch (const core::ConfigError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("p.yaml: cleaner.rules[0].mx: unknown key 'mx' (did you mean 'max'?) (line 2)"));
    CHECK_THAT(message, Catch::Contains("p.yaml: cleaner.rules[1].type: unknown type 'rangee' (did you mean 'range'?) (line 3)"));
    CHECK_THAT(message, Catch::Contains("p.yaml: cleaner.rules[2].window: expected a duration like '5s', got '10' (line 4)"));
  }
}

TEST_CASE("every enricher step type reads every option it declares") {
  // No I/O: the table loader and the HTTP client are never called while building.
  EnricherDeps deps;
  deps.table_loader = [](const std::string&, const std::string&, const std::vector<std::string>&) {
    return LookupTable::Loader([] { return std::vector<Row>{}; });
  };
  deps.versioned_loader = [](const EnricherDeps::VersionedQuery&) {
    return VersionedTable::Loader([] { return VersionedTable::Snapshot{}; });
  };
  deps.http_fetch = [](const std::string&, core::Duration) { return std::optional<HttpResponse>{}; };
  CHECK(UnreadOptions<steps::Step, const EnricherDeps&>(EnricherSteps(), deps).empty());
  CHECK(EnricherSteps().Types().size() == 4);
}

TEST_CASE("every source type reads every option it declares") {
  const RecordSpec raw{"t", {FieldSpec{"id", FieldType::kString, false, {}}, FieldSpec{"a", FieldType::kString, true, {}}}};
  CHECK(UnreadOptions<SourceSettings, const RecordSpec&, const config::View&>(SourceTypes(), raw, config::View()).empty());
}

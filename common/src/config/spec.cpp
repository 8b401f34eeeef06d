#include "sluice/config/spec.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

#include "sluice/core/duration.hpp"
#include "sluice/core/error.hpp"

namespace sluice::config {

std::string TypeName(OptionType type) {
  switch (type) {
    case OptionType::kString: return "string";
    case OptionType::kInt: return "int";
    case OptionType::kDouble: return "number";
    case OptionType::kBool: return "bool";
    case OptionType::kDuration: return "duration";
    case OptionType::kEnum: return "enum";
    case OptionType::kList: return "list";
    case OptionType::kMap: return "map";
    case OptionType::kSection: return "section";
    case OptionType::kSectionList: return "list of sections";
    case OptionType::kVariantList: return "list of typed sections";
  }
  return "?";
}

Section& Option::Fields() {
  SLUICE_ASSERT(type == OptionType::kSection || type == OptionType::kSectionList,
                "Fields() is for section options");
  if (!section) section = std::make_shared<Section>(description);
  return *section;
}

Section& Option::Variant(const std::string& variant, const std::string& variant_description) {
  SLUICE_ASSERT(type == OptionType::kVariantList, "Variant() is for variant lists");
  SLUICE_ASSERT(FindVariant(variant) == nullptr, "variant declared twice");
  variants.emplace_back(variant, std::make_shared<Section>(variant_description));
  return *variants.back().second;
}

const Section* Option::FindVariant(const std::string& variant) const {
  for (const auto& [n, s] : variants) {
    if (n == variant) return s.get();
  }
  return nullptr;
}

Option& Section::Add(const std::string& name, OptionType type) {
  SLUICE_ASSERT(Find(name) == nullptr, "option declared twice");
  options_.emplace_back();
  options_.back().name = name;
  options_.back().type = type;
  return options_.back();
}

const Option* Section::Find(const std::string& name) const {
  for (const auto& o : options_) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const std::string* Section::FindRemoved(const std::string& name) const {
  for (const auto& [key, message] : removed_) {
    if (key == name) return &message;
  }
  return nullptr;
}

bool Section::HasRequired() const {
  return std::any_of(options_.begin(), options_.end(), [](const Option& o) { return o.required; });
}

YAML::Node Lookup(const YAML::Node& map, const std::string& key) {
  if (map.IsDefined() && map.IsMap()) {
    for (const auto& kv : map) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool IsSet(const YAML::Node& map, const std::string& key) {
  return map.IsMap() && Lookup(map, key).IsDefined() && !Lookup(map, key).IsNull();
}

SectionCheck OneOf(std::vector<std::string> keys, bool at_most_one) {
  return [keys, at_most_one](const YAML::Node& raw, const YAML::Node&, const std::string& path,
                             Validator& v) {
    size_t count = std::count_if(keys.begin(), keys.end(),
                                 [&](const std::string& k) { return IsSet(raw, k); });
    std::string names;
    for (size_t i = 0; i < keys.size(); ++i) {
      names += (i == 0 ? "" : i + 1 == keys.size() ? " or " : ", ") + ("'" + keys[i] + "'");
    }
    if (count == 0) {
      v.Error(raw, path, (at_most_one ? "set exactly one of " : "set at least one of ") + names);
    } else if (at_most_one && count > 1) {
      v.Error(raw, path, "set only one of " + names);
    }
  };
}

SectionCheck RegexCompiles(std::string key) {
  return [key](const YAML::Node& raw, const YAML::Node&, const std::string& path, Validator& v) {
    if (!IsSet(raw, key) || !Lookup(raw, key).IsScalar()) return;
    try {
      std::regex re(Lookup(raw, key).Scalar(), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      v.Error(Lookup(raw, key), JoinPath(path, key), "invalid regular expression: " + std::string(e.what()));
    }
  };
}

std::string JoinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

namespace {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string Quoted(const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += "'" + values[i] + "'";
  }
  return out;
}

std::vector<std::string> OptionNames(const Section& s) {
  std::vector<std::string> out;
  for (const auto& o : s.Options()) out.push_back(o.name);
  return out;
}

std::string Suggest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best = ClosestMatch(word, candidates);
  if (!best.empty()) return " (did you mean '" + best + "'?)";
  return " (expected one of " + Quoted(candidates) + ")";
}

std::string ReplacePipeline(std::string text, const std::string& pipeline) {
  const std::string token = "{pipeline}";
  for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
    text.replace(at, token.size(), pipeline);
    at += pipeline.size();
  }
  return text;
}

}  // namespace

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // Close enough to be a typo: at most 2 edits, and fewer than half the word.
  size_t limit = std::min<size_t>(2, std::max<size_t>(1, word.size() / 2));
  return best_distance <= limit ? best : std::string();
}

void Validator::Error(const YAML::Node& at, const std::string& path, const std::string& message) {
  Error(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), path, message);
}

void Validator::Error(const YAML::Mark& at, const std::string& path, const std::string& message) {
  Issue issue;
  issue.file = file_;
  issue.path = path;
  issue.line = at.line >= 0 ? at.line + 1 : 0;
  issue.column = at.column >= 0 ? at.column + 1 : 0;
  issue.message = message;
  issues_.push_back(std::move(issue));
}

YAML::Node Validator::DefaultValue(const Option& option) {
  if (option.default_yaml) return YAML::Load(ReplacePipeline(*option.default_yaml, pipeline_));
  return YAML::Node();
}

YAML::Node Validator::ValidateSection(const YAML::Node& node, const Section& section,
                                      const std::string& path, const std::string& ignore_key) {
  YAML::Node out(YAML::NodeType::Map);
  if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
    Error(node, path, "expected a map of options, got " + Describe(node));
    return out;
  }
  std::map<std::string, int> seen;  // key -> line, for duplicate keys
  std::map<std::string, YAML::Node> values;
  std::set<std::string> unset;  // written as null
  if (node.IsMap()) {
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        Error(kv.first, path, "keys must be plain names, got " + Describe(kv.first));
        continue;
      }
      const std::string key = kv.first.Scalar();
      if (!ignore_key.empty() && key == ignore_key) continue;
      const std::string key_path = JoinPath(path, key);
      if (auto [it, fresh] = seen.emplace(key, kv.first.Mark().line + 1); !fresh) {
        Error(kv.first, key_path,
              "duplicate key '" + key + "' (first set on line " + std::to_string(it->second) +
                  ")");
        continue;
      }
      const Option* option = section.Find(key);
      if (!option && section.FindRemoved(key)) {
        Error(kv.first, key_path, "'" + key + "' is no longer read from the pipeline file: " +
                                      *section.FindRemoved(key));
        continue;
      }
      if (!option) {
        Error(kv.first, key_path, "unknown key '" + key + "'" + Suggest(key, OptionNames(section)));
        continue;
      }
      // An optional key written as null (`fallback: ~`) is not set: its default applies.
      if (kv.second.IsNull() && !option->required) {
        unset.insert(key);
        continue;
      }
      YAML::Node value = ValidateValue(kv.second, *option, key_path);
      if (value.IsDefined()) values[key] = value;
    }
  }
  // The effective tree lists options in declaration order, so --print-config reads like docs.
  for (const auto& option : section.Options()) {
    if (auto it = values.find(option.name); it != values.end()) {
      out[option.name] = it->second;
      continue;
    }
    if (seen.count(option.name) && !unset.count(option.name)) continue;  // present but invalid: already reported
    if (option.required) {
      Error(node, path, "missing required key '" + option.name + "'");
    } else if (option.default_yaml) {
      out[option.name] = DefaultValue(option);
    } else if (option.type == OptionType::kSection && option.section &&
               !option.section->HasRequired()) {
      // An absent section with nothing required behaves as if written empty: defaults apply.
      out[option.name] = ValidateSection(YAML::Node(), *option.section, JoinPath(path, option.name));
    }
  }
  for (const auto& check : section.Checks()) check(node, out, path, *this);
  return out;
}

YAML::Node Validator::ValidateScalar(const YAML::Node& node, OptionType type, const Option& option,
                                     const std::string& path) {
  if (!node.IsScalar()) {
    std::string want = type == OptionType::kEnum ? "one of " + Quoted(option.allowed)
                                                 : "a " + TypeName(type);
    if (type == OptionType::kInt) want = "an integer";
    Error(node, path, "expected " + want + ", got " + Describe(node));
    return {};
  }
  const std::string& text = node.Scalar();
  switch (type) {
    case OptionType::kString:
      return YAML::Node(text);
    case OptionType::kInt: {
      long long v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || ptr != text.data() + text.size()) {
        Error(node, path, "expected an integer, got '" + text + "'");
        return {};
      }
      if (option.min && v < *option.min) {
        Error(node, path, "must be at least " + std::to_string(static_cast<long long>(*option.min)) +
                              ", got " + text);
        return {};
      }
      if (option.max && v > *option.max) {
        Error(node, path, "must be at most " + std::to_string(static_cast<long long>(*option.max)) +
                              ", got " + text);
        return {};
      }
      return YAML::Node(v);
    }
    case OptionType::kDouble: {
      char* end = nullptr;
      double v = text.empty() ? 0 : std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v)) {
        Error(node, path, "expected a number, got '" + text + "'");
        return {};
      }
      if (option.min && v < *option.min) {
        Error(node, path, "must be at least " + YAML::Node(*option.min).as<std::string>() +
                              ", got " + text);
        return {};
      }
      if (option.max && v > *option.max) {
        Error(node, path, "must be at most " + YAML::Node(*option.max).as<std::string>() +
                              ", got " + text);
        return {};
      }
      return YAML::Node(v);
    }
    case OptionType::kBool:
      // Only true/false: YAML 1.1's yes/no/on/off surprise people (Norway problem).
      if (text == "true" || text == "True" || text == "TRUE") return YAML::Node(true);
      if (text == "false" || text == "False" || text == "FALSE") return YAML::Node(false);
      Error(node, path, "expected true or false, got '" + text + "'");
      return {};
    case OptionType::kDuration: {
      if (!core::ParseDuration(text)) {
        Error(node, path, "expected a duration like '5s', got '" + text + "'");
        return {};
      }
      return YAML::Node(text);
    }
    case OptionType::kEnum: {
      if (std::find(option.allowed.begin(), option.allowed.end(), text) == option.allowed.end()) {
        std::string hint = ClosestMatch(text, option.allowed);
        Error(node, path,
              "expected one of " + Quoted(option.allowed) + ", got '" + text + "'" +
                  (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        return {};
      }
      return YAML::Node(text);
    }
    default:
      SLUICE_ASSERT(false, "not a scalar type");
  }
  return {};
}

YAML::Node Validator::ValidateValue(const YAML::Node& node, const Option& option,
                                    const std::string& path) {
  if (option.custom) return option.custom(node, path, *this);
  switch (option.type) {
    case OptionType::kList: {
      if (!node.IsSequence()) {
        Error(node, path, "expected a list, got " + Describe(node));
        return {};
      }
      YAML::Node out(YAML::NodeType::Sequence);
      for (size_t i = 0; i < node.size(); ++i) {
        auto v = ValidateScalar(node[i], option.element, option, path + "[" + std::to_string(i) + "]");
        if (v.IsDefined()) out.push_back(v);
      }
      return out;
    }
    case OptionType::kMap: {
      if (!node.IsMap()) {
        Error(node, path, "expected a map, got " + Describe(node));
        return {};
      }
      YAML::Node out(YAML::NodeType::Map);
      std::set<std::string> seen;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          Error(kv.first, path, "map keys must be plain strings, got " + Describe(kv.first));
          continue;
        }
        std::string key = kv.first.Scalar();
        if (!seen.insert(key).second) {
          Error(kv.first, JoinPath(path, key), "duplicate key '" + key + "'");
          continue;
        }
        auto v = ValidateScalar(kv.second, option.element, option, JoinPath(path, key));
        if (v.IsDefined()) out[key] = v;
      }
      return out;
    }
    case OptionType::kSection:
      SLUICE_ASSERT(option.section != nullptr, "section option without fields");
      if (!node.IsMap()) {
        Error(node, path, "expected a map of options, got " + Describe(node));
        return {};
      }
      return ValidateSection(node, *option.section, path);
    case OptionType::kSectionList: {
      SLUICE_ASSERT(option.section != nullptr, "section list without fields");
      if (!node.IsSequence()) {
        Error(node, path, "expected a list, got " + Describe(node));
        return {};
      }
      YAML::Node out(YAML::NodeType::Sequence);
      for (size_t i = 0; i < node.size(); ++i) {
        std::string item_path = path + "[" + std::to_string(i) + "]";
        if (!node[i].IsMap()) {
          Error(node[i], item_path, "expected a map of options, got " + Describe(node[i]));
          continue;
        }
        out.push_back(ValidateSection(node[i], *option.section, item_path));
      }
      return out;
    }
    case OptionType::kVariantList: {
      if (!node.IsSequence()) {
        Error(node, path, "expected a list, got " + Describe(node));
        return {};
      }
      std::vector<std::string> names;
      for (const auto& [n, s] : option.variants) names.push_back(n);
      YAML::Node out(YAML::NodeType::Sequence);
      for (size_t i = 0; i < node.size(); ++i) {
        const YAML::Node item = node[i];
        std::string item_path = path + "[" + std::to_string(i) + "]";
        if (!item.IsMap()) {
          Error(item, item_path, "expected a map of options, got " + Describe(item));
          continue;
        }
        const YAML::Node kind = Lookup(item, option.discriminator);
        if (!kind.IsDefined()) {
          Error(item, item_path,
                "missing required key '" + option.discriminator + "' (one of " + Quoted(names) +
                    ")");
          continue;
        }
        std::string kind_path = JoinPath(item_path, option.discriminator);
        if (!kind.IsScalar()) {
          Error(kind, kind_path, "expected one of " + Quoted(names) + ", got " + Describe(kind));
          continue;
        }
        const Section* variant = option.FindVariant(kind.Scalar());
        if (!variant) {
          std::string hint = ClosestMatch(kind.Scalar(), names);
          Error(kind, kind_path,
                "unknown " + option.discriminator + " '" + kind.Scalar() + "'" +
                    (hint.empty() ? " (expected one of " + Quoted(names) + ")"
                                  : " (did you mean '" + hint + "'?)"));
          continue;
        }
        // The discriminator is ours; the variant validates everything else in the item.
        YAML::Node validated = ValidateSection(item, *variant, item_path, option.discriminator);
        YAML::Node ordered(YAML::NodeType::Map);
        ordered[option.discriminator] = kind.Scalar();
        for (const auto& kv : validated) ordered[kv.first.Scalar()] = kv.second;
        out.push_back(ordered);
      }
      return out;
    }
    default:
      if (!node.IsDefined() || node.IsNull()) {
        Error(node, path, "expected " +
                              (option.type == OptionType::kEnum
                                   ? "one of " + Quoted(option.allowed)
                                   : (option.type == OptionType::kInt ? std::string("an integer")
                                                                      : "a " + TypeName(option.type))) +
                              ", got nothing");
        return {};
      }
      return ValidateScalar(node, option.type, option, path);
  }
}

void ForEachOption(const Section& root,
                   const std::function<void(const std::string&, const Option&)>& fn,
                   const std::string& prefix) {
  for (const auto& option : root.Options()) {
    std::string path = JoinPath(prefix, option.name);
    fn(path, option);
    if (option.section) {
      ForEachOption(*option.section, fn,
                    option.type == OptionType::kSectionList ? path + "[]" : path);
    }
    for (const auto& [name, section] : option.variants) {
      ForEachOption(*section, fn, path + "[" + option.discriminator + "=" + name + "]");
    }
  }
}

namespace {

std::string Cell(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string TypeCell(const Option& o) {
  switch (o.type) {
    case OptionType::kEnum: {
      std::string s;
      for (size_t i = 0; i < o.allowed.size(); ++i) s += (i ? " | " : "") + o.allowed[i];
      return "enum: " + s;
    }
    case OptionType::kList:
    case OptionType::kMap:
      return TypeName(o.type) + " of " + TypeName(o.element);
    default:
      return TypeName(o.type);
  }
}

void RenderSection(const Section& section, const std::string& path, const std::string& heading,
                   std::string& out) {
  out += "\n### `" + (path.empty() ? std::string("(top level)") : path) + "`\n\n";
  if (!heading.empty()) out += heading + "\n\n";
  for (const auto& [key, message] : section.RemovedKeys()) {
    out += "Removed: `" + JoinPath(path, key) + "`: " + message + "\n\n";
  }
  out += "| key | type | default | description | example |\n";
  out += "| --- | --- | --- | --- | --- |\n";
  for (const auto& o : section.Options()) {
    std::string def = o.required ? "required"
                      : !o.default_doc.empty() ? o.default_doc
                      : o.default_yaml        ? *o.default_yaml
                                              : "—";
    out += "| `" + o.name + "` | " + Cell(TypeCell(o)) + " | " +
           (o.required || def == "—" ? def : "`" + Cell(def) + "`") + " | " + Cell(o.description) +
           " | " + (o.example.empty() ? "" : "`" + Cell(o.example) + "`") + " |\n";
  }
  for (const auto& o : section.Options()) {
    std::string sub = JoinPath(path, o.name);
    if (o.section) {
      RenderSection(*o.section, o.type == OptionType::kSectionList ? sub + "[]" : sub, "", out);
    }
    for (const auto& [name, variant] : o.variants) {
      RenderSection(*variant, sub + "[] " + o.discriminator + ": " + name,
                    variant->Description(), out);
    }
  }
}

}  // namespace

std::string RenderDocsMarkdown(const Section& root, const std::string& title) {
  std::string out = "# " + title + "\n\n";
  out += "Generated from the option declarations in `common/src/config/pipeline_spec.cpp`.\n";
  out += "Durations take a unit (`250ms`, `5s`, `2m`, `1h`, `1d`); unknown keys are errors.\n";
  RenderSection(root, "", root.Description(), out);
  return out;
}

}  // namespace sluice::config

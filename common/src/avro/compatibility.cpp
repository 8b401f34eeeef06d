#include "sluice/avro/compatibility.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "sluice/avro/resolution.hpp"

namespace sluice::avro {

namespace {

constexpr std::array<std::pair<IncompatibilityType, std::string_view>, 6> kTypeNames{{
    {IncompatibilityType::kNameMismatch, "NAME_MISMATCH"},
    {IncompatibilityType::kFixedSizeMismatch, "FIXED_SIZE_MISMATCH"},
    {IncompatibilityType::kMissingEnumSymbols, "MISSING_ENUM_SYMBOLS"},
    {IncompatibilityType::kReaderFieldMissingDefaultValue, "READER_FIELD_MISSING_DEFAULT_VALUE"},
    {IncompatibilityType::kTypeMismatch, "TYPE_MISMATCH"},
    {IncompatibilityType::kMissingUnionBranch, "MISSING_UNION_BRANCH"},
}};

constexpr std::array<std::pair<CompatibilityLevel, std::string_view>, 7> kLevelNames{{
    {CompatibilityLevel::kNone, "NONE"},
    {CompatibilityLevel::kBackward, "BACKWARD"},
    {CompatibilityLevel::kBackwardTransitive, "BACKWARD_TRANSITIVE"},
    {CompatibilityLevel::kForward, "FORWARD"},
    {CompatibilityLevel::kForwardTransitive, "FORWARD_TRANSITIVE"},
    {CompatibilityLevel::kFull, "FULL"},
    {CompatibilityLevel::kFullTransitive, "FULL_TRANSITIVE"},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// Java Avro names types in upper case in its messages ("reader type: INT ...").
std::string UpperTypeName(Type type) {
  std::string out(TypeName(type));
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// Caps the incompatibilities kept per schema pair, so a schema that references one broken
// type from many places cannot make the report grow without bound.
constexpr std::size_t kMaxReported = 200;

// Reader/writer compatibility with memoization per (reader node, writer node) pair. Each
// pair's findings are stored with paths relative to the pair and prefixed where the pair is
// met, so a shared or recursive type is computed once. A pair met again while still being
// computed counts as compatible (it is proven incompatible elsewhere if it is).
class Checker {
 public:
  explicit Checker(const CompatibilityOptions& options) : options_(options) {}

  const std::vector<Incompatibility>& Check(const Node& r, const Node& w) {
    const std::uint64_t key = (static_cast<std::uint64_t>(r.id()) << 32) | w.id();
    auto [it, inserted] = memo_.try_emplace(key);
    if (!inserted) {
      return it->second.done ? it->second.found : kNone;
    }
    std::vector<Incompatibility> found = Compute(r, w);
    Entry& entry = memo_[key];
    entry.done = true;
    entry.found = std::move(found);
    return entry.found;
  }

 private:
  struct Entry {
    bool done = false;
    std::vector<Incompatibility> found;
  };

  using List = std::vector<Incompatibility>;

  static void Add(List& out, IncompatibilityType type, std::string rel_path, std::string message,
                  const Node& r, const Node& w) {
    if (out.size() >= kMaxReported) {
      return;
    }
    out.push_back(Incompatibility{type, std::move(rel_path), std::move(message), ToJson(r),
                                  ToJson(w)});
  }

  // Checks a child pair and appends its findings under `prefix` (an escaped pointer).
  void Sub(List& out, const std::string& prefix, const Node& r, const Node& w) {
    const List& found = Check(r, w);
    for (const auto& inc : found) {
      if (out.size() >= kMaxReported) {
        return;
      }
      Incompatibility copy = inc;
      copy.path = prefix + copy.path;
      out.push_back(std::move(copy));
    }
  }

  static std::string Token(std::string_view token) {
    std::string out = "/";
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out.push_back(c);
      }
    }
    return out;
  }

  // Named types match by their unqualified name, or by a reader alias naming the writer's full
  // name (the Avro specification's resolution rules; Avro's SchemaCompatibility and so
  // Confluent's registry do the same): a change of namespace alone is compatible.
  void CheckName(List& out, const Node& r, const Node& w) {
    if (w.name() == r.name()) {
      return;
    }
    const auto& aliases = r.aliases();
    if (std::find(aliases.begin(), aliases.end(), w.full_name()) != aliases.end()) {
      return;
    }
    Add(out, IncompatibilityType::kNameMismatch, "/name", "expected: " + w.full_name(), r, w);
  }

  void CheckDecimal(List& out, const Node& r, const Node& w) {
    if (!options_.check_decimals) {
      return;
    }
    std::string why = DecimalMismatch(w, r);
    if (!why.empty()) {
      Add(out, IncompatibilityType::kTypeMismatch, "",
          "reader type: " + UpperTypeName(r.type()) + " not compatible with writer type: " +
              UpperTypeName(w.type()) + " (" + why + ")",
          r, w);
    }
  }

  void TypeMismatch(List& out, const Node& r, const Node& w) {
    Add(out, IncompatibilityType::kTypeMismatch, "",
        "reader type: " + UpperTypeName(r.type()) +
            " not compatible with writer type: " + UpperTypeName(w.type()),
        r, w);
  }

  List Compute(const Node& r, const Node& w) {
    List out;
    if (r.type() == w.type()) {
      switch (r.type()) {
        case Type::kNull:
        case Type::kBoolean:
        case Type::kInt:
        case Type::kLong:
        case Type::kFloat:
        case Type::kDouble:
        case Type::kString:
          break;
        case Type::kBytes:
          CheckDecimal(out, r, w);
          break;
        case Type::kArray:
          Sub(out, "/items", r.items(), w.items());
          break;
        case Type::kMap:
          Sub(out, "/values", r.values(), w.values());
          break;
        case Type::kFixed:
          CheckName(out, r, w);
          if (r.fixed_size() != w.fixed_size()) {
            Add(out, IncompatibilityType::kFixedSizeMismatch, "/size",
                "expected: " + std::to_string(w.fixed_size()) +
                    ", found: " + std::to_string(r.fixed_size()),
                r, w);
          } else {
            CheckDecimal(out, r, w);
          }
          break;
        case Type::kEnum:
          CheckName(out, r, w);
          CheckEnumSymbols(out, r, w);
          break;
        case Type::kRecord:
          CheckName(out, r, w);
          CheckFields(out, r, w);
          break;
        case Type::kUnion:
          // Every branch the writer may have written must be readable by the reader union.
          for (std::size_t i = 0; i < w.branches().size(); ++i) {
            const Node& branch = *w.branches()[i];
            if (!Check(r, branch).empty()) {
              Add(out, IncompatibilityType::kMissingUnionBranch, "/" + std::to_string(i),
                  "reader union lacking writer type: " + UpperTypeName(branch.type()), r, w);
            }
          }
          break;
      }
      return out;
    }
    if (w.type() == Type::kUnion) {
      for (std::size_t i = 0; i < w.branches().size(); ++i) {
        Sub(out, "/" + std::to_string(i), r, *w.branches()[i]);
      }
      return out;
    }
    if (r.type() == Type::kUnion) {
      for (const Node* branch : r.branches()) {
        if (Check(*branch, w).empty()) {
          return out;
        }
      }
      Add(out, IncompatibilityType::kMissingUnionBranch, "",
          "reader union lacking writer type: " + UpperTypeName(w.type()), r, w);
      return out;
    }
    if (!IsPromotable(w.type(), r.type())) {
      TypeMismatch(out, r, w);
    }
    return out;
  }

  void CheckEnumSymbols(List& out, const Node& r, const Node& w) {
    std::vector<std::string> missing;
    for (const auto& symbol : w.symbols()) {
      if (!r.SymbolIndex(symbol)) {
        missing.push_back(symbol);
      }
    }
    if (missing.empty()) {
      return;
    }
    if (r.enum_default() && r.SymbolIndex(*r.enum_default())) {
      return;  // unknown writer symbols read as the reader's default symbol
    }
    std::sort(missing.begin(), missing.end());
    std::string list = "[";
    for (std::size_t i = 0; i < missing.size(); ++i) {
      list += (i ? ", " : "") + missing[i];
    }
    list += "]";
    Add(out, IncompatibilityType::kMissingEnumSymbols, "/symbols", list, r, w);
  }

  void CheckFields(List& out, const Node& r, const Node& w) {
    for (const Field& rf : r.fields()) {
      const std::string at = "/fields/" + std::to_string(rf.index());
      const Field* wf = w.FindField(rf.name());
      for (std::size_t i = 0; wf == nullptr && i < rf.aliases().size(); ++i) {
        wf = w.FindField(rf.aliases()[i]);
      }
      if (wf == nullptr) {
        if (!rf.has_default()) {
          Add(out, IncompatibilityType::kReaderFieldMissingDefaultValue, at, rf.name(), r, w);
        }
        continue;
      }
      Sub(out, at + "/type", rf.type(), wf->type());
    }
  }

  inline static const List kNone{};
  const CompatibilityOptions& options_;
  std::unordered_map<std::uint64_t, Entry> memo_;
};

}  // namespace

std::string_view IncompatibilityTypeName(IncompatibilityType type) {
  for (const auto& [value, name] : kTypeNames) {
    if (value == type) {
      return name;
    }
  }
  return "UNKNOWN";
}

std::optional<IncompatibilityType> ParseIncompatibilityType(std::string_view name) {
  for (const auto& [value, text] : kTypeNames) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::vector<Incompatibility> CheckCompatibility(const Schema& reader, const Schema& writer,
                                                const CompatibilityOptions& options) {
  Checker checker(options);
  std::vector<Incompatibility> found = checker.Check(reader.root(), writer.root());
  for (auto& inc : found) {
    if (inc.path.empty()) {
      inc.path = "/";
    }
  }
  return found;
}

std::string_view CompatibilityLevelName(CompatibilityLevel level) {
  for (const auto& [value, name] : kLevelNames) {
    if (value == level) {
      return name;
    }
  }
  return "NONE";
}

std::optional<CompatibilityLevel> ParseCompatibilityLevel(std::string_view name) {
  for (const auto& [value, text] : kLevelNames) {
    if (EqualsIgnoreCase(text, name)) {
      return value;
    }
  }
  return std::nullopt;
}

LevelReport CheckLevel(CompatibilityLevel level, const Schema& new_schema,
                       const std::vector<Schema>& existing, const CompatibilityOptions& options) {
  LevelReport report;
  if (level == CompatibilityLevel::kNone || existing.empty()) {
    return report;
  }
  const bool backward = level == CompatibilityLevel::kBackward ||
                        level == CompatibilityLevel::kBackwardTransitive ||
                        level == CompatibilityLevel::kFull ||
                        level == CompatibilityLevel::kFullTransitive;
  const bool forward = level == CompatibilityLevel::kForward ||
                       level == CompatibilityLevel::kForwardTransitive ||
                       level == CompatibilityLevel::kFull ||
                       level == CompatibilityLevel::kFullTransitive;
  const bool transitive = level == CompatibilityLevel::kBackwardTransitive ||
                          level == CompatibilityLevel::kForwardTransitive ||
                          level == CompatibilityLevel::kFullTransitive;
  const std::size_t oldest = transitive ? 0 : existing.size() - 1;
  for (std::size_t i = existing.size(); i-- > oldest;) {
    if (backward) {
      auto found = CheckCompatibility(new_schema, existing[i], options);
      if (!found.empty()) {
        report.failures.push_back(PairReport{i, Direction::kNewReadsOld, std::move(found)});
      }
    }
    if (forward) {
      auto found = CheckCompatibility(existing[i], new_schema, options);
      if (!found.empty()) {
        report.failures.push_back(PairReport{i, Direction::kOldReadsNew, std::move(found)});
      }
    }
  }
  report.compatible = report.failures.empty();
  return report;
}

std::string ConfluentMessage(const Incompatibility& inc, Direction direction) {
  const std::string reader = direction == Direction::kNewReadsOld ? "new" : "old";
  const std::string writer = direction == Direction::kNewReadsOld ? "old" : "new";
  const std::string& path = inc.path;
  std::string description;
  switch (inc.type) {
    case IncompatibilityType::kFixedSizeMismatch:
      description = "The size of FIXED type field at path '" + path + "' in the " + reader +
                    " schema does not match with the " + writer + " schema";
      break;
    case IncompatibilityType::kTypeMismatch:
      description = "The type (path '" + path + "') of a field in the " + reader +
                    " schema does not match with the " + writer + " schema";
      break;
    case IncompatibilityType::kNameMismatch:
      description = "The name of the schema has changed (path '" + path + "')";
      break;
    case IncompatibilityType::kMissingEnumSymbols:
      description = "The " + reader + " schema is missing enum symbols '" + inc.message +
                    "' at path '" + path + "' in the " + writer + " schema";
      break;
    case IncompatibilityType::kMissingUnionBranch:
      description = "The " + reader + " schema is missing a type inside a union field at path '" +
                    path + "' in the " + writer + " schema";
      break;
    case IncompatibilityType::kReaderFieldMissingDefaultValue:
      description = "The field '" + inc.message + "' at path '" + path + "' in the " + reader +
                    " schema has no default value and is missing in the " + writer + " schema";
      break;
  }
  return "{errorType:'" + std::string(IncompatibilityTypeName(inc.type)) + "', description:'" +
         description + "', additionalInfo:'" + inc.message + "'}";
}

}  // namespace sluice::avro

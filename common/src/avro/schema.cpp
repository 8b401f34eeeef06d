// Schema parser: .avsc JSON -> immutable node graph, with precise error paths.
#include "sluice/avro/schema.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "schema_data.hpp"

namespace sluice::avro {

using nlohmann::json;

SchemaParseError::SchemaParseError(std::string path, std::string reason)
    : core::DataError("invalid Avro schema at " + path + ": " + reason),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBoolean: return "boolean";
    case Type::kInt: return "int";
    case Type::kLong: return "long";
    case Type::kFloat: return "float";
    case Type::kDouble: return "double";
    case Type::kBytes: return "bytes";
    case Type::kString: return "string";
    case Type::kRecord: return "record";
    case Type::kEnum: return "enum";
    case Type::kArray: return "array";
    case Type::kMap: return "map";
    case Type::kUnion: return "union";
    case Type::kFixed: return "fixed";
  }
  return "?";
}

std::string_view LogicalTypeName(LogicalType logical) {
  switch (logical) {
    case LogicalType::kNone: return "";
    case LogicalType::kDecimal: return "decimal";
    case LogicalType::kDate: return "date";
    case LogicalType::kTimeMillis: return "time-millis";
    case LogicalType::kTimeMicros: return "time-micros";
    case LogicalType::kTimestampMillis: return "timestamp-millis";
    case LogicalType::kTimestampMicros: return "timestamp-micros";
    case LogicalType::kLocalTimestampMillis: return "local-timestamp-millis";
    case LogicalType::kLocalTimestampMicros: return "local-timestamp-micros";
    case LogicalType::kUuid: return "uuid";
    case LogicalType::kDuration: return "duration";
  }
  return "";
}

const Field* Node::FindField(std::string_view name) const {
  for (const Field& f : fields_) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

std::optional<std::size_t> Node::SymbolIndex(std::string_view symbol) const {
  for (std::size_t i = 0; i < symbols_.size(); ++i) {
    if (symbols_[i] == symbol) return i;
  }
  return std::nullopt;
}

namespace {

// Deep enough for any real schema, shallow enough that recursion cannot exhaust the stack.
constexpr int kMaxSchemaDepth = 128;
// Any JSON value in a schema document (properties and defaults included).
constexpr int kMaxJsonNesting = 512;

std::optional<Type> PrimitiveType(std::string_view name) {
  static constexpr std::pair<std::string_view, Type> kPrimitives[] = {
      {"null", Type::kNull},   {"boolean", Type::kBoolean}, {"int", Type::kInt},
      {"long", Type::kLong},   {"float", Type::kFloat},     {"double", Type::kDouble},
      {"bytes", Type::kBytes}, {"string", Type::kString},
  };
  for (const auto& [n, t] : kPrimitives) {
    if (n == name) return t;
  }
  return std::nullopt;
}

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

// Dotted names: every component must be a valid name. Empty allowed when allow_empty.
bool IsValidFullName(std::string_view name, bool allow_empty) {
  if (name.empty()) return allow_empty;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = name.find('.', start);
    if (!IsValidName(name.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string Quote(std::string_view s) { return json(std::string(s)).dump(); }

}  // namespace

// Builds one SchemaData. Not reusable; one instance per ParseSchema call.
class SchemaParser {
 public:
  explicit SchemaParser(bool validate_defaults)
      : data_(std::make_shared<detail::SchemaData>()), validate_defaults_(validate_defaults) {}

  void ParseReference(const Schema& ref, std::size_t i) {
    ParseType(ToJson(ref), "", "$references[" + std::to_string(i) + "]", 0);
  }

  Schema Finish(const json& root) {
    data_->root = ParseType(root, "", "$", 0);
    CheckDefaults();
    ComputeMinSizes();
    return Schema(std::move(data_));
  }

 private:
  Node* NewNode(Type type) {
    auto node = std::make_unique<Node>();
    node->type_ = type;
    node->id_ = data_->nodes.size();
    data_->nodes.push_back(std::move(node));
    return data_->nodes.back().get();
  }

  [[noreturn]] static void Fail(const std::string& path, std::string reason) {
    throw SchemaParseError(path, std::move(reason));
  }

  const Node* Lookup(std::string_view name, const std::string& ns) const {
    auto find = [&](const std::string& full) -> const Node* {
      auto it = data_->by_name.find(full);
      return it == data_->by_name.end() ? nullptr : it->second;
    };
    if (name.find('.') == std::string_view::npos && !ns.empty()) {
      if (const Node* n = find(ns + "." + std::string(name))) return n;
    }
    return find(std::string(name));
  }

  const Node* ParseTypeName(std::string_view name, const std::string& ns, const std::string& path) {
    if (auto prim = PrimitiveType(name)) return NewNode(*prim);
    if (const Node* n = Lookup(name, ns)) return n;
    if (name == "record" || name == "enum" || name == "array" || name == "map" ||
        name == "fixed" || name == "error") {
      Fail(path, "type " + Quote(name) + " must be written as an object with its attributes");
    }
    Fail(path, "unknown type " + Quote(name) + " (named types must be defined before use)");
  }

  const Node* ParseType(const json& j, const std::string& ns, const std::string& path, int depth) {
    if (depth > kMaxSchemaDepth) Fail(path, "schema nested too deeply");
    if (j.is_string()) return ParseTypeName(j.get_ref<const std::string&>(), ns, path);
    if (j.is_array()) return ParseUnion(j, ns, path, depth);
    if (!j.is_object()) Fail(path, "expected a type name, an object or an array (union)");
    auto type_it = j.find("type");
    if (type_it == j.end()) Fail(path, "missing \"type\"");
    if (type_it->is_object() || type_it->is_array()) {
      // {"type": {...}}: a nested definition, as fastavro and avsc accept.
      return ParseType(*type_it, ns, path + ".type", depth + 1);
    }
    if (!type_it->is_string()) Fail(path + ".type", "\"type\" must be a string");
    const std::string& type = type_it->get_ref<const std::string&>();
    if (auto prim = PrimitiveType(type)) return ParsePrimitive(*prim, j, path);
    if (type == "record" || type == "error") return ParseRecord(j, ns, path, depth);
    if (type == "enum") return ParseEnum(j, ns, path);
    if (type == "fixed") return ParseFixed(j, ns, path);
    if (type == "array" || type == "map") return ParseContainer(type == "array", j, ns, path, depth);
    if (const Node* n = Lookup(type, ns)) return n;
    Fail(path + ".type", "unknown type " + Quote(type));
  }

  const Node* ParseUnion(const json& j, const std::string& ns, const std::string& path, int depth) {
    Node* node = NewNode(Type::kUnion);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < j.size(); ++i) {
      std::string bpath = path + "[" + std::to_string(i) + "]";
      const Node* b = ParseType(j[i], ns, bpath, depth + 1);
      if (b->type() == Type::kUnion) Fail(bpath, "a union may not immediately contain a union");
      std::string key = b->is_named() ? b->full_name() : std::string(TypeName(b->type()));
      if (!seen.insert(key).second) Fail(bpath, "duplicate type " + Quote(key) + " in union");
      node->branches_.push_back(b);
    }
    return node;
  }

  // Extra properties: every attribute not in `reserved`.
  static json ExtraProps(const json& j, std::initializer_list<std::string_view> reserved) {
    json props = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::find(reserved.begin(), reserved.end(), it.key()) == reserved.end()) {
        props[it.key()] = it.value();
      }
    }
    return props;
  }

  static int DigitsForFixed(std::size_t size) {
    // floor(log10(2^(8*size-1) - 1)): the largest precision a fixed of this size can hold.
    if (size == 0) return 0;
    return static_cast<int>(std::floor((8.0 * static_cast<double>(size) - 1) * std::log10(2.0)));
  }

  // Applies "logicalType" to a node whose underlying type is parsed. Unknown or invalid
  // logical types are ignored and stay in props, as the specification requires.
  static void ApplyLogical(Node* node, const json& j) {
    auto it = j.find("logicalType");
    if (it == j.end() || !it->is_string()) return;
    const std::string& lt = it->get_ref<const std::string&>();
    Type t = node->type_;
    LogicalType result = LogicalType::kNone;
    if (lt == "decimal" && (t == Type::kBytes || t == Type::kFixed)) {
      auto p = j.find("precision");
      auto s = j.find("scale");
      if (p == j.end() || !p->is_number_integer()) return;
      long long precision = p->get<long long>();
      long long scale = 0;
      if (s != j.end()) {
        if (!s->is_number_integer()) return;
        scale = s->get<long long>();
      }
      if (precision <= 0 || precision > 1000000 || scale < 0 || scale > precision) return;
      if (t == Type::kFixed && precision > DigitsForFixed(node->fixed_size_)) return;
      node->precision_ = static_cast<int>(precision);
      node->scale_ = static_cast<int>(scale);
      node->props_.erase("precision");
      node->props_.erase("scale");
      result = LogicalType::kDecimal;
    } else if (lt == "date" && t == Type::kInt) {
      result = LogicalType::kDate;
    } else if (lt == "time-millis" && t == Type::kInt) {
      result = LogicalType::kTimeMillis;
    } else if (lt == "time-micros" && t == Type::kLong) {
      result = LogicalType::kTimeMicros;
    } else if (lt == "timestamp-millis" && t == Type::kLong) {
      result = LogicalType::kTimestampMillis;
    } else if (lt == "timestamp-micros" && t == Type::kLong) {
      result = LogicalType::kTimestampMicros;
    } else if (lt == "local-timestamp-millis" && t == Type::kLong) {
      result = LogicalType::kLocalTimestampMillis;
    } else if (lt == "local-timestamp-micros" && t == Type::kLong) {
      result = LogicalType::kLocalTimestampMicros;
    } else if (lt == "uuid" && (t == Type::kString || (t == Type::kFixed && node->fixed_size_ == 16))) {
      result = LogicalType::kUuid;
    } else if (lt == "duration" && t == Type::kFixed && node->fixed_size_ == 12) {
      result = LogicalType::kDuration;
    }
    if (result != LogicalType::kNone) {
      node->logical_ = result;
      node->props_.erase("logicalType");
    }
  }

  const Node* ParsePrimitive(Type type, const json& j, const std::string& /*path*/) {
    Node* node = NewNode(type);
    node->props_ = ExtraProps(j, {"type"});
    ApplyLogical(node, j);
    return node;
  }

  static std::string OptionalString(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_string()) Fail(path + "." + key, std::string("\"") + key + "\" must be a string");
    return it->get<std::string>();
  }

  // Sets name, namespace, full name, aliases and doc; registers the name. Returns the
  // namespace that nested definitions inherit.
  std::string DefineName(Node* node, const json& j, const std::string& ns, const std::string& path) {
    auto name_it = j.find("name");
    if (name_it == j.end()) Fail(path, "missing \"name\"");
    if (!name_it->is_string()) Fail(path + ".name", "\"name\" must be a string");
    std::string name = name_it->get<std::string>();
    std::string space = ns;
    auto ns_it = j.find("namespace");
    if (ns_it != j.end() && !ns_it->is_null()) {
      if (!ns_it->is_string()) Fail(path + ".namespace", "\"namespace\" must be a string");
      space = ns_it->get<std::string>();
      if (!IsValidFullName(space, true)) Fail(path + ".namespace", "invalid namespace " + Quote(space));
    }
    std::size_t dot = name.rfind('.');
    if (dot != std::string::npos) {
      space = name.substr(0, dot);
      name = name.substr(dot + 1);
      if (!IsValidFullName(space, false)) Fail(path + ".name", "invalid name " + Quote(name_it->get<std::string>()));
    }
    if (!IsValidName(name)) Fail(path + ".name", "invalid name " + Quote(name_it->get<std::string>()));
    std::string full = space.empty() ? name : space + "." + name;
    if (PrimitiveType(full)) Fail(path + ".name", "cannot redefine primitive type " + Quote(full));
    if (data_->by_name.count(full)) Fail(path + ".name", "type " + Quote(full) + " is already defined");
    node->name_ = name;
    node->namespace_ = space;
    node->full_name_ = full;
    node->doc_ = OptionalString(j, "doc", path);
    auto al = j.find("aliases");
    if (al != j.end()) {
      if (!al->is_array()) Fail(path + ".aliases", "\"aliases\" must be an array of names");
      for (std::size_t i = 0; i < al->size(); ++i) {
        const json& a = (*al)[i];
        std::string apath = path + ".aliases[" + std::to_string(i) + "]";
        if (!a.is_string() || !IsValidFullName(a.get_ref<const std::string&>(), false)) {
          Fail(apath, "invalid alias");
        }
        const std::string& s = a.get_ref<const std::string&>();
        node->aliases_.push_back(s.find('.') != std::string::npos || space.empty() ? s : space + "." + s);
      }
    }
    data_->by_name.emplace(full, node);
    data_->named.push_back(node);
    return space;
  }

  const Node* ParseRecord(const json& j, const std::string& ns, const std::string& path, int depth) {
    Node* node = NewNode(Type::kRecord);
    std::string space = DefineName(node, j, ns, path);
    node->props_ = ExtraProps(j, {"type", "name", "namespace", "doc", "aliases", "fields"});
    auto fields_it = j.find("fields");
    if (fields_it == j.end()) Fail(path, "missing \"fields\"");
    if (!fields_it->is_array()) Fail(path + ".fields", "\"fields\" must be an array");
    std::set<std::string> names;
    node->fields_.reserve(fields_it->size());
    for (std::size_t i = 0; i < fields_it->size(); ++i) {
      const json& fj = (*fields_it)[i];
      std::string fpath = path + ".fields[" + std::to_string(i) + "]";
      if (!fj.is_object()) Fail(fpath, "a field must be an object");
      Field f;
      auto name_it = fj.find("name");
      if (name_it == fj.end()) Fail(fpath, "missing \"name\"");
      if (!name_it->is_string() || !IsValidName(name_it->get_ref<const std::string&>())) {
        Fail(fpath + ".name", "invalid field name");
      }
      f.name_ = name_it->get<std::string>();
      if (!names.insert(f.name_).second) Fail(fpath + ".name", "duplicate field " + Quote(f.name_));
      auto type_it = fj.find("type");
      if (type_it == fj.end()) Fail(fpath, "missing \"type\"");
      f.type_ = ParseType(*type_it, space, fpath + ".type", depth + 1);
      f.doc_ = OptionalString(fj, "doc", fpath);
      f.index_ = i;
      auto order_it = fj.find("order");
      if (order_it != fj.end()) {
        std::string order = order_it->is_string() ? order_it->get<std::string>() : "";
        if (order == "ascending") f.order_ = FieldOrder::kAscending;
        else if (order == "descending") f.order_ = FieldOrder::kDescending;
        else if (order == "ignore") f.order_ = FieldOrder::kIgnore;
        else Fail(fpath + ".order", "\"order\" must be \"ascending\", \"descending\" or \"ignore\"");
      }
      auto al = fj.find("aliases");
      if (al != fj.end()) {
        if (!al->is_array()) Fail(fpath + ".aliases", "\"aliases\" must be an array of names");
        for (std::size_t k = 0; k < al->size(); ++k) {
          const json& a = (*al)[k];
          if (!a.is_string() || !IsValidName(a.get_ref<const std::string&>())) {
            Fail(fpath + ".aliases[" + std::to_string(k) + "]", "invalid field alias");
          }
          f.aliases_.push_back(a.get<std::string>());
        }
      }
      auto def_it = fj.find("default");
      if (def_it != fj.end()) {
        f.has_default_ = true;
        f.default_ = *def_it;
        if (validate_defaults_) pending_defaults_.push_back({node, i, fpath + ".default"});
      }
      f.props_ = ExtraProps(fj, {"name", "type", "doc", "default", "order", "aliases"});
      node->fields_.push_back(std::move(f));
    }
    return node;
  }

  // Defaults are checked once the whole schema is parsed (a default may refer to a type
  // defined later in the same record, e.g. a recursive one).
  void CheckDefaults() {
    for (const auto& p : pending_defaults_) {
      const Field& f = p.record->fields_[p.field];
      if (!IsValidDefault(f.type(), f.default_value())) {
        Fail(p.path, "default value " + f.default_value().dump() + " does not match the field type");
      }
    }
    pending_defaults_.clear();
  }

  const Node* ParseEnum(const json& j, const std::string& ns, const std::string& path) {
    Node* node = NewNode(Type::kEnum);
    DefineName(node, j, ns, path);
    node->props_ = ExtraProps(j, {"type", "name", "namespace", "doc", "aliases", "symbols", "default"});
    auto sym = j.find("symbols");
    if (sym == j.end()) Fail(path, "missing \"symbols\"");
    if (!sym->is_array()) Fail(path + ".symbols", "\"symbols\" must be an array");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < sym->size(); ++i) {
      const json& s = (*sym)[i];
      std::string spath = path + ".symbols[" + std::to_string(i) + "]";
      if (!s.is_string() || !IsValidName(s.get_ref<const std::string&>())) Fail(spath, "invalid symbol");
      if (!seen.insert(s.get<std::string>()).second) Fail(spath, "duplicate symbol " + s.dump());
      node->symbols_.push_back(s.get<std::string>());
    }
    auto def = j.find("default");
    if (def != j.end()) {
      if (!def->is_string() || !seen.count(def->get<std::string>())) {
        Fail(path + ".default", "enum default must be one of the symbols");
      }
      node->enum_default_ = def->get<std::string>();
    }
    return node;
  }

  const Node* ParseFixed(const json& j, const std::string& ns, const std::string& path) {
    Node* node = NewNode(Type::kFixed);
    DefineName(node, j, ns, path);
    auto size = j.find("size");
    if (size == j.end()) Fail(path, "missing \"size\"");
    if (!size->is_number_integer() || size->get<long long>() < 0 ||
        size->get<long long>() > (1ll << 31)) {
      Fail(path + ".size", "\"size\" must be a non-negative integer");
    }
    node->fixed_size_ = static_cast<std::size_t>(size->get<long long>());
    node->props_ = ExtraProps(j, {"type", "name", "namespace", "doc", "aliases", "size"});
    ApplyLogical(node, j);
    return node;
  }

  const Node* ParseContainer(bool is_array, const json& j, const std::string& ns,
                             const std::string& path, int depth) {
    Node* node = NewNode(is_array ? Type::kArray : Type::kMap);
    const char* key = is_array ? "items" : "values";
    auto it = j.find(key);
    if (it == j.end()) Fail(path, std::string("missing \"") + key + "\"");
    node->items_ = ParseType(*it, ns, path + "." + key, depth + 1);
    node->props_ = ExtraProps(j, {"type", key});
    return node;
  }

  // Lower bounds of encoded sizes. A node still being visited counts as 0, which keeps
  // every result a valid lower bound even through recursive references.
  void ComputeMinSizes() {
    std::vector<int> state(data_->nodes.size(), 0);  // 0 new, 1 visiting, 2 done
    std::function<std::size_t(Node*)> visit = [&](Node* n) -> std::size_t {
      if (state[n->id_] == 2) return n->min_size_;
      if (state[n->id_] == 1) return 0;
      state[n->id_] = 1;
      std::size_t size = 0;
      switch (n->type_) {
        case Type::kNull: size = 0; break;
        case Type::kBoolean: size = 1; break;
        case Type::kInt:
        case Type::kLong:
        case Type::kBytes:
        case Type::kString:
        case Type::kEnum:
        case Type::kArray:
        case Type::kMap:
        case Type::kUnion: size = 1; break;
        case Type::kFloat: size = 4; break;
        case Type::kDouble: size = 8; break;
        case Type::kFixed: size = n->fixed_size_; break;
        case Type::kRecord:
          for (const Field& f : n->fields_) {
            size += visit(const_cast<Node*>(f.type_));
            if (size > (1u << 30)) size = 1u << 30;
          }
          break;
      }
      // Children of containers and unions are visited for completeness of the table.
      if (n->items_) visit(const_cast<Node*>(n->items_));
      for (const Node* b : n->branches_) visit(const_cast<Node*>(b));
      n->min_size_ = size;
      state[n->id_] = 2;
      return size;
    };
    for (auto& n : data_->nodes) visit(n.get());
  }

  struct PendingDefault {
    Node* record;
    std::size_t field;
    std::string path;
  };
  std::shared_ptr<detail::SchemaData> data_;
  std::vector<PendingDefault> pending_defaults_;
  bool validate_defaults_;
};

Schema::Schema() : Schema(ParseSchema(std::string_view("\"null\""))) {}

const Node& Schema::root() const { return *data_->root; }

const Node* Schema::FindNamed(std::string_view full_name) const {
  auto it = data_->by_name.find(full_name);
  return it == data_->by_name.end() ? nullptr : it->second;
}

const std::vector<const Node*>& Schema::named_types() const { return data_->named; }
std::size_t Schema::node_count() const { return data_->nodes.size(); }
const Node& Schema::node(std::size_t id) const { return *data_->nodes.at(id); }

Schema ParseSchema(std::string_view text, const ParseOptions& options) {
  // nlohmann parses iteratively, but copying and comparing values recurse: refuse absurd
  // nesting (in properties or defaults) before it can reach them.
  int nesting = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++nesting > kMaxJsonNesting) throw SchemaParseError("$", "JSON nested too deeply");
    } else if (c == ']' || c == '}') {
      --nesting;
    }
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // parse_error for syntax, out_of_range for numbers that overflow a double.
    throw SchemaParseError("$", std::string("invalid JSON: ") + e.what());
  }
  return ParseSchema(j, options);
}

Schema ParseSchema(const json& j, const ParseOptions& options) {
  SchemaParser parser(options.validate_defaults);
  for (std::size_t i = 0; i < options.references.size(); ++i) {
    parser.ParseReference(options.references[i], i);
  }
  return parser.Finish(j);
}

}  // namespace sluice::avro

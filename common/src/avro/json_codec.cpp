// Avro JSON encoding and schema defaults (which use the JSON encoding, minus union wrappers).
#include <cmath>
#include <limits>

#include "sluice/avro/codec.hpp"

namespace sluice::avro {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxJsonDepth = 256;

// Bytes and fixed travel in JSON as strings whose code points U+0000..U+00FF are the bytes.
std::string BytesToJsonString(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

// Inverse of BytesToJsonString; false if a code point is above U+00FF or the UTF-8 is bad.
bool JsonStringToBytes(const std::string& s, std::string& out) {
  out.clear();
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c == 0xc2 || c == 0xc3) && i + 1 < s.size() &&
               (static_cast<unsigned char>(s[i + 1]) & 0xc0) == 0x80) {
      out.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3f)));
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

std::string BranchName(const Node& n) {
  return n.is_named() ? n.full_name() : std::string(TypeName(n.type()));
}

[[noreturn]] void Bad(const std::string& path, const std::string& reason) {
  throw DecodeError(0, "JSON value at " + path + ": " + reason);
}

[[noreturn]] void Mismatch(const Node& node, const char* expected) {
  throw EncodeError("datum does not match schema type " + BranchName(node) + " (expected a " +
                    expected + " datum)");
}

template <typename T>
const T& Expect(const Node& node, const Datum& d, const char* what) {
  const T* v = std::get_if<T>(&d.value());
  if (v == nullptr) Mismatch(node, what);
  return *v;
}

json ToJsonValue(const Node& node, const Datum& d, std::size_t depth) {
  if (depth > 10000) throw EncodeError("datum nested too deeply");
  switch (node.type()) {
    case Type::kNull: Expect<Null>(node, d, "Null"); return nullptr;
    case Type::kBoolean: return Expect<bool>(node, d, "bool");
    case Type::kInt: return Expect<std::int32_t>(node, d, "int32");
    case Type::kLong: return Expect<std::int64_t>(node, d, "int64");
    case Type::kFloat: return Expect<float>(node, d, "float");
    case Type::kDouble: return Expect<double>(node, d, "double");
    case Type::kBytes: return BytesToJsonString(Expect<Bytes>(node, d, "Bytes").value);
    case Type::kString: return Expect<std::string>(node, d, "string");
    case Type::kFixed: {
      const Fixed& f = Expect<Fixed>(node, d, "Fixed");
      if (f.value.size() != node.fixed_size()) throw EncodeError("fixed " + node.full_name() + " has the wrong size");
      return BytesToJsonString(f.value);
    }
    case Type::kEnum: {
      const EnumValue& e = Expect<EnumValue>(node, d, "EnumValue");
      if (e.index >= node.symbols().size()) throw EncodeError("enum index out of range");
      return node.symbols()[e.index];
    }
    case Type::kRecord: {
      const Record& r = Expect<Record>(node, d, "Record");
      if (r.fields.size() != node.fields().size()) throw EncodeError("record " + node.full_name() + " field count mismatch");
      json j = json::object();
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        j[node.fields()[i].name()] = ToJsonValue(node.fields()[i].type(), r.fields[i], depth + 1);
      }
      return j;
    }
    case Type::kArray: {
      const Array& a = Expect<Array>(node, d, "Array");
      json j = json::array();
      for (const Datum& item : a.items) j.push_back(ToJsonValue(node.items(), item, depth + 1));
      return j;
    }
    case Type::kMap: {
      const Map& m = Expect<Map>(node, d, "Map");
      json j = json::object();
      for (const auto& [k, v] : m.entries) j[k] = ToJsonValue(node.values(), v, depth + 1);
      return j;
    }
    case Type::kUnion: {
      const Union& u = Expect<Union>(node, d, "Union");
      if (u.branch >= node.branches().size()) throw EncodeError("union branch out of range");
      const Node& b = *node.branches()[u.branch];
      if (b.type() == Type::kNull) return nullptr;
      json j = json::object();
      j[BranchName(b)] = ToJsonValue(b, u.value(), depth + 1);
      return j;
    }
  }
  throw EncodeError("unknown type");
}

// mode kJson: Avro JSON encoding (unions wrapped). kDefault: schema defaults (unions bare,
// a value of the first branch it fits).
enum class Mode { kJson, kDefault };

Datum FromJsonValue(const Node& node, const json& j, Mode mode, const std::string& path,
                    std::size_t depth) {
  if (depth > kMaxJsonDepth) Bad(path, "nested too deeply");
  switch (node.type()) {
    case Type::kNull:
      if (!j.is_null()) Bad(path, "expected null");
      return Null{};
    case Type::kBoolean:
      if (!j.is_boolean()) Bad(path, "expected a boolean");
      return j.get<bool>();
    case Type::kInt: {
      if (j.is_number_unsigned()) {
        if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) Bad(path, "int out of range");
        return static_cast<std::int32_t>(j.get<std::uint64_t>());
      }
      if (!j.is_number_integer()) Bad(path, "expected an int");
      std::int64_t v = j.get<std::int64_t>();
      if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max()) Bad(path, "int out of range");
      return static_cast<std::int32_t>(v);
    }
    case Type::kLong: {
      if (j.is_number_unsigned()) {
        if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) Bad(path, "long out of range");
        return static_cast<std::int64_t>(j.get<std::uint64_t>());
      }
      if (!j.is_number_integer()) Bad(path, "expected a long");
      return j.get<std::int64_t>();
    }
    case Type::kFloat:
    case Type::kDouble: {
      double v;
      if (j.is_number()) {
        v = j.get<double>();
      } else if (j.is_string() && j.get_ref<const std::string&>() == "NaN") {
        v = std::numeric_limits<double>::quiet_NaN();
      } else if (j.is_string() && j.get_ref<const std::string&>() == "Infinity") {
        v = std::numeric_limits<double>::infinity();
      } else if (j.is_string() && j.get_ref<const std::string&>() == "-Infinity") {
        v = -std::numeric_limits<double>::infinity();
      } else {
        Bad(path, "expected a number");
      }
      if (node.type() == Type::kFloat) return static_cast<float>(v);
      return v;
    }
    case Type::kBytes:
    case Type::kFixed: {
      if (!j.is_string()) Bad(path, "expected a string of bytes");
      std::string bytes;
      if (!JsonStringToBytes(j.get_ref<const std::string&>(), bytes)) Bad(path, "code point above U+00FF in a bytes string");
      if (node.type() == Type::kBytes) return Bytes{std::move(bytes)};
      if (bytes.size() != node.fixed_size()) Bad(path, "fixed " + node.full_name() + " needs " + std::to_string(node.fixed_size()) + " bytes");
      return Fixed{std::move(bytes)};
    }
    case Type::kString:
      if (!j.is_string()) Bad(path, "expected a string");
      return j.get<std::string>();
    case Type::kEnum: {
      if (!j.is_string()) Bad(path, "expected an enum symbol");
      auto i = node.SymbolIndex(j.get_ref<const std::string&>());
      if (!i) Bad(path, "unknown symbol " + j.dump() + " for enum " + node.full_name());
      return EnumValue{*i};
    }
    case Type::kRecord: {
      if (!j.is_object()) Bad(path, "expected an object for record " + node.full_name());
      Record r;
      r.fields.reserve(node.fields().size());
      for (const Field& f : node.fields()) {
        auto it = j.find(f.name());
        std::string fpath = path + "." + f.name();
        if (it != j.end()) {
          r.fields.push_back(FromJsonValue(f.type(), *it, mode, fpath, depth + 1));
        } else if (f.has_default()) {
          r.fields.push_back(FromJsonValue(f.type(), f.default_value(), Mode::kDefault, fpath, depth + 1));
        } else {
          Bad(fpath, "missing field without a default");
        }
      }
      return r;
    }
    case Type::kArray: {
      if (!j.is_array()) Bad(path, "expected an array");
      Array a;
      a.items.reserve(j.size());
      for (std::size_t i = 0; i < j.size(); ++i) {
        a.items.push_back(FromJsonValue(node.items(), j[i], mode, path + "[" + std::to_string(i) + "]", depth + 1));
      }
      return a;
    }
    case Type::kMap: {
      if (!j.is_object()) Bad(path, "expected an object for a map");
      Map m;
      m.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        m.entries.emplace_back(it.key(), FromJsonValue(node.values(), it.value(), mode, path + "." + it.key(), depth + 1));
      }
      return m;
    }
    case Type::kUnion: {
      const auto& branches = node.branches();
      if (mode == Mode::kDefault) {
        for (std::size_t i = 0; i < branches.size(); ++i) {
          try {
            return Union(i, FromJsonValue(*branches[i], j, mode, path, depth + 1));
          } catch (const DecodeError&) {
            // Not this branch; try the next one.
          }
        }
        Bad(path, "the default fits no branch of the union");
      }
      if (j.is_null()) {
        for (std::size_t i = 0; i < branches.size(); ++i) {
          if (branches[i]->type() == Type::kNull) return Union(i, Null{});
        }
        Bad(path, "null given but the union has no null branch");
      }
      if (!j.is_object() || j.size() != 1) Bad(path, "a union value must be null or {\"<type>\": value}");
      const std::string& name = j.begin().key();
      for (std::size_t i = 0; i < branches.size(); ++i) {
        const Node& b = *branches[i];
        // Named branches match by full name, or by short name as some writers emit it.
        if (BranchName(b) == name || (b.is_named() && b.name() == name)) {
          return Union(i, FromJsonValue(b, j.begin().value(), mode, path + "." + name, depth + 1));
        }
      }
      Bad(path, "no union branch named \"" + name + "\"");
    }
  }
  Bad(path, "unknown type");
}

}  // namespace

json ToAvroJson(const Node& node, const Datum& datum) { return ToJsonValue(node, datum, 0); }
json ToAvroJson(const Schema& schema, const Datum& datum) { return ToAvroJson(schema.root(), datum); }

Datum FromAvroJson(const Node& node, const json& j) { return FromJsonValue(node, j, Mode::kJson, "$", 0); }
Datum FromAvroJson(const Schema& schema, const json& j) { return FromAvroJson(schema.root(), j); }

Datum DatumFromDefault(const Node& node, const json& value) {
  return FromJsonValue(node, value, Mode::kDefault, "$", 0);
}

bool IsValidDefault(const Node& node, const json& value) {
  try {
    (void)DatumFromDefault(node, value);
    return true;
  } catch (const DecodeError&) {
    return false;
  }
}

}  // namespace sluice::avro

// Schema identity (Parsing Canonical Form, CRC-64-AVRO) and the full JSON form.
#include <array>
#include <set>

#include "sluice/avro/schema.hpp"

namespace sluice::avro {

using nlohmann::json;

namespace {

// Names and symbols are validated identifiers, but quote through nlohmann anyway so the
// output is valid JSON whatever a future relaxation lets through ([STRINGS]: UTF-8, not
// \u escapes, which is nlohmann's default for non-ASCII).
void AppendQuoted(std::string& out, const std::string& s) { out += json(s).dump(); }

void Canonical(const Node& n, std::set<std::string>& seen, std::string& out) {
  switch (n.type()) {
    case Type::kNull:
    case Type::kBoolean:
    case Type::kInt:
    case Type::kLong:
    case Type::kFloat:
    case Type::kDouble:
    case Type::kBytes:
    case Type::kString:
      // [PRIMITIVES] and [STRIP]: logical types and props disappear.
      out += '"';
      out += TypeName(n.type());
      out += '"';
      return;
    case Type::kUnion: {
      out += '[';
      bool first = true;
      for (const Node* b : n.branches()) {
        if (!first) out += ',';
        first = false;
        Canonical(*b, seen, out);
      }
      out += ']';
      return;
    }
    case Type::kArray:
      out += "{\"type\":\"array\",\"items\":";
      Canonical(n.items(), seen, out);
      out += '}';
      return;
    case Type::kMap:
      out += "{\"type\":\"map\",\"values\":";
      Canonical(n.values(), seen, out);
      out += '}';
      return;
    case Type::kRecord:
    case Type::kEnum:
    case Type::kFixed:
      break;
  }
  // Named types: [FULLNAMES]; a name already written is referenced by its full name.
  if (!seen.insert(n.full_name()).second) {
    AppendQuoted(out, n.full_name());
    return;
  }
  // [ORDER]: name, type, fields, symbols, items, values, size.
  out += "{\"name\":";
  AppendQuoted(out, n.full_name());
  out += ",\"type\":\"";
  out += TypeName(n.type());
  out += '"';
  if (n.type() == Type::kRecord) {
    out += ",\"fields\":[";
    bool first = true;
    for (const Field& f : n.fields()) {
      if (!first) out += ',';
      first = false;
      out += "{\"name\":";
      AppendQuoted(out, f.name());
      out += ",\"type\":";
      Canonical(f.type(), seen, out);
      out += '}';
    }
    out += ']';
  } else if (n.type() == Type::kEnum) {
    out += ",\"symbols\":[";
    bool first = true;
    for (const std::string& s : n.symbols()) {
      if (!first) out += ',';
      first = false;
      AppendQuoted(out, s);
    }
    out += ']';
  } else {
    // [INTEGERS]: plain decimal, no quotes or leading zeros.
    out += ",\"size\":";
    out += std::to_string(n.fixed_size());
  }
  out += '}';
}

constexpr std::uint64_t kEmpty = 0xc15d213aa4d7a795ULL;

constexpr std::array<std::uint64_t, 256> MakeTable() {
  std::array<std::uint64_t, 256> table{};
  for (std::uint64_t i = 0; i < 256; ++i) {
    std::uint64_t fp = i;
    for (int j = 0; j < 8; ++j) fp = (fp >> 1) ^ (kEmpty & (0 - (fp & 1)));
    table[i] = fp;
  }
  return table;
}

constexpr std::array<std::uint64_t, 256> kTable = MakeTable();

void AddProps(json& out, const json& props) {
  for (auto it = props.begin(); it != props.end(); ++it) out[it.key()] = it.value();
}

json FullJson(const Node& n, const std::string& enclosing_ns, std::set<std::string>& seen) {
  switch (n.type()) {
    case Type::kNull:
    case Type::kBoolean:
    case Type::kInt:
    case Type::kLong:
    case Type::kFloat:
    case Type::kDouble:
    case Type::kBytes:
    case Type::kString: {
      if (n.logical_type() == LogicalType::kNone && n.props().empty()) {
        return std::string(TypeName(n.type()));
      }
      json j = json::object();
      AddProps(j, n.props());
      j["type"] = std::string(TypeName(n.type()));
      if (n.logical_type() != LogicalType::kNone) {
        j["logicalType"] = std::string(LogicalTypeName(n.logical_type()));
        if (n.logical_type() == LogicalType::kDecimal) {
          j["precision"] = n.precision();
          j["scale"] = n.scale();
        }
      }
      return j;
    }
    case Type::kUnion: {
      json j = json::array();
      for (const Node* b : n.branches()) j.push_back(FullJson(*b, enclosing_ns, seen));
      return j;
    }
    case Type::kArray:
    case Type::kMap: {
      json j = json::object();
      AddProps(j, n.props());
      j["type"] = std::string(TypeName(n.type()));
      j[n.type() == Type::kArray ? "items" : "values"] = FullJson(n.items(), enclosing_ns, seen);
      return j;
    }
    case Type::kRecord:
    case Type::kEnum:
    case Type::kFixed:
      break;
  }
  if (!seen.insert(n.full_name()).second) return n.full_name();
  json j = json::object();
  AddProps(j, n.props());
  j["type"] = std::string(TypeName(n.type()));
  j["name"] = n.name();
  if (n.name_space() != enclosing_ns) j["namespace"] = n.name_space();
  if (!n.doc().empty()) j["doc"] = n.doc();
  if (!n.aliases().empty()) j["aliases"] = n.aliases();
  if (n.type() == Type::kRecord) {
    json fields = json::array();
    for (const Field& f : n.fields()) {
      json fj = json::object();
      AddProps(fj, f.props());
      fj["name"] = f.name();
      fj["type"] = FullJson(f.type(), n.name_space(), seen);
      if (!f.doc().empty()) fj["doc"] = f.doc();
      if (f.has_default()) fj["default"] = f.default_value();
      if (f.order() == FieldOrder::kDescending) fj["order"] = "descending";
      if (f.order() == FieldOrder::kIgnore) fj["order"] = "ignore";
      if (!f.aliases().empty()) fj["aliases"] = f.aliases();
      fields.push_back(std::move(fj));
    }
    j["fields"] = std::move(fields);
  } else if (n.type() == Type::kEnum) {
    j["symbols"] = n.symbols();
    if (n.enum_default()) j["default"] = *n.enum_default();
  } else {
    j["size"] = n.fixed_size();
    if (n.logical_type() != LogicalType::kNone) {
      j["logicalType"] = std::string(LogicalTypeName(n.logical_type()));
      if (n.logical_type() == LogicalType::kDecimal) {
        j["precision"] = n.precision();
        j["scale"] = n.scale();
      }
    }
  }
  return j;
}

}  // namespace

std::string CanonicalForm(const Node& node) {
  std::set<std::string> seen;
  std::string out;
  Canonical(node, seen, out);
  return out;
}

std::string CanonicalForm(const Schema& schema) { return CanonicalForm(schema.root()); }

std::uint64_t Fingerprint64(std::string_view bytes) {
  std::uint64_t fp = kEmpty;
  for (unsigned char b : bytes) fp = (fp >> 8) ^ kTable[(fp ^ b) & 0xff];
  return fp;
}

std::uint64_t Fingerprint64(const Schema& schema) { return Fingerprint64(CanonicalForm(schema)); }

json ToJson(const Node& node) {
  std::set<std::string> seen;
  return FullJson(node, "", seen);
}

json ToJson(const Schema& schema) { return ToJson(schema.root()); }

}  // namespace sluice::avro

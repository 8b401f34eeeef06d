#pragma once
// Avro schema model: an immutable graph of nodes owned by one Schema object.
//
// Every node (named or not) lives in the Schema's node table; edges are raw pointers into
// that table, so recursive types (a record whose field refers back to it by name) are plain
// pointer cycles with no ownership involved. Schema copies share the same immutable table,
// so a Node reference stays valid as long as any copy of its Schema lives.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"

namespace sluice::avro {

enum class Type : std::uint8_t {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kRecord,
  kEnum,
  kArray,
  kMap,
  kUnion,
  kFixed,
};

// A logical type annotates its underlying node. Invalid or unknown logical types are
// ignored (kNone) as the specification requires; their attributes stay in props().
enum class LogicalType : std::uint8_t {
  kNone,
  kDecimal,               // bytes or fixed; precision() and scale()
  kDate,                  // int: days since 1970-01-01
  kTimeMillis,            // int
  kTimeMicros,            // long
  kTimestampMillis,       // long
  kTimestampMicros,       // long
  kLocalTimestampMillis,  // long
  kLocalTimestampMicros,  // long
  kUuid,                  // string
  kDuration,              // fixed(12)
};

enum class FieldOrder : std::uint8_t { kAscending, kDescending, kIgnore };

// "null", "record", ...: the name used in schemas and in JSON-encoded unions.
std::string_view TypeName(Type type);
// "decimal", "timestamp-millis", ...; "" for kNone.
std::string_view LogicalTypeName(LogicalType logical);
// True for the types that carry a name (record, enum, fixed).
constexpr bool IsNamedType(Type type) {
  return type == Type::kRecord || type == Type::kEnum || type == Type::kFixed;
}

// An invalid schema. path() is a JSON path into the schema document such as
// "$.fields[3].type.items"; reason() says what is wrong there.
class SchemaParseError : public core::DataError {
 public:
  SchemaParseError(std::string path, std::string reason);
  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

class Node;
class SchemaParser;

// One field of a record node. Immutable; owned by its Node.
class Field {
 public:
  const std::string& name() const { return name_; }
  const std::vector<std::string>& aliases() const { return aliases_; }
  const std::string& doc() const { return doc_; }
  const Node& type() const { return *type_; }
  // Position of this field in its record (the order of the binary encoding).
  std::size_t index() const { return index_; }
  bool has_default() const { return has_default_; }
  // The JSON default as written in the schema (for unions: a value of a branch).
  // Only meaningful when has_default().
  const nlohmann::json& default_value() const { return default_; }
  FieldOrder order() const { return order_; }
  // Attributes other than name, type, doc, default, order and aliases (a JSON object).
  const nlohmann::json& props() const { return props_; }

 private:
  friend class SchemaParser;
  std::string name_;
  std::vector<std::string> aliases_;
  std::string doc_;
  const Node* type_ = nullptr;
  std::size_t index_ = 0;
  bool has_default_ = false;
  nlohmann::json default_;
  FieldOrder order_ = FieldOrder::kAscending;
  nlohmann::json props_ = nlohmann::json::object();
};

// One node of a schema graph. Immutable; owned by its Schema. Safe to share across threads.
class Node {
 public:
  Type type() const { return type_; }
  LogicalType logical_type() const { return logical_; }
  // Decimal only (scale defaults to 0).
  int precision() const { return precision_; }
  int scale() const { return scale_; }

  bool is_named() const { return IsNamedType(type_); }
  // Named types: short name, namespace ("" for none) and full name ("ns.Name").
  const std::string& name() const { return name_; }
  const std::string& name_space() const { return namespace_; }
  const std::string& full_name() const { return full_name_; }
  // Named types: aliases resolved to full names.
  const std::vector<std::string>& aliases() const { return aliases_; }
  const std::string& doc() const { return doc_; }

  // Record.
  const std::vector<Field>& fields() const { return fields_; }
  const Field* FindField(std::string_view name) const;
  // Array.
  const Node& items() const { return *items_; }
  // Map (keys are always strings).
  const Node& values() const { return *items_; }
  // Union.
  const std::vector<const Node*>& branches() const { return branches_; }
  // Enum.
  const std::vector<std::string>& symbols() const { return symbols_; }
  std::optional<std::size_t> SymbolIndex(std::string_view symbol) const;
  // Enum "default" symbol (used by schema resolution), if any.
  const std::optional<std::string>& enum_default() const { return enum_default_; }
  // Fixed.
  std::size_t fixed_size() const { return fixed_size_; }

  // Extra attributes, including those of an ignored logical type (a JSON object).
  const nlohmann::json& props() const { return props_; }
  // Position in Schema::node(); stable, dense, usable as a memo key.
  std::size_t id() const { return id_; }
  // A lower bound of the bytes one value of this node takes in the binary encoding
  // (0 for null, empty records, fixed(0)); decoders use it to reject impossible counts.
  std::size_t min_encoded_size() const { return min_size_; }

 private:
  friend class SchemaParser;
  Type type_ = Type::kNull;
  LogicalType logical_ = LogicalType::kNone;
  int precision_ = 0;
  int scale_ = 0;
  std::string name_;
  std::string namespace_;
  std::string full_name_;
  std::vector<std::string> aliases_;
  std::string doc_;
  std::vector<Field> fields_;
  const Node* items_ = nullptr;
  std::vector<const Node*> branches_;
  std::vector<std::string> symbols_;
  std::optional<std::string> enum_default_;
  std::size_t fixed_size_ = 0;
  nlohmann::json props_ = nlohmann::json::object();
  std::size_t id_ = 0;
  std::size_t min_size_ = 0;
};

namespace detail {
struct SchemaData;
}

// A parsed schema: owns every node. Cheap to copy (shares the immutable node table);
// thread-safe for concurrent readers. Default-constructed: the schema "null".
class Schema {
 public:
  Schema();
  const Node& root() const;
  // A named type by full name, or nullptr.
  const Node* FindNamed(std::string_view full_name) const;
  // Named types in definition order.
  const std::vector<const Node*>& named_types() const;
  std::size_t node_count() const;
  const Node& node(std::size_t id) const;
  // Same underlying node table (not a structural comparison: use Fingerprint64 for that).
  bool SameAs(const Schema& other) const { return data_ == other.data_; }

 private:
  friend class SchemaParser;
  explicit Schema(std::shared_ptr<const detail::SchemaData> data) : data_(std::move(data)) {}
  std::shared_ptr<const detail::SchemaData> data_;
};

// Options of ParseSchema.
struct ParseOptions {
  // Reject field defaults that do not match the field's type (Java's validateDefaults).
  // Off: defaults are kept unchecked, as older Java parsers and some registries accept.
  bool validate_defaults = true;
  // Schemas whose named types are visible by full name (Confluent schema references). Their
  // definitions are copied into the new schema, so its canonical form and ToJson inline
  // them at first use, as Java Avro does.
  std::vector<Schema> references;
};

// Parses an .avsc document (object, array = union, or string = type name).
// Throws SchemaParseError.
Schema ParseSchema(std::string_view json, const ParseOptions& options = {});
// An already parsed JSON document (a JSON string value is a type name).
Schema ParseSchema(const nlohmann::json& json, const ParseOptions& options = {});
// Text overloads (nlohmann::json converts implicitly from strings; these say "text").
inline Schema ParseSchema(const char* json, const ParseOptions& options = {}) {
  return ParseSchema(std::string_view(json), options);
}
inline Schema ParseSchema(const std::string& json, const ParseOptions& options = {}) {
  return ParseSchema(std::string_view(json), options);
}

// Parsing Canonical Form, exactly as the Avro 1.11 specification defines it.
std::string CanonicalForm(const Schema& schema);
std::string CanonicalForm(const Node& node);
// CRC-64-AVRO ("Rabin") fingerprint of the canonical form.
std::uint64_t Fingerprint64(const Schema& schema);
std::uint64_t Fingerprint64(std::string_view bytes);
// Full JSON form: keeps logical types, defaults, doc, aliases, order and extra properties.
nlohmann::json ToJson(const Schema& schema);
nlohmann::json ToJson(const Node& node);

// True when `value` is a valid JSON default for a field of type `node` (for unions:
// valid for at least one branch, as Java Avro accepts).
bool IsValidDefault(const Node& node, const nlohmann::json& value);

}  // namespace sluice::avro

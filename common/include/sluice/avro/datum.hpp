#pragma once
// Generic Avro datum: a value tree whose shape follows a schema node.
//
// The datum does not point at its schema; the codec checks shape against the schema it is
// given. Logical types carry their underlying representation (a date is an int32, a
// decimal is its two's-complement bytes).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sluice::avro {

class Datum;

// Avro "null".
struct Null {
  friend bool operator==(const Null&, const Null&) = default;
};
// Avro "bytes" (kept apart from "string" so the variant knows which one it holds).
struct Bytes {
  std::string value;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};
// Avro "fixed": exactly the schema's size bytes.
struct Fixed {
  std::string value;
  friend bool operator==(const Fixed&, const Fixed&) = default;
};
// Avro "enum": the symbol's position in the schema's symbol list.
struct EnumValue {
  std::size_t index = 0;
  friend bool operator==(const EnumValue&, const EnumValue&) = default;
};
// Avro "record": one datum per field, in the schema's field order.
struct Record {
  std::vector<Datum> fields;
  friend bool operator==(const Record&, const Record&);
};
// Avro "array".
struct Array {
  std::vector<Datum> items;
  friend bool operator==(const Array&, const Array&);
};
// Avro "map": entries in encounter order (duplicates kept as decoded; the last one wins
// for lookups by convention).
struct Map {
  std::vector<std::pair<std::string, Datum>> entries;
  friend bool operator==(const Map&, const Map&);
};
// Avro "union": the branch index and the branch's value.
struct Union {
  Union();
  Union(std::size_t branch_index, Datum value);
  Union(const Union& other);
  Union(Union&&) noexcept = default;
  Union& operator=(const Union& other);
  Union& operator=(Union&&) noexcept = default;
  ~Union();

  std::size_t branch = 0;
  const Datum& value() const { return *value_; }
  Datum& value() { return *value_; }
  friend bool operator==(const Union& a, const Union& b);

 private:
  std::unique_ptr<Datum> value_;
};

// A generic Avro value. Value type: copyable, movable, not thread-safe for mutation.
class Datum {
 public:
  using Value = std::variant<Null, bool, std::int32_t, std::int64_t, float, double, Bytes,
                             std::string, Record, EnumValue, Array, Map, Union, Fixed>;

  Datum() = default;
  template <typename T, typename = std::enable_if_t<std::is_constructible_v<Value, T&&> &&
                                                    !std::is_same_v<std::decay_t<T>, Datum>>>
  Datum(T&& value) : value_(std::forward<T>(value)) {}  // NOLINT: implicit by design

  const Value& value() const { return value_; }
  Value& value() { return value_; }
  template <typename T>
  bool is() const {
    return std::holds_alternative<T>(value_);
  }
  template <typename T>
  const T& as() const {
    return std::get<T>(value_);
  }
  template <typename T>
  T& as() {
    return std::get<T>(value_);
  }
  friend bool operator==(const Datum& a, const Datum& b) { return a.value_ == b.value_; }

 private:
  Value value_;
};

inline bool operator==(const Record& a, const Record& b) { return a.fields == b.fields; }
inline bool operator==(const Array& a, const Array& b) { return a.items == b.items; }
inline bool operator==(const Map& a, const Map& b) { return a.entries == b.entries; }

inline Union::Union() : value_(std::make_unique<Datum>()) {}
inline Union::Union(std::size_t branch_index, Datum value)
    : branch(branch_index), value_(std::make_unique<Datum>(std::move(value))) {}
inline Union::Union(const Union& other)
    : branch(other.branch), value_(std::make_unique<Datum>(*other.value_)) {}
inline Union& Union::operator=(const Union& other) {
  if (this != &other) {
    branch = other.branch;
    value_ = std::make_unique<Datum>(*other.value_);
  }
  return *this;
}
inline Union::~Union() = default;
inline bool operator==(const Union& a, const Union& b) {
  return a.branch == b.branch && *a.value_ == *b.value_;
}

}  // namespace sluice::avro

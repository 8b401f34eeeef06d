#pragma once
// Avro binary and JSON encodings of generic datums.
//
// Decoding treats its input as untrusted: every length is checked against the bytes left,
// collection sizes and nesting depth are capped (DecodeLimits), and any malformed input
// throws DecodeError carrying the byte offset; nothing else (no crash, no huge allocation).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sluice/avro/datum.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/core/error.hpp"

namespace sluice::avro {

// Caps applied while decoding untrusted bytes.
struct DecodeLimits {
  std::size_t max_depth = 64;               // nested records/arrays/maps (unions add none)
  std::size_t max_collection = 1u << 20;    // items in one array or entries in one map
  std::size_t max_bytes = 64u << 20;        // length of one bytes/string value
  std::size_t max_total_items = 1u << 22;   // array items + map entries in one datum
};

// Malformed binary (or JSON-encoded) input. offset() is the byte offset where decoding
// failed (for JSON input: 0, the message names the JSON path).
class DecodeError : public core::DataError {
 public:
  DecodeError(std::size_t offset, const std::string& reason);
  std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

// A datum that does not match the schema it is encoded with.
class EncodeError : public core::DataError {
 public:
  using core::DataError::DataError;
};

// Low-level reader of Avro binary primitives over a byte span, with limit checks.
// Used by the codecs and by schema resolution. Not thread-safe; cheap to construct.
class BinaryReader {
 public:
  explicit BinaryReader(std::string_view bytes, const DecodeLimits& limits = DecodeLimits{})
      : data_(bytes), limits_(limits) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }
  const DecodeLimits& limits() const { return limits_; }

  bool ReadBoolean();
  std::int32_t ReadInt();
  std::int64_t ReadLong();
  float ReadFloat();
  double ReadDouble();
  // A length-prefixed bytes/string value, viewing the input (no copy).
  std::string_view ReadBytesView();
  // Exactly n raw bytes (fixed), viewing the input.
  std::string_view ReadFixedView(std::size_t n);
  void Skip(std::size_t n);
  // Array/map block header: returns the item count of the next block (0 = end). A
  // negative count is turned positive and its block byte size read and checked.
  // min_item_bytes: the least bytes one item can take (0 allowed), used to reject counts
  // that cannot fit the bytes left; the collection and total caps are checked too.
  std::size_t ReadBlockCount(std::size_t min_item_bytes, std::size_t items_so_far);
  // Nesting guard: call Enter() before descending into a nested value, Leave() after.
  void Enter();
  void Leave() { --depth_; }

  [[noreturn]] void Fail(const std::string& reason) const;

 private:
  std::uint64_t ReadVarint(int max_bytes);
  std::string_view data_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
  std::size_t total_items_ = 0;
  DecodeLimits limits_;
};

// Appends Avro binary primitives to a string.
class BinaryWriter {
 public:
  explicit BinaryWriter(std::string& out) : out_(out) {}
  void WriteBoolean(bool v) { out_.push_back(v ? '\1' : '\0'); }
  void WriteInt(std::int32_t v) { WriteLong(v); }
  void WriteLong(std::int64_t v);
  void WriteFloat(float v);
  void WriteDouble(double v);
  void WriteBytes(std::string_view v);
  void WriteFixed(std::string_view v) { out_.append(v); }

 private:
  std::string& out_;
};

// Binary encoding: appends to `out`. Throws EncodeError if the datum does not match.
void Encode(const Schema& schema, const Datum& datum, std::string& out);
void Encode(const Node& node, const Datum& datum, std::string& out);
// Binary decoding of exactly `bytes` (trailing bytes are an error). Throws DecodeError.
Datum Decode(const Schema& schema, std::string_view bytes, const DecodeLimits& limits = {});
// Decodes one value from the reader (leaves trailing bytes for the caller).
Datum Decode(const Node& node, BinaryReader& reader);
// Skips one value of `node` in the reader (checking lengths, without allocating).
void SkipValue(const Node& node, BinaryReader& reader);

// Avro JSON encoding (unions as {"type name": value} or null; bytes/fixed as strings of
// code points U+0000..U+00FF). Throws EncodeError / DecodeError.
nlohmann::json ToAvroJson(const Schema& schema, const Datum& datum);
nlohmann::json ToAvroJson(const Node& node, const Datum& datum);
Datum FromAvroJson(const Schema& schema, const nlohmann::json& json);
Datum FromAvroJson(const Node& node, const nlohmann::json& json);

// The datum for a field default as written in a schema (unions: the value of the first
// branch it is valid for, unwrapped as the specification writes defaults).
// Throws DecodeError if the default does not fit.
Datum DatumFromDefault(const Node& node, const nlohmann::json& value);

}  // namespace sluice::avro

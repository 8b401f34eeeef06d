#pragma once
// The Confluent wire format: magic byte 0, the schema id as a big-endian int32, then the Avro
// binary datum. Parsing untrusted bytes never throws from ParseFrame: a bad frame is a value
// (a per-record problem the caller routes to the DLQ); ParseFrameOrThrow is for callers that
// treat it as fatal. Pure functions, thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/core/error.hpp"

namespace sluice::registry {

inline constexpr std::uint8_t kMagicByte = 0;
inline constexpr std::size_t kHeaderSize = 5;

// A registry schema id. Strong type so an id cannot be mixed up with a version or a count.
struct SchemaId {
  std::int32_t value = 0;
  auto operator<=>(const SchemaId&) const = default;
};

// A decoded frame: the schema id and a view of the Avro payload inside the input bytes.
struct Frame {
  SchemaId id;
  std::string_view payload;
};

enum class WireError { kTooShort, kBadMagic };

// Why ParseFrame refused the bytes, with a human message naming the byte count or magic seen.
struct WireProblem {
  WireError error = WireError::kTooShort;
  std::string message;
};

// Appends the 5-byte header for `id` to `out`.
void AppendHeader(std::string& out, SchemaId id);
// Header + payload as one buffer.
std::string EncodeFrame(SchemaId id, std::string_view avro_payload);
// The frame, or nullopt with *problem set (when non-null).
std::optional<Frame> ParseFrame(std::string_view bytes, WireProblem* problem = nullptr);

// Thrown by ParseFrameOrThrow.
class WireFormatError : public core::DataError {
 public:
  WireFormatError(WireError error, const std::string& message)
      : core::DataError(message), error_(error) {}
  WireError Error() const noexcept { return error_; }

 private:
  WireError error_;
};

Frame ParseFrameOrThrow(std::string_view bytes);

}  // namespace sluice::registry

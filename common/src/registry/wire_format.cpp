#include "sluice/registry/wire_format.hpp"

namespace sluice::registry {

void AppendHeader(std::string& out, SchemaId id) {
  auto v = static_cast<std::uint32_t>(id.value);
  out.push_back(static_cast<char>(kMagicByte));
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

std::string EncodeFrame(SchemaId id, std::string_view avro_payload) {
  std::string out;
  out.reserve(kHeaderSize + avro_payload.size());
  AppendHeader(out, id);
  out.append(avro_payload);
  return out;
}

std::optional<Frame> ParseFrame(std::string_view bytes, WireProblem* problem) {
  if (bytes.size() < kHeaderSize) {
    if (problem) {
      *problem = {WireError::kTooShort, "wire format: " + std::to_string(bytes.size()) +
                                            " bytes, shorter than the 5-byte header"};
    }
    return std::nullopt;
  }
  auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  if (b(0) != kMagicByte) {
    if (problem) {
      *problem = {WireError::kBadMagic,
                  "wire format: magic byte " + std::to_string(b(0)) + ", expected 0"};
    }
    return std::nullopt;
  }
  std::uint32_t v = (std::uint32_t{b(1)} << 24) | (std::uint32_t{b(2)} << 16) |
                    (std::uint32_t{b(3)} << 8) | std::uint32_t{b(4)};
  return Frame{SchemaId{static_cast<std::int32_t>(v)}, bytes.substr(kHeaderSize)};
}

Frame ParseFrameOrThrow(std::string_view bytes) {
  WireProblem problem;
  auto frame = ParseFrame(bytes, &problem);
  if (!frame) throw WireFormatError(problem.error, problem.message);
  return *frame;
}

}  // namespace sluice::registry

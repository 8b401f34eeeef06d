// avro_tool: command-line access to Sluice's Avro codec for the interop tests (which drive it
// from Python and Node). Binary values travel as lowercase hex, one datum per line, so the
// scripts can compare bytes across libraries without a framing convention of their own.
//
//   avro_tool canonical <schema.avsc>                 Parsing Canonical Form
//   avro_tool fingerprint <schema.avsc>               CRC-64-AVRO as 16 hex digits (the uint64)
//   avro_tool encode <schema.avsc>                    Avro JSON lines in -> binary hex lines out
//   avro_tool decode <schema.avsc>                    binary hex lines in -> Avro JSON lines out
//   avro_tool flat-decode <schema.avsc>               hex in -> JSON lines, via the FlatRow path
//   avro_tool wire-encode <url> <subject> <schema>    registers the schema, JSON lines in ->
//                                                     Confluent frames (hex) out
// The wire commands use the cached sluice::registry::Client and its Confluent framing.
//   avro_tool wire-decode <url>                       Confluent frames (hex) in -> lines
//                                                     {"id":N,"datum":<Avro JSON>} out
// Exit status: 0 ok, 1 a datum failed (message on stderr names the line), 2 usage, 3 the
// schema is not flat-eligible (flat-decode).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/flat_row.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/registry/client.hpp"
#include "sluice/registry/wire_format.hpp"

namespace {

using sluice::avro::Schema;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw std::runtime_error(std::string("bad hex digit '") + c + "'");
}

std::string FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw std::runtime_error("odd hex length");
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1]));
  return out;
}

// Runs `fn` on each stdin line (an empty line is a datum too: "null" encodes to no bytes); a
// failure names the line and stops with status 1.
template <typename Fn>
int EachLine(Fn fn) {
  std::string line;
  std::size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    try {
      std::cout << fn(line) << "\n";
    } catch (const std::exception& e) {
      std::cerr << "avro_tool: line " << number << ": " << e.what() << "\n";
      return 1;
    }
  }
  std::cout.flush();
  return 0;
}

sluice::registry::ClientOptions RegistryOptions(const char* url) {
  sluice::registry::ClientOptions options;
  options.url = url;
  return options;
}

int Usage() {
  std::cerr << "usage: avro_tool canonical|fingerprint|encode|decode|flat-decode <schema.avsc>\n"
               "       avro_tool wire-encode <registry-url> <subject> <schema.avsc>\n"
               "       avro_tool wire-decode <registry-url>\n";
  return 2;
}

int Run(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string command = argv[1];
  if (command == "wire-decode") {
    sluice::registry::Client client(RegistryOptions(argv[2]));
    return EachLine([&](const std::string& line) {
      std::string frame = FromHex(line);
      auto parsed = sluice::registry::ParseFrameOrThrow(frame);
      Schema writer = client.Schema(parsed.id);  // cached by the client
      nlohmann::json out;
      out["id"] = parsed.id.value;
      out["datum"] = sluice::avro::ToAvroJson(writer, sluice::avro::Decode(writer, parsed.payload));
      return out.dump();
    });
  }
  if (command == "wire-encode") {
    if (argc < 5) return Usage();
    sluice::registry::Client client(RegistryOptions(argv[2]));
    const std::string text = ReadFile(argv[4]);
    Schema schema = sluice::avro::ParseSchema(text);
    // Registered as written (the canonical form would drop logical types, and with them the
    // id other clients registered for the same schema).
    auto id = client.Register(sluice::registry::SubjectName(argv[3]), text);
    return EachLine([&](const std::string& line) {
      std::string payload;
      sluice::avro::Encode(schema, sluice::avro::FromAvroJson(schema, nlohmann::json::parse(line)), payload);
      return ToHex(sluice::registry::EncodeFrame(id, payload));
    });
  }
  Schema schema = sluice::avro::ParseSchema(ReadFile(argv[2]));
  if (command == "canonical") {
    std::cout << sluice::avro::CanonicalForm(schema) << "\n";
    return 0;
  }
  if (command == "fingerprint") {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(sluice::avro::Fingerprint64(schema)));
    std::cout << buf << "\n";
    return 0;
  }
  if (command == "encode") {
    return EachLine([&](const std::string& line) {
      std::string out;
      sluice::avro::Encode(schema, sluice::avro::FromAvroJson(schema, nlohmann::json::parse(line)), out);
      return ToHex(out);
    });
  }
  if (command == "decode") {
    return EachLine([&](const std::string& line) {
      return sluice::avro::ToAvroJson(schema, sluice::avro::Decode(schema, FromHex(line))).dump();
    });
  }
  if (command == "flat-decode") {
    // Decodes with the flat fast path, then re-encodes the row with the flat encoder and
    // decodes that generically: the output shows what the flat path read.
    if (auto why = sluice::avro::FlatLayout::WhyNotFlat(schema)) {
      std::cerr << "avro_tool: not flat-eligible: " << *why << "\n";
      return 3;
    }
    auto layout = sluice::avro::FlatLayout::Compile(schema);
    sluice::avro::FlatRow row;
    return EachLine([&](const std::string& line) {
      sluice::avro::DecodeFlat(layout, FromHex(line), row);
      std::string again;
      sluice::avro::EncodeFlat(row, again);
      return sluice::avro::ToAvroJson(schema, sluice::avro::Decode(schema, again)).dump();
    });
  }
  return Usage();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "avro_tool: " << e.what() << "\n";
    return 1;
  }
}

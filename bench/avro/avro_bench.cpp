// avro_bench: times Sluice's Avro codec on a set of records, for bench/avro/run (which times
// fastavro and avsc on the same records in the same run).
//   avro_bench <schema.avsc> <datums.jsonl (Avro JSON)> <passes>
// Prints one JSON object: ns/record (best pass of `passes`; each pass handles every record)
// for generic encode (Datum -> bytes), generic decode (bytes -> Datum), flat decode
// (bytes -> FlatRow) and flat encode (FlatRow -> bytes), plus the encoded size.
#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/flat_row.hpp"
#include "sluice/avro/schema.hpp"

namespace {

namespace avro = sluice::avro;

// Defeats dead-code elimination of results the benchmark does not otherwise use.
volatile std::size_t g_sink = 0;

// Best ns/record over `passes` passes of fn(record index) over `count` records.
template <typename Fn>
double BestNsPerRecord(std::size_t count, int passes, Fn fn) {
  double best = std::numeric_limits<double>::max();
  for (int p = 0; p < passes; ++p) {
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < count; ++i) fn(i);
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, ns / static_cast<double>(count));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: avro_bench <schema.avsc> <datums.jsonl> <passes>\n";
    return 2;
  }
  std::ifstream schema_in(argv[1]);
  std::stringstream schema_text;
  schema_text << schema_in.rdbuf();
  avro::Schema schema = avro::ParseSchema(schema_text.str());
  auto layout = avro::FlatLayout::Compile(schema);
  const int passes = std::stoi(argv[3]);

  std::vector<avro::Datum> datums;
  std::ifstream in(argv[2]);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) datums.push_back(avro::FromAvroJson(schema, nlohmann::json::parse(line)));
  const std::size_t n = datums.size();
  if (n == 0) {
    std::cerr << "avro_bench: no datums\n";
    return 2;
  }
  std::vector<std::string> encoded(n);
  std::size_t total_bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    avro::Encode(schema, datums[i], encoded[i]);
    total_bytes += encoded[i].size();
  }
  std::vector<avro::FlatRow> rows(n);
  for (std::size_t i = 0; i < n; ++i) avro::DecodeFlat(layout, encoded[i], rows[i]);

  std::string out;
  out.reserve(4096);
  nlohmann::json result;
  result["records"] = n;
  result["avg_bytes"] = static_cast<double>(total_bytes) / static_cast<double>(n);
  result["generic_encode_ns"] = BestNsPerRecord(n, passes, [&](std::size_t i) {
    out.clear();
    avro::Encode(schema, datums[i], out);
    g_sink = g_sink + out.size();
  });
  result["generic_decode_ns"] = BestNsPerRecord(n, passes, [&](std::size_t i) {
    avro::Datum d = avro::Decode(schema, encoded[i]);
    g_sink = g_sink + sizeof(d);
  });
  avro::FlatRow row;
  result["flat_decode_ns"] = BestNsPerRecord(n, passes, [&](std::size_t i) {
    avro::DecodeFlat(layout, encoded[i], row);
    g_sink = g_sink + row.size();
  });
  result["flat_encode_ns"] = BestNsPerRecord(n, passes, [&](std::size_t i) {
    out.clear();
    avro::EncodeFlat(rows[i], out);
    g_sink = g_sink + out.size();
  });
  // Every encoder must reproduce the same bytes, or the timings compare different work.
  for (std::size_t i = 0; i < n; ++i) {
    out.clear();
    avro::EncodeFlat(rows[i], out);
    if (out != encoded[i]) {
      std::cerr << "avro_bench: flat encoding of record " << i << " differs from the generic one\n";
      return 1;
    }
  }
  std::cout << result.dump() << "\n";
  return 0;
}

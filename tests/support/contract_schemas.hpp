#pragma once
// The schemas of the start-up schema contract tests (a configured raw schema, an earlier
// version it evolves from, and one it cannot read), shared by the registry-level and the
// stack-level tests, and a file reader for their daemons' output.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::testing {

// The schema the pipeline file configures: Price with an optional price (default null).
inline constexpr const char* kContractConfigured =
    R"({"type":"record","name":"Price","namespace":"sluice.prices","fields":[
  {"name":"symbol","type":"string"},{"name":"date","type":"string"},
  {"name":"price","type":["null","double"],"default":null}]})";
// An earlier version without price: the configured schema is a BACKWARD-compatible evolution.
inline constexpr const char* kContractEarlier =
    R"({"type":"record","name":"Price","namespace":"sluice.prices","fields":[
  {"name":"symbol","type":"string"},{"name":"date","type":"string"}]})";
// price as a string (a BACKWARD evolution of the earlier one): the configured schema cannot
// read it.
inline constexpr const char* kContractIncompatible =
    R"({"type":"record","name":"Price","namespace":"sluice.prices","fields":[
  {"name":"symbol","type":"string"},{"name":"date","type":"string"},
  {"name":"price","type":"string","default":""}]})";

inline std::string ReadWholeFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a pipeline folder under `work`: pipeline.yaml (pipeline `name`, the configured schema
// as schemas/prices.raw.v1.avsc, a csv source on the empty directory in/, `extra` lines at the
// top level, e.g. a retry section).
inline void WriteContractPipeline(const std::filesystem::path& work, const std::string& name,
                                  const std::string& extra = "") {
  std::filesystem::create_directories(work / "in");
  std::filesystem::create_directories(work / "schemas");
  std::ofstream(work / "schemas" / "prices.raw.v1.avsc") << kContractConfigured;
  std::ofstream out(work / "pipeline.yaml");
  out << "pipeline: " << name << "\n"
      << "schemas: {raw: schemas/prices.raw.v1.avsc}\n"
      << extra
      << "producer:\n"
      << "  sources:\n"
      << "    - {type: csv, name: prices, dir: " << (work / "in").string() << ", glob: '*.csv'}\n"
      << "  key: [symbol, date]\n"
      << "sink: {table: prices, key: [symbol, date]}\n";
}

}  // namespace sluice::testing

#pragma once
// `sluice pipeline new`: a pipeline folder (pipeline.yaml, raw/clean/enriched schemas, an
// empty cases/) drafted from a sample of a CSV file, in the shape of pipelines/loans/. The
// draft is data (PipelineDraft) built by a pure function from the sample, then rendered to
// text; only ScaffoldPipeline touches the file system.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "column_types.hpp"

namespace sluice::cli {

struct ScaffoldOptions {
  std::string name;                  // the pipeline name: [a-z0-9_-]+, starting with a letter
  std::filesystem::path csv;         // the sample file
  std::filesystem::path dir;         // the folder is dir/name
  std::filesystem::path inbox;       // the watched directory (absolute)
  std::filesystem::path repo_root;   // inbox paths under it are written relative to the pipeline file
  std::string id_field;              // non-empty: derive this id from a hash of every column
  std::vector<std::string> key;      // key columns (headers or field names); default: see DraftPipeline
  std::size_t sample_rows = 1000;    // rows read for inference
  char delimiter = ',';
  bool force = false;                // overwrite an existing folder's files
  InferOptions infer;
};

// The sample: the header and the first rows of the file.
struct CsvSample {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// What the files will say.
struct PipelineDraft {
  std::string name;
  std::string source_file;            // the sample's file name, for comments
  std::size_t sampled_rows = 0;
  std::vector<ColumnGuess> columns;
  std::string id_field;               // "" when the key is made of columns
  std::vector<std::string> key;       // field names
  std::string inbox;                  // as written in producer.sources[0].dir
};

// Throws core::ConfigError (bad name, no columns, a key that names no column, a key column
// with empty cells, an id field that is also a column, no column usable as a key).
void CheckPipelineName(const std::string& name);
CsvSample ReadCsvSample(const std::filesystem::path& csv, std::size_t max_rows, char delimiter);
// The key, when neither id_field nor key is given: the first column whose sampled values are
// all present and distinct.
PipelineDraft DraftPipeline(const ScaffoldOptions& options, const CsvSample& sample);

std::string PipelineYaml(const PipelineDraft& draft);
nlohmann::ordered_json RawSchema(const PipelineDraft& draft);
nlohmann::ordered_json CleanSchema(const PipelineDraft& draft, const std::string& record_suffix);  // clean and enriched

// Writes dir/name/{pipeline.yaml, schemas/<p>.{raw,clean,enriched}.v1.avsc, cases/} and
// returns the pipeline file. Throws core::ConfigError when the folder exists (unless force).
std::filesystem::path ScaffoldPipeline(const ScaffoldOptions& options, PipelineDraft* draft_out = nullptr);

// A YAML scalar: bare when safe, else single-quoted.
std::string YamlScalar(const std::string& s);

}  // namespace sluice::cli

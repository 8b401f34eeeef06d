#pragma once
// What every `sluice` verb needs to find: the checkout it belongs to (deploy/local/pipeline,
// deploy/local/lib/pipeline_tool.py), the daemon binaries, a pipeline's file by name, and the
// local stack's environment. Plus running a child process. Built once in main; read-only.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::cli {

struct CliContext {
  std::filesystem::path root;     // the checkout: SLUICE_ROOT, else found above the binary or cwd
  std::filesystem::path bin_dir;  // the daemons: SLUICE_BIN_DIR, else the sluice binary's directory
  std::filesystem::path build_dir;  // bin_dir/.. (the case runner is tests/cases/ there)

  std::filesystem::path Tool() const { return root / "deploy/local/lib/pipeline_tool.py"; }
  std::filesystem::path Supervisor() const { return root / "deploy/local/pipeline"; }
};

// Throws core::ConfigError when no checkout is found.
CliContext FindContext(const char* argv0);

// The facts of a pipeline file the verbs use.
struct PipelineFacts {
  std::filesystem::path file;   // absolute
  std::string name;             // pipeline:
  std::string dlq_topic;        // topics.dlq, default <name>.dlq
  std::string table;            // sink.table
  std::filesystem::path inbox;  // producer.sources[].dir of the first csv source (absolute), or empty
};

// `name_or_file` is a pipeline name (dir/<name>/pipeline.yaml; dir defaults to
// <root>/pipelines) or a path to a .yaml file. Throws core::ConfigError when there is none.
PipelineFacts LoadPipeline(const CliContext& ctx, const std::string& name_or_file, const std::string& dir);

// When SLUICE_KAFKA_BROKERS is unset, takes the local stack's environment
// (`deploy/local/stack env`) into this process, so children see it.
void LoadStackEnv(const CliContext& ctx);

// Runs argv (argv[0] looked up in PATH), inheriting stdio; returns its exit code (128+N when
// killed by signal N). Throws core::InfraError when it cannot be started.
int Run(const std::vector<std::string>& argv);
// Same, capturing stdout.
int RunCapture(const std::vector<std::string>& argv, std::string* out);

}  // namespace sluice::cli

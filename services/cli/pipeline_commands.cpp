#include "pipeline_commands.hpp"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "sluice/config/stage_identity.hpp"
#include "sluice/core/error.hpp"

namespace sluice::cli {

namespace fs = std::filesystem;
using core::ConfigError;

namespace {

std::string Python() { return "python3"; }

// The supervisor's state directory of a pipeline that was brought up (`pipeline info`).
std::string PipelineStateDir(const CliContext& ctx, const std::string& name) {
  std::string out;
  if (RunCapture({ctx.Supervisor().string(), "info", name}, &out) != 0) {
    throw ConfigError("pipeline '" + name + "' was never brought up here (sluice pipeline up " + name + ")");
  }
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("P_DIR=", 0) == 0) return line.substr(6);
  }
  throw ConfigError("deploy/local/pipeline info " + name + " printed no P_DIR");
}

}  // namespace

int CheckPipelineFile(const CliContext& ctx, const std::string& file) {
  int failed = 0;
  for (const auto& id : config::StageIdentities()) {
    if (id.section.empty()) continue;  // the registry reads no pipeline file
    const fs::path binary = ctx.bin_dir / std::string(id.binary);
    if (!fs::exists(binary)) {
      std::cerr << "sluice: " << binary.string() << " is not built: cannot check " << file << "\n";
      ++failed;
      continue;
    }
    std::string out;
    const int rc = RunCapture({binary.string(), "--config", file, "--check"}, &out);
    std::cout << "  " << id.id << " --check: " << (rc == 0 ? "ok" : "FAILED") << "\n";
    if (rc != 0) {
      std::cout << out;
      ++failed;
    }
  }
  return failed ? 2 : 0;
}

int PipelineNew(const CliContext& ctx, NewOptions options) {
  auto& s = options.scaffold;
  CheckPipelineName(s.name);
  if (s.dir.empty()) s.dir = ctx.root / "pipelines";
  s.repo_root = ctx.root;
  s.inbox = options.inbox.empty() ? ctx.root / ".stack" / "inbox" / s.name : fs::absolute(options.inbox);
  PipelineDraft draft;
  const fs::path file = ScaffoldPipeline(s, &draft);
  std::cout << "wrote " << file.parent_path().string() << "/: pipeline.yaml, schemas/" << s.name
            << ".{raw,clean,enriched}.v1.avsc, cases/\n";
  std::cout << "columns (from " << draft.sampled_rows << " sampled rows):\n";
  for (const auto& c : draft.columns) {
    std::cout << "  " << c.field << ": " << ColumnTypeName(c.type) << (c.nullable ? ", nullable" : "")
              << (c.format.empty() ? "" : " (" + c.format + ")")
              << (c.categories.empty() ? "" : ", " + std::to_string(c.categories.size()) + " allowed values") << "\n";
  }
  std::cout << "key: ";
  for (std::size_t i = 0; i < draft.key.size(); ++i) std::cout << (i ? ", " : "") << draft.key[i];
  std::cout << (draft.id_field.empty() ? "" : " (a hash of every column)") << "\ninbox: " << s.inbox.string() << "\n";
  if (options.check) {
    const int rc = CheckPipelineFile(ctx, file.string());
    if (rc != 0) {
      std::cerr << "sluice: the drafted pipeline does not pass --check (see above): " << file.string() << "\n";
      return rc;
    }
  }
  const std::string where = s.dir == ctx.root / "pipelines" ? "" : " --dir " + s.dir.string();
  std::cout << "next: review " << file.string() << ", then\n"
            << "  sluice pipeline up " << s.name << where << "\n"
            << "  sluice pipeline feed " << s.name << " " << s.csv.string() << where << "\n"
            << "  sluice pipeline summary " << s.name << where << "\n";
  return 0;
}

int PipelineSupervise(const CliContext& ctx, const std::string& verb, const std::string& name, const std::string& dir,
                      const std::string& only) {
  LoadStackEnv(ctx);
  setenv("SLUICE_BIN_DIR", ctx.bin_dir.c_str(), 0);
  if (verb == "up") {
    const PipelineFacts p = LoadPipeline(ctx, name, dir);
    // The producer watches its inbox: it must exist before the producer starts.
    if (!p.inbox.empty()) fs::create_directories(p.inbox);
    std::vector<std::string> argv = {ctx.Supervisor().string(), "up", p.file.string()};
    if (!only.empty()) argv.insert(argv.end(), {"--only", only});
    return Run(argv);
  }
  // down/status take the pipeline's name; a folder that is gone still names its pipeline.
  std::string pname = name;
  try {
    pname = LoadPipeline(ctx, name, dir).name;
  } catch (const ConfigError&) {
  }
  return Run({ctx.Supervisor().string(), verb, pname});
}

int PipelineFeed(const CliContext& ctx, const std::string& name, const std::string& dir, const std::string& file) {
  LoadStackEnv(ctx);
  const PipelineFacts p = LoadPipeline(ctx, name, dir);
  if (p.inbox.empty()) throw ConfigError(p.file.string() + ": no csv source with a watched dir (producer.sources[].dir)");
  if (!fs::is_regular_file(file)) throw ConfigError(file + ": no such file");
  std::string state;
  try {
    state = PipelineStateDir(ctx, p.name);
  } catch (const ConfigError&) {
    state = "";  // not up: the file is dropped all the same, with no baseline for summary
  }
  std::vector<std::string> argv = {Python(), ctx.Tool().string(), "feed", file, p.inbox.string()};
  if (!state.empty()) argv.insert(argv.end(), {"--pipeline-dir", state});
  return Run(argv);
}

int PipelineSummary(const CliContext& ctx, const std::string& name, const std::string& dir, bool json,
                    double timeout_s, bool progress) {
  LoadStackEnv(ctx);
  const PipelineFacts p = LoadPipeline(ctx, name, dir);
  std::vector<std::string> argv = {Python(), ctx.Tool().string(), "summary", PipelineStateDir(ctx, p.name),
                                   "--timeout", std::to_string(timeout_s)};
  if (json) argv.push_back("--json");
  if (progress) argv.push_back("--progress");
  return Run(argv);
}

int PipelineTest(const CliContext& ctx, const std::string& name, const std::string& dir) {
  const PipelineFacts p = LoadPipeline(ctx, name, dir);
  const fs::path cases = p.file.parent_path() / "cases";
  std::vector<std::string> files;
  if (fs::is_directory(cases)) {
    for (const auto& e : fs::directory_iterator(cases)) {
      if (e.is_regular_file() && e.path().extension() == ".yaml") files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  std::cout << "pipeline " << p.name << ": --check\n";
  if (CheckPipelineFile(ctx, p.file.string()) != 0) return 1;
  if (files.empty()) {
    std::cout << "no case files in " << cases.string()
              << "/ (cleaner_*.yaml, enricher_*.yaml: tests/cases/README.md); nothing else to run\n";
    return 0;
  }
  const char* env_runner = std::getenv("SLUICE_CASE_RUNNER");
  const fs::path runner = env_runner ? fs::path(env_runner) : ctx.build_dir / "tests/cases/test_unit_case_runner";
  if (!fs::exists(runner)) {
    std::cerr << "sluice: the case runner " << runner.string()
              << " is not built (ninja -C build test_unit_case_runner, or set SLUICE_CASE_RUNNER)\n";
    return 1;
  }
  std::cout << "pipeline " << p.name << ": " << files.size() << " case file(s)\n";
  std::vector<std::string> argv = {runner.string()};
  argv.insert(argv.end(), files.begin(), files.end());
  const int rc = Run(argv);
  return rc == 0 ? 0 : 1;
}

int DlqShow(const CliContext& ctx, const std::string& name, const std::string& dir, const std::string& reason,
            std::size_t limit, bool json) {
  LoadStackEnv(ctx);
  const PipelineFacts p = LoadPipeline(ctx, name, dir);
  std::vector<std::string> argv = {Python(), ctx.Tool().string(), "dlq-show", p.dlq_topic,
                                   "--limit", std::to_string(limit)};
  if (!reason.empty()) argv.insert(argv.end(), {"--reason", reason});
  if (json) argv.push_back("--json");
  return Run(argv);
}

}  // namespace sluice::cli

#pragma once
// The verbs of `sluice`, one function each, returning the process exit code: 0 done, 1 the
// work failed (a daemon, a test, the stack), 2 bad input (core::ConfigError is thrown for it
// and main turns it into one message and exit 2). The daemons and the local stack do the
// work: these functions find files and call deploy/local/pipeline, pipeline_tool.py, the
// daemons' --check and the case runner.
#include <cstddef>
#include <string>
#include <vector>

#include "cli_context.hpp"
#include "pipeline_scaffold.hpp"

namespace sluice::cli {

struct NewOptions {
  ScaffoldOptions scaffold;
  std::string inbox;  // "" = <root>/.stack/inbox/<name>
  bool check = true;  // run the daemons' --check on the result
};

int PipelineNew(const CliContext& ctx, NewOptions options);
// verb: up, down or status.
int PipelineSupervise(const CliContext& ctx, const std::string& verb, const std::string& name, const std::string& dir,
                      const std::string& only);
int PipelineFeed(const CliContext& ctx, const std::string& name, const std::string& dir, const std::string& file);
int PipelineSummary(const CliContext& ctx, const std::string& name, const std::string& dir, bool json,
                    double timeout_s, bool progress);
int PipelineTest(const CliContext& ctx, const std::string& name, const std::string& dir);
int DlqShow(const CliContext& ctx, const std::string& name, const std::string& dir, const std::string& reason,
            std::size_t limit, bool json);

// `<daemon> --config <file> --check` for each of the four stages: 0 when all say ok.
int CheckPipelineFile(const CliContext& ctx, const std::string& file);

}  // namespace sluice::cli

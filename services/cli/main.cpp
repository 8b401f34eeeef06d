// sluice: one command over the daemons and the local stack (services/cli/README.md).
//   sluice pipeline new|up|down|status|feed|summary|test ...   sluice dlq show ...
//   sluice replay <pipeline> ... (forwarded to sluice-replay)
// Exit codes: 0 done, 1 the work failed, 2 bad command line or input (one message).
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_context.hpp"
#include "pipeline_commands.hpp"
#include "sluice/core/error.hpp"
#include "sluice/runtime/daemon.hpp"

namespace {

using namespace sluice::cli;

// sluice replay <pipeline> [sluice-replay options]: the pipeline by name (or file), every
// other argument passed to sluice-replay untouched, with the local stack's environment.
int Replay(int argc, char** argv) {
  if (argc < 3 || argv[2][0] == '-') {
    std::cerr << "usage: sluice replay <pipeline> --through cleaner|enricher (--from-beginning | "
                 "--from-time T | --from-offsets p:o,...) [--to-time T] [--rate N/s] [--dry-run] "
                 "[--restart]\n       (sluice replay <pipeline> --help: every option)\n";
    return 2;
  }
  const CliContext ctx = FindContext(argv[0]);
  const PipelineFacts pipeline = LoadPipeline(ctx, argv[2], "");
  LoadStackEnv(ctx);
  std::vector<std::string> cmd = {(ctx.bin_dir / "sluice-replay").string(), "--pipeline",
                                  pipeline.file.string()};
  for (int i = 3; i < argc; ++i) cmd.push_back(argv[i]);
  return Run(cmd);
}

int Main(int argc, char** argv) {
  // Before CLI11: sluice-replay's options are its own.
  if (argc >= 2 && std::string(argv[1]) == "replay") return Replay(argc, argv);
  CLI::App app{"sluice: create, run and inspect Sluice pipelines on the local stack"};
  app.require_subcommand(1);
  std::string dir;
  const auto add_dir = [&](CLI::App* c) {
    c->add_option("--dir", dir, "Folder holding the pipeline folders (default: <checkout>/pipelines)");
  };
  std::function<int(const CliContext&)> action;

  auto* pipeline = app.add_subcommand("pipeline", "Pipelines: new, up, down, status, feed, summary, test");
  pipeline->require_subcommand(1);

  NewOptions n;
  std::string from, key_list, delimiter = ",";
  bool no_check = false;
  auto* cnew = pipeline->add_subcommand("new", "Draft pipelines/<name>/ from a CSV file: pipeline.yaml, raw/clean/enriched "
                                               "schemas with inferred types, starter cleaner rules, cases/; then --check it");
  cnew->add_option("name", n.scaffold.name, "Pipeline name (lowercase letters, digits, '_', '-')")->required();
  cnew->add_option("--from", from, "The CSV file to infer columns and types from")->required();
  cnew->add_option("--id", n.scaffold.id_field, "Add this id field, derived from a hash of every column (key = the id)");
  cnew->add_option("--key", key_list, "Key columns, comma-separated (default: the first column unique in the sample)");
  cnew->add_option("--inbox", n.inbox, "Watched directory of the producer (default: <checkout>/.stack/inbox/<name>)");
  cnew->add_option("--sample", n.scaffold.sample_rows, "Rows read to infer types")->capture_default_str();
  cnew->add_option("--delimiter", delimiter, "Field separator (one character)")->capture_default_str();
  cnew->add_flag("--force", n.scaffold.force, "Overwrite an existing pipeline folder's files");
  cnew->add_flag("--no-check", no_check, "Do not run the daemons' --check on the result");
  add_dir(cnew);
  cnew->callback([&] {
    action = [&](const CliContext& ctx) {
      if (delimiter.size() != 1) throw sluice::core::ConfigError("--delimiter must be one character");
      n.scaffold.delimiter = delimiter[0];
      n.scaffold.csv = from;
      n.scaffold.dir = dir;
      n.check = !no_check;
      std::stringstream ks(key_list);
      for (std::string k; std::getline(ks, k, ',');) {
        if (!k.empty()) n.scaffold.key.push_back(k);
      }
      return PipelineNew(ctx, n);
    };
  });

  std::string name, only;
  const std::vector<std::pair<const char*, const char*>> supervise = {
      {"up", "Start the registry (unless one answers) and the four daemons; wait until each is ready"},
      {"down", "Stop the pipeline's daemons (and the registry it started)"},
      {"status", "One line per daemon: pid, port, restarts, readiness; exit 0 only if all are up"}};
  for (const auto& [verb, help] : supervise) {
    auto* c = pipeline->add_subcommand(verb, help);
    c->add_option("name", name, "Pipeline name, or a pipeline.yaml")->required();
    if (std::string(verb) == "up") c->add_option("--only", only, "Start only these daemons (comma-separated ids)");
    add_dir(c);
    c->callback([&, v = std::string(verb)] {
      action = [&, v](const CliContext& ctx) { return PipelineSupervise(ctx, v, name, dir, only); };
    });
  }

  std::string file;
  auto* feed = pipeline->add_subcommand("feed", "Drop a CSV file into the pipeline's watched directory (hidden name, then rename)");
  feed->add_option("name", name, "Pipeline name, or a pipeline.yaml")->required();
  feed->add_option("file", file, "The CSV file")->required()->check(CLI::ExistingFile);
  add_dir(feed);
  feed->callback([&] { action = [&](const CliContext& ctx) { return PipelineFeed(ctx, name, dir, file); }; });

  bool json = false, progress = false;
  double timeout_s = 600;
  auto* summary = pipeline->add_subcommand(
      "summary", "Rows read, loaded, rejected by stage/rule/reason, duplicates, rows in = loaded + rejected, throughput "
                 "per stage (of the last `feed`: waits until the sink has caught up)");
  summary->add_option("name", name, "Pipeline name, or a pipeline.yaml")->required();
  summary->add_flag("--json", json, "One JSON object instead of text");
  summary->add_option("--timeout", timeout_s, "Seconds to wait for the sink to catch up")->capture_default_str();
  summary->add_flag("--progress", progress, "Print progress lines while waiting");
  add_dir(summary);
  summary->callback([&] {
    action = [&](const CliContext& ctx) { return PipelineSummary(ctx, name, dir, json, timeout_s, progress); };
  });

  auto* test = pipeline->add_subcommand("test", "Check the pipeline file (--check of each daemon) and run its cases/*.yaml");
  test->add_option("name", name, "Pipeline name, or a pipeline.yaml")->required();
  add_dir(test);
  test->callback([&] { action = [&](const CliContext& ctx) { return PipelineTest(ctx, name, dir); }; });

  auto* dlq = app.add_subcommand("dlq", "The dead-letter topic of a pipeline");
  dlq->require_subcommand(1);
  std::string reason;
  std::size_t limit = 50;
  auto* show = dlq->add_subcommand("show", "DLQ records as a table: stage, rule, origin (file:line), reason, key");
  show->add_option("name", name, "Pipeline name, or a pipeline.yaml")->required();
  show->add_option("--reason", reason, "Only records whose rule or reason contains this text");
  show->add_option("--limit", limit, "Most records shown")->capture_default_str();
  show->add_flag("--json", json, "One JSON object per record");
  add_dir(show);
  show->callback([&] { action = [&](const CliContext& ctx) { return DlqShow(ctx, name, dir, reason, limit, json); }; });

  // Listed for --help; `sluice replay ...` is taken before parsing (Replay above).
  app.add_subcommand("replay", "Re-run the cleaner or the enricher over a range of its input topic "
                               "(sluice-replay): sluice replay <p> --help");

  if (auto code = sluice::runtime::ParseCommandLine(app, argc, argv, std::cout, std::cerr)) return *code;
  if (!action) return 2;
  return action(FindContext(argv[0]));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const sluice::core::ConfigError& e) {
    std::cerr << "sluice: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "sluice: error: " << e.what() << "\n";
    return 1;
  }
}

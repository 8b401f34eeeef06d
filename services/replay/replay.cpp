#include "replay.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cleaner_stage.hpp"
#include "enricher_stage.hpp"
#include "sluice/core/error.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/registry_schema_source.hpp"
#include "sluice/runtime/source_loop.hpp"
#include "sluice/runtime/transform_loop.hpp"

namespace sluice::replay {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

std::string StageId(config::Stage stage) { return std::string(config::IdentityOf(stage).dlq_stage); }

std::string StateKey(config::Stage stage) { return "sluice-replay/" + StageId(stage); }

std::string FormatTime(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

// What the replay judged: per partition records in; emitted, flagged and dead-lettered by
// DLQ rule. Judged() counts into `pending`; a commit makes it final, an abort forgets it.
struct Tally {
  std::map<std::int32_t, std::uint64_t> records;
  std::uint64_t emitted = 0;        // input records emitted
  std::uint64_t output_records = 0;  // records written to the output topic
  std::uint64_t flagged = 0;        // emitted with a non-empty flags field
  std::uint64_t dead_lettered = 0;
  std::map<std::string, std::uint64_t> by_rule;

  void Add(const Tally& o) {
    for (const auto& [p, n] : o.records) records[p] += n;
    emitted += o.emitted;
    output_records += o.output_records;
    flagged += o.flagged;
    dead_lettered += o.dead_lettered;
    for (const auto& [r, n] : o.by_rule) by_rule[r] += n;
  }
  std::uint64_t Total() const {
    std::uint64_t n = 0;
    for (const auto& [p, c] : records) n += c;
    return n;
  }
};

struct State {
  std::vector<runtime::TransformBounds::Partition> ranges;  // start = the range's first offset
  std::map<std::int32_t, std::int64_t> next;
  std::string from;  // how the start was given, for messages
  bool done = false;
};

std::string StateJson(const State& s, const std::string& stage, const std::string& input) {
  Json j;
  j["stage"] = stage;
  j["input"] = input;
  j["from"] = s.from;
  j["done"] = s.done;
  Json ranges = Json::array();
  for (const auto& r : s.ranges) {
    ranges.push_back({{"partition", r.partition}, {"start", r.start}, {"end", r.end},
                      {"next", s.next.count(r.partition) ? s.next.at(r.partition) : r.start}});
  }
  j["ranges"] = ranges;
  return j.dump();
}

std::optional<State> ParseState(const std::string& text) {
  try {
    const Json j = Json::parse(text);
    State s;
    s.from = j.value("from", std::string());
    s.done = j.value("done", false);
    for (const auto& r : j.at("ranges")) {
      runtime::TransformBounds::Partition p;
      p.partition = r.at("partition").get<std::int32_t>();
      p.start = r.at("start").get<std::int64_t>();
      p.end = r.at("end").get<std::int64_t>();
      s.ranges.push_back(p);
      s.next[p.partition] = r.at("next").get<std::int64_t>();
    }
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Observes the bounded loop: tallies, the state record in each transaction, progress.
class ReplayObserver : public runtime::TransformObserver {
 public:
  ReplayObserver(State state, std::string positions_topic, std::string key, std::string stage,
                 std::string input, bool progress_on_tty, obs::Logger log)
      : state_(std::move(state)), positions_topic_(std::move(positions_topic)), key_(std::move(key)),
        stage_(std::move(stage)), input_(std::move(input)), tty_(progress_on_tty), log_(std::move(log)) {
    for (const auto& r : state_.ranges) {
      const std::int64_t from = state_.next.count(r.partition) ? state_.next.at(r.partition) : r.start;
      total_ += static_cast<std::uint64_t>(std::max<std::int64_t>(0, r.end - from));
      first_[r.partition] = from;
    }
  }

  void Judged(std::int32_t partition, const stages::Outcome& outcome,
              const std::vector<runtime::Record>& emitted) override {
    ++pending_.records[partition];
    if (outcome.IsEmit()) {
      ++pending_.emitted;
      pending_.output_records += emitted.size();
      for (const auto& r : emitted) {
        if (!r.IsDecoded()) continue;
        const stages::Value* flags = r.Row().Find("flags");
        if (flags && !stages::IsNull(*flags)) {
          const auto* text = std::get_if<std::string>(flags);
          if (!text || !text->empty()) {
            ++pending_.flagged;
            break;
          }
        }
      }
    } else {
      ++pending_.dead_lettered;
      ++pending_.by_rule[outcome.DlqRule()];
    }
  }

  std::vector<kafka::Message> BeforeCommit(const std::map<std::int32_t, std::int64_t>& next) override {
    State s = state_;
    s.next = next;
    s.done = true;
    for (const auto& r : s.ranges) {
      if (next.at(r.partition) < r.end) s.done = false;
    }
    kafka::Message m;
    m.topic = positions_topic_;
    m.partition = 0;
    m.key = key_;
    m.value = StateJson(s, stage_, input_);
    return {m};
  }

  void Committed(const std::map<std::int32_t, std::int64_t>& next) override {
    state_.next = next;
    done_.Add(pending_);
    pending_ = Tally();
    offsets_done_ = 0;
    for (const auto& [p, n] : next) offsets_done_ += static_cast<std::uint64_t>(std::max<std::int64_t>(0, n - first_[p]));
    Progress(false);
  }

  void Aborted() override { pending_ = Tally(); }

  // The progress line: on a terminal rewritten in place (ended by the last one), else a log
  // line at most every second.
  void Progress(bool last) {
    const std::uint64_t offsets = offsets_done_;
    const auto now = Clock::now();
    if (!last && now - last_report_ < std::chrono::seconds(1)) return;
    last_report_ = now;
    const double secs = std::chrono::duration<double>(now - t0_).count();
    const double per_s = secs > 0 ? static_cast<double>(offsets) / secs : 0;
    const std::uint64_t left = total_ > offsets ? total_ - offsets : 0;
    if (tty_) {
      std::fprintf(stderr, "\rreplay: %llu / %llu records (%.0f%%), %.0f/s, ETA %s   %s",
                   static_cast<unsigned long long>(offsets), static_cast<unsigned long long>(total_),
                   total_ ? 100.0 * static_cast<double>(offsets) / static_cast<double>(total_) : 100.0,
                   per_s, per_s > 0 ? (std::to_string(static_cast<long long>(std::ceil(static_cast<double>(left) / per_s))) + "s").c_str() : "?",
                   last ? "\n" : "");
      std::fflush(stderr);
    } else {
      log_.Info("replay progress", {{"offsets_done", offsets}, {"offsets_total", total_}});
    }
  }

  const Tally& Done() const { return done_; }
  std::uint64_t Total() const { return total_; }

 private:
  State state_;
  std::string positions_topic_, key_, stage_, input_;
  bool tty_;
  obs::Logger log_;
  Tally pending_, done_;
  std::uint64_t total_ = 0;
  std::uint64_t offsets_done_ = 0;
  std::map<std::int32_t, std::int64_t> first_;
  Clock::time_point t0_ = Clock::now();
  Clock::time_point last_report_{};
};

bool SameStarts(const State& stored, const std::vector<runtime::TransformBounds::Partition>& wanted) {
  if (stored.ranges.size() != wanted.size()) return false;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (stored.ranges[i].partition != wanted[i].partition || stored.ranges[i].start != wanted[i].start) return false;
  }
  return true;
}

bool SameEnds(const State& stored, const std::vector<runtime::TransformBounds::Partition>& wanted) {
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (stored.ranges[i].end != wanted[i].end) return false;
  }
  return true;
}

// The requested range in offsets: starts from the command line, ends fixed now (the last
// stable offsets, or --to-time).
std::vector<runtime::TransformBounds::Partition> ResolveRange(const ReplayArgs& args,
                                                              const std::string& topic,
                                                              const std::map<std::string, std::string>& librdkafka,
                                                              std::chrono::milliseconds timeout) {
  kafka::Config cfg(librdkafka);
  cfg.Set("isolation.level", "read_committed");
  // The partitions and their ends (read_committed: the last stable offsets) from a reader
  // that reads nothing.
  std::vector<kafka::TopicPartitionOffset> ends;
  {
    kafka::TopicReaderOptions ropt;
    ropt.timeout = timeout;
    kafka::TopicReader probe(cfg, topic, ropt);
    ends = probe.Ends();
    probe.Close();
  }
  if (ends.empty()) throw core::ConfigError("topic " + topic + " has no partitions");
  kafka::Config ccfg(librdkafka);
  ccfg.Set("group.id", "sluice-replay-probe");
  ccfg.Set("enable.auto.commit", "false");
  kafka::Consumer consumer(ccfg);
  auto at_time = [&](std::int64_t ms) {
    std::vector<kafka::TopicPartitionOffset> times;
    for (const auto& e : ends) times.push_back({topic, e.partition, ms});
    std::map<std::int32_t, std::int64_t> out;
    for (const auto& o : consumer.OffsetsForTimes(times, timeout)) out[o.partition] = o.offset;
    return out;
  };
  std::map<std::int32_t, std::int64_t> end_of;
  for (const auto& e : ends) end_of[e.partition] = e.offset;
  if (args.to_time_ms) {
    for (const auto& [p, o] : at_time(*args.to_time_ms)) {
      if (o >= 0) end_of[p] = std::min(end_of[p], o);
    }
  }
  std::map<std::int32_t, std::int64_t> start_of;
  if (args.from == ReplayArgs::From::kOffsets) {
    for (const auto& [p, o] : args.from_offsets) {
      if (!end_of.count(p)) {
        throw core::ConfigError("--from-offsets: " + topic + " has no partition " + std::to_string(p));
      }
      // An offset below the low watermark (deleted by retention) starts at the first kept one.
      start_of[p] = std::max(o, consumer.Watermarks({topic, p}, timeout).first);
    }
  } else {
    std::map<std::int32_t, std::int64_t> from;
    if (args.from == ReplayArgs::From::kTime) from = at_time(args.from_time_ms);
    for (const auto& [p, end] : end_of) {
      const auto [low, high] = consumer.Watermarks({topic, p}, timeout);
      (void)high;
      std::int64_t start = low;
      if (args.from == ReplayArgs::From::kTime) start = from[p] >= 0 ? std::max(from[p], low) : end;
      start_of[p] = start;
    }
  }
  consumer.Close();
  std::vector<runtime::TransformBounds::Partition> out;
  for (const auto& [p, start] : start_of) {
    runtime::TransformBounds::Partition r;
    r.partition = p;
    r.start = start;
    r.end = std::max(start, end_of[p]);
    out.push_back(r);
  }
  return out;
}

}  // namespace

std::optional<std::int64_t> ParseTime(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    try {
      return std::stoll(text);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  std::string tail(rest);
  if (!tail.empty() && tail[0] == '.') {
    std::size_t i = 1;
    std::string frac;
    while (i < tail.size() && std::isdigit(static_cast<unsigned char>(tail[i]))) frac += tail[i++];
    if (frac.empty()) return std::nullopt;
    frac = (frac + "000").substr(0, 3);
    ms += std::stoll(frac);
    tail = tail.substr(i);
  }
  if (tail != "Z" && tail != "+00:00" && tail != "") return std::nullopt;
  return ms;
}

std::optional<double> ParseRate(const std::string& text) {
  std::string t = text;
  if (t.size() > 2 && t.substr(t.size() - 2) == "/s") t = t.substr(0, t.size() - 2);
  try {
    std::size_t used = 0;
    const double v = std::stod(t, &used);
    if (used != t.size() || !(v > 0) || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string ReplayUsage() {
  return "sluice-replay --pipeline FILE --through cleaner|enricher\n"
         "              (--from-beginning | --from-time T | --from-offsets p:o[,p:o...])\n"
         "              [--to-time T] [--rate N/s] [--dry-run] [--restart]\n"
         "  T: ISO 8601 UTC (2026-12-05T10:00:00Z) or milliseconds since the epoch.\n"
         "  Re-runs the stage over the range of its input topic into its output topic and DLQ,\n"
         "  under the group and transactional id <pipeline>-replay-<stage>; resumes after a\n"
         "  crash; says so when the same range was replayed already (--restart: again).\n"
         "  The daemon options below (--log-format, --http-port, ...) apply too.\n\n";
}

std::optional<std::string> TakeReplayArgs(std::vector<std::string>& argv, ReplayArgs* args) {
  std::vector<std::string> rest;
  bool through_set = false;
  int froms = 0;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    auto value = [&](std::string* out) -> std::optional<std::string> {
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        *out = a.substr(eq + 1);
        return std::nullopt;
      }
      if (i + 1 >= argv.size()) return a + " needs a value";
      *out = argv[++i];
      return std::nullopt;
    };
    const std::string name = a.substr(0, a.find('='));
    std::string v;
    if (name == "--pipeline") {
      if (auto e = value(&v)) return e;
      rest.push_back("--config");
      rest.push_back(v);
    } else if (name == "--through") {
      if (auto e = value(&v)) return e;
      if (v == "cleaner") args->through = config::Stage::kCleaner;
      else if (v == "enricher") args->through = config::Stage::kEnricher;
      else return "--through: cleaner or enricher, not '" + v + "' (re-sinking is not built yet)";
      through_set = true;
    } else if (name == "--from-beginning") {
      args->from = ReplayArgs::From::kBeginning;
      ++froms;
    } else if (name == "--from-time") {
      if (auto e = value(&v)) return e;
      auto t = ParseTime(v);
      if (!t) return "--from-time: '" + v + "' is neither ISO 8601 UTC nor milliseconds since the epoch";
      args->from = ReplayArgs::From::kTime;
      args->from_time_ms = *t;
      ++froms;
    } else if (name == "--from-offsets") {
      if (auto e = value(&v)) return e;
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) {
        const auto colon = item.find(':');
        try {
          if (colon == std::string::npos) throw std::invalid_argument("no colon");
          std::size_t u1 = 0, u2 = 0;
          const std::string ps = item.substr(0, colon), os = item.substr(colon + 1);
          const int p = std::stoi(ps, &u1);
          const long long o = std::stoll(os, &u2);
          if (u1 != ps.size() || u2 != os.size() || p < 0 || o < 0) throw std::invalid_argument("range");
          args->from_offsets.push_back({p, o});
        } catch (const std::exception&) {
          return "--from-offsets: '" + item + "' is not partition:offset";
        }
      }
      if (args->from_offsets.empty()) return "--from-offsets: no partition:offset given";
      args->from = ReplayArgs::From::kOffsets;
      ++froms;
    } else if (name == "--to-time") {
      if (auto e = value(&v)) return e;
      auto t = ParseTime(v);
      if (!t) return "--to-time: '" + v + "' is neither ISO 8601 UTC nor milliseconds since the epoch";
      args->to_time_ms = *t;
    } else if (name == "--rate") {
      if (auto e = value(&v)) return e;
      auto r = ParseRate(v);
      if (!r) return "--rate: '" + v + "' is not a positive number of records per second (e.g. 500/s)";
      args->rate = *r;
    } else if (name == "--dry-run") {
      args->dry_run = true;
    } else if (name == "--restart") {
      args->restart = true;
    } else {
      rest.push_back(a);
    }
  }
  bool informational = false;
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h" || a == "--print-stages" || a == "--check" || a == "--print-config") informational = true;
  }
  if (!informational) {
    if (!through_set) return "--through cleaner|enricher is required";
    if (froms != 1) return "exactly one of --from-beginning, --from-time, --from-offsets is required";
  }
  argv = std::move(rest);
  return std::nullopt;
}

void RunReplay(runtime::DaemonContext& ctx, const ReplayArgs& args, std::ostream& out) {
  const pipeline::PipelineConfig& config = ctx.config;
  const std::string stage = StageId(args.through);
  runtime::TransformLoopOptions opt = runtime::OptionsFromConfig(config, args.through);
  const std::string id = config.Name() + "-replay-" + stage;
  opt.group_id = id;
  opt.transactional_id = id;
  opt.group_instance_id.clear();
  opt.warm = false;  // see services/replay/README.md, "Stage state"
  const std::string positions_topic = config.Name() + ".positions";
  const std::string key = StateKey(args.through);

  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opt.kafka_timeout);
  auto wanted = runtime::WithRetry(opt.retry, ctx.shutdown, ctx.log, "resolve the replay range", [&] {
    try {
      return ResolveRange(args, opt.input_topic, opt.librdkafka, timeout);
    } catch (const kafka::KafkaError& e) {
      if (e.IsFatal()) throw;
      throw core::InfraError(std::string("resolving the replay range: ") + e.what(), core::Retry::kYes);
    }
  });

  State state;
  state.ranges = wanted;
  state.from = args.from == ReplayArgs::From::kBeginning ? "beginning"
               : args.from == ReplayArgs::From::kTime   ? "time " + FormatTime(args.from_time_ms)
                                                        : "offsets";
  for (const auto& r : wanted) state.next[r.partition] = r.start;

  if (!args.dry_run) {
    // Fence first: a replay of this stage still running (or killed with a transaction open)
    // can commit nothing more once its transactional id is initialised here, so the state read
    // next is final (as the source loop reads its positions after InitTransactions).
    runtime::WithRetry(opt.retry, ctx.shutdown, ctx.log, "fence an earlier replay", [&] {
      kafka::Config pcfg(opt.librdkafka);
      pcfg.Set("transactional.id", opt.transactional_id);
      kafka::Producer fence(pcfg);
      runtime::InitTransactions(fence, timeout);
    });
  }
  if (!args.dry_run && !args.restart) {
    std::map<std::string, std::string> positions;
    try {
      positions = runtime::ReadPositionsTopic(opt.librdkafka, positions_topic, timeout, ctx.log);
    } catch (const core::InfraError& e) {
      ctx.log.Info("no replay state read (a new positions topic?)", {{"error", e.what()}});
    }
    if (auto it = positions.find(key); it != positions.end()) {
      std::optional<State> stored = ParseState(it->second);
      if (!stored) throw core::ConfigError("the replay state " + key + " in " + positions_topic + " is not readable; --restart starts over");
      const bool same = SameStarts(*stored, wanted) && (!args.to_time_ms || SameEnds(*stored, wanted));
      if (same && stored->done) {
        out << "replay of " << opt.input_topic << " from " << stored->from << " through the " << stage
            << " is done already (state " << key << " in " << positions_topic
            << "); --restart runs it again\n";
        return;
      }
      if (same) {
        state = *stored;
        ctx.log.Info("resuming the replay from its committed positions", {{"from", state.from}});
        out << "resuming the replay of " << opt.input_topic << " from " << state.from << '\n';
      } else if (!stored->done) {
        throw core::ConfigError("an unfinished replay through the " + stage + " (from " + stored->from +
                                ") has another range; run it with the same range to finish it, or --restart to abandon it");
      }
    }
  }

  std::uint64_t to_do = 0;
  for (const auto& r : state.ranges) to_do += static_cast<std::uint64_t>(std::max<std::int64_t>(0, r.end - state.next[r.partition]));

  ReplayObserver observer(state, positions_topic, key, stage, opt.input_topic,
                          isatty(STDERR_FILENO) == 1, ctx.log);
  runtime::TransformBounds bounds;
  for (const auto& r : state.ranges) {
    runtime::TransformBounds::Partition p = r;
    p.start = state.next[r.partition];
    bounds.partitions.push_back(p);
  }
  bounds.dry_run = args.dry_run;
  bounds.max_rate = args.rate;
  bounds.observer = &observer;
  bounds.extra_topics.push_back({positions_topic, 1, opt.replication, {{"cleanup.policy", "compact"}}});
  opt.bounds = std::move(bounds);

  const std::string input_topic = opt.input_topic, output_topic = opt.output_topic, dlq_topic = opt.dlq_topic;
  const std::uint64_t total = to_do;
  if (total > 0) {
    runtime::RegistrySchemaSource schemas(config.Endpoint());
    const config::Stage through = args.through;
    runtime::TransformLoop loop(std::move(opt), [&config, through]() -> std::unique_ptr<runtime::TransformStage> {
      if (through == config::Stage::kCleaner) return std::make_unique<cleaner::CleanerStage>(config);
      return std::make_unique<enricher::EnricherStage>(config);
    }, schemas, ctx.shutdown, ctx.log, &ctx.standard, &ctx.http);
    loop.Run();
  }
  const Tally& t = observer.Done();
  if (total > 0) observer.Progress(true);

  out << "replay " << input_topic << " -> " << stage << " -> " << output_topic
      << (args.dry_run ? " (DRY RUN: nothing written)" : "") << '\n';
  out << "from: " << state.from << '\n';
  for (const auto& r : state.ranges) {
    out << "partition " << r.partition << ": offsets " << r.start << ".." << r.end << ", records "
        << (t.records.count(r.partition) ? t.records.at(r.partition) : 0) << '\n';
  }
  out << "records: " << t.Total() << '\n';
  out << (args.dry_run ? "would_emit: " : "emitted: ") << t.emitted << '\n';
  out << "output_records: " << t.output_records << '\n';
  out << "flagged: " << t.flagged << '\n';
  out << (args.dry_run ? "would_dead_letter: " : "dead_lettered: ") << t.dead_lettered << '\n';
  for (const auto& [rule, n] : t.by_rule) out << "rejected " << rule << ": " << n << '\n';
  if (ctx.shutdown.Requested()) {
    out << "stopped before the end of the range; run the same command again to resume\n";
  } else {
    out << (args.dry_run ? "dry run complete\n" : "replay complete\n");
  }
}

}  // namespace sluice::replay

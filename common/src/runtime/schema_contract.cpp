#include "sluice/runtime/schema_contract.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "sluice/avro/compatibility.hpp"
#include "sluice/avro/resolution.hpp"
#include "sluice/core/error.hpp"

namespace sluice::runtime {
namespace {

using config::Stage;

const char* RoleName(SubjectRole role) { return role == SubjectRole::kWrites ? "writes" : "reads"; }

std::string Head(const std::string& subject, const std::string& level) {
  return "schema contract: subject '" + subject + "' (level " + level + "): ";
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += "; ";
    out += item;
  }
  return out;
}

// The schema file as the pipeline file names it: relative to the file's folder.
std::string ShownFile(const pipeline::PipelineConfig& config, const std::string& key) {
  const std::filesystem::path path = config.SchemaPath(key);
  const std::filesystem::path base = config.File().parent_path();
  if (!base.empty()) {
    const std::filesystem::path rel = path.lexically_relative(base);
    if (!rel.empty()) return rel.string();
  }
  return path.string();
}

ContractSubject Subject(const pipeline::PipelineConfig& config, SubjectRole role,
                        const std::string& topic, const std::string& key, Stage upstream) {
  ContractSubject s;
  s.role = role;
  s.subject = registry::ValueSubject(topic);
  s.schema = config.LoadSchema(key);  // ConfigError names the file
  s.shown_file = ShownFile(config, key);
  if (role == SubjectRole::kReads) s.upstream = std::string(config::IdentityOf(upstream).binary);
  return s;
}

// Why `reader` cannot read `writer_text`, or "" when it can: the resolver's verdict (what the
// serde runs per record), worded like the registry when the compatibility checker agrees.
std::string WhyUnreadable(const avro::Schema& reader, const std::string& writer_text) {
  avro::Schema writer;
  try {
    avro::ParseOptions options;
    options.validate_defaults = false;  // the registry accepted it; read what it holds
    writer = avro::ParseSchema(writer_text, options);
  } catch (const avro::SchemaParseError& e) {
    return std::string("the registered schema does not parse here: ") + e.what();
  }
  try {
    (void)avro::Resolver::Build(writer, reader);
    return {};
  } catch (const avro::ResolutionError& e) {
    std::vector<std::string> messages;
    for (const auto& inc : avro::CheckCompatibility(reader, writer)) {
      messages.push_back(avro::ConfluentMessage(inc, avro::Direction::kNewReadsOld));
    }
    if (messages.empty()) messages.push_back(e.path() + ": " + e.reason());
    return Join(messages);
  }
}

}  // namespace

std::vector<ContractSubject> ContractOf(const pipeline::PipelineConfig& config, Stage stage) {
  const auto& topics = config.TopicNames();
  std::vector<ContractSubject> out;
  switch (stage) {
    case Stage::kProducer:
      out.push_back(Subject(config, SubjectRole::kWrites, topics.raw, "raw", stage));
      break;
    case Stage::kCleaner:
      out.push_back(Subject(config, SubjectRole::kReads, topics.raw, "raw", Stage::kProducer));
      out.push_back(Subject(config, SubjectRole::kWrites, topics.clean, "clean", stage));
      break;
    case Stage::kEnricher:
      out.push_back(Subject(config, SubjectRole::kReads, topics.clean, "clean", Stage::kCleaner));
      out.push_back(Subject(config, SubjectRole::kWrites, topics.enriched, "enriched", stage));
      break;
    case Stage::kPgSink:
      out.push_back(
          Subject(config, SubjectRole::kReads, topics.enriched, "enriched", Stage::kEnricher));
      break;
    case Stage::kRegistry:
      break;
  }
  return out;
}

// ---------------------------------------------------------------- RegistryContractSource

std::string RegistryContractSource::Level(const registry::SubjectName& subject) {
  return client_.Compatibility(subject);
}

std::optional<registry::RegisteredSchema> RegistryContractSource::Latest(
    const registry::SubjectName& subject) {
  try {
    return client_.Latest(subject);
  } catch (const registry::RegistryError& e) {
    if (e.IsNotFound()) return std::nullopt;  // no subject, or every version deleted
    throw;
  }
}

bool RegistryContractSource::Holds(const registry::SubjectName& subject,
                                   const std::string& schema_json) {
  return client_.Lookup(subject, schema_json).has_value();
}

registry::CompatibilityResult RegistryContractSource::Test(const registry::SubjectName& subject,
                                                           const std::string& schema_json,
                                                           bool all_versions) {
  return client_.TestCompatibility(subject, schema_json, all_versions ? "" : "latest");
}

// ---------------------------------------------------------------- the check

bool IsTransitiveLevel(const std::string& level) {
  std::string upper = level;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const std::string suffix = "_TRANSITIVE";
  return upper.size() > suffix.size() &&
         upper.compare(upper.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string IncompatibleMessage(const std::string& subject, const std::string& level,
                                const std::string& file, int version, bool transitive,
                                const std::vector<std::string>& registry_messages) {
  std::string out = Head(subject, level) + "the configured schema " + file +
                    " is incompatible with " +
                    (transitive ? "the versions up to " : "version ") + std::to_string(version) +
                    ": ";
  out += registry_messages.empty() ? std::string("the registry gave no details")
                                   : Join(registry_messages);
  return out;
}

std::string UnreadableMessage(const std::string& subject, const std::string& level,
                              const std::string& file, int version, const std::string& why) {
  return Head(subject, level) + "the configured reader schema " + file + " cannot read version " +
         std::to_string(version) + ": " + why;
}

std::string MissingMessage(const std::string& subject, const std::string& level,
                           core::Duration waited, const std::string& upstream) {
  return Head(subject, level) + "not registered after waiting " + core::FormatDuration(waited) +
         " (the retry budget); " + upstream +
         " registers it when it starts: is it running, against the same registry and "
         "pipeline file?";
}

std::optional<std::vector<ContractResult>> CheckSchemaContract(
    const std::vector<ContractSubject>& subjects, ContractSource& source,
    const RetryPolicy& retry, const core::ShutdownToken& shutdown, const obs::Logger& log) {
  using Clock = std::chrono::steady_clock;
  std::vector<ContractResult> results;
  for (const ContractSubject& s : subjects) {
    const std::string& name = s.subject.str();
    const std::string what = "schema contract: " + name;
    ContractResult r;
    r.subject = name;
    r.role = s.role;
    r.level = WithRetry(retry, shutdown, log, what, [&] { return source.Level(s.subject); });
    std::optional<registry::RegisteredSchema> latest =
        WithRetry(retry, shutdown, log, what, [&] { return source.Latest(s.subject); });

    if (s.role == SubjectRole::kReads) {
      // The upstream daemon registers the subject when it starts, maybe a little after us.
      const auto start = Clock::now();
      core::Duration backoff = retry.initial_backoff;
      for (int attempt = 1; !latest; ++attempt) {
        if (Clock::now() + backoff > start + retry.budget) {
          throw core::ConfigError(MissingMessage(name, r.level, retry.budget, s.upstream));
        }
        log.Info("schema contract: waiting for the subject the stage reads",
                 {{"subject", name}, {"registered_by", s.upstream}, {"attempt", attempt},
                  {"backoff_ms", backoff.count()}});
        if (shutdown.WaitFor(backoff)) return std::nullopt;
        backoff = std::min(backoff * 2, retry.max_backoff);
        latest = WithRetry(retry, shutdown, log, what, [&] { return source.Latest(s.subject); });
      }
      r.version = latest->version;
      const std::string why = WhyUnreadable(s.schema, latest->schema);
      if (!why.empty()) {
        throw core::ConfigError(UnreadableMessage(name, r.level, s.shown_file, r.version, why));
      }
      r.verdict = "readable";
    } else if (!latest) {
      r.verdict = "new subject";  // registered by the stage at start (first deployment)
    } else {
      r.version = latest->version;
      const std::string json = avro::ToJson(s.schema).dump();  // as RowSerde registers it
      if (WithRetry(retry, shutdown, log, what, [&] { return source.Holds(s.subject, json); })) {
        r.verdict = "registered";
      } else {
        const bool transitive = IsTransitiveLevel(r.level);
        registry::CompatibilityResult test = WithRetry(
            retry, shutdown, log, what, [&] { return source.Test(s.subject, json, transitive); });
        if (!test.compatible) {
          throw core::ConfigError(IncompatibleMessage(name, r.level, s.shown_file, r.version,
                                                      transitive, test.messages));
        }
        r.verdict = "compatible";
      }
    }
    log.Info("schema contract: subject checked",
             {{"subject", name}, {"role", RoleName(s.role)}, {"compatibility", r.level},
              {"latest_version", r.version}, {"schema", s.shown_file}, {"verdict", r.verdict}});
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace sluice::runtime

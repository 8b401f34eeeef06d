// sluice-pg-sink: <p>.enriched → PostgreSQL, exactly once. See README.md.
#include <memory>

#include "pg_sink.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/registry_schema_source.hpp"

int main(int argc, char** argv) {
  using namespace sluice;
  runtime::DaemonSpec spec;
  spec.description = "Writes the enriched topic into a PostgreSQL table, exactly once";
  spec.stage = config::Stage::kPgSink;
  spec.needs_kafka = spec.needs_registry = spec.needs_pg = true;
  spec.build = [](const pipeline::PipelineConfig& config) { (void)pg_sink::SinkOptionsFromConfig(config); };
  spec.run = [](runtime::DaemonContext& ctx) {
    auto schemas = std::make_shared<runtime::RegistrySchemaSource>(ctx.config.Endpoint());
    // Shared with the readiness checks, which the health server may run after `run` returns.
    auto sink = std::shared_ptr<pg_sink::PgSink>(
        new pg_sink::PgSink(pg_sink::SinkOptionsFromConfig(ctx.config), *schemas, ctx.log,
                           ctx.shutdown, &ctx.standard),
        [schemas](pg_sink::PgSink* p) { delete p; });
    ctx.http.AddReadinessCheck("postgresql", [sink] {
      return sink->DatabaseReachable() ? http::CheckResult{}
                                       : http::CheckResult{false, "PostgreSQL does not answer"};
    });
    ctx.http.AddReadinessCheck("kafka", [sink] {
      return sink->BrokerReachable() ? http::CheckResult{}
                                     : http::CheckResult{false, "the broker does not answer"};
    });
    ctx.http.AddReadinessCheck("assigned", [sink] {
      return sink->Assigned() ? http::CheckResult{}
                              : http::CheckResult{false, "no partitions assigned"};
    });
    sink->Prepare();
    sink->Run();
  };
  return runtime::RunDaemon(argc, argv, std::move(spec));
}

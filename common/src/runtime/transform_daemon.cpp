#include "sluice/runtime/http_schema_source.hpp"
#include "sluice/runtime/transform_loop.hpp"

namespace sluice::runtime {

void RunTransformDaemon(DaemonContext& ctx, config::Stage stage,
                        TransformLoop::StageFactory make_stage) {
  const auto& ep = ctx.config.Endpoint();
  HttpSchemaSource schemas(ep.registry_url, ep.registry_username, ep.registry_password);
  TransformLoop loop(OptionsFromConfig(ctx.config, stage), std::move(make_stage), schemas,
                     ctx.shutdown, ctx.log, &ctx.standard, &ctx.http);
  loop.Run();
}

}  // namespace sluice::runtime

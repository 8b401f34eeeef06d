#include "sluice/runtime/registry_schema_source.hpp"
#include "sluice/runtime/transform_loop.hpp"

namespace sluice::runtime {

void RunTransformDaemon(DaemonContext& ctx, config::Stage stage,
                        TransformLoop::StageFactory make_stage) {
  RegistrySchemaSource schemas(ctx.config.Endpoint());
  TransformLoop loop(OptionsFromConfig(ctx.config, stage), std::move(make_stage), schemas,
                     ctx.shutdown, ctx.log, &ctx.standard, &ctx.http);
  loop.Run();
}

}  // namespace sluice::runtime

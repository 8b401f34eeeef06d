#include "sluice/registry/client.hpp"
#include "sluice/runtime/registry_schema_source.hpp"
#include "sluice/runtime/transform_loop.hpp"

namespace sluice::runtime {

void RunTransformDaemon(DaemonContext& ctx, config::Stage stage,
                        TransformLoop::StageFactory make_stage) {
  const auto& ep = ctx.config.Endpoint();
  registry::ClientOptions options;
  options.url = ep.registry_url;
  options.username = ep.registry_username;
  options.password = ep.registry_password;
  registry::Client client(options);
  RegistrySchemaSource schemas(client);
  TransformLoop loop(OptionsFromConfig(ctx.config, stage), std::move(make_stage), schemas,
                     ctx.shutdown, ctx.log, &ctx.standard, &ctx.http);
  loop.Run();
}

}  // namespace sluice::runtime

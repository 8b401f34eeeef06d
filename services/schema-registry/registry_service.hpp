#pragma once
// The sluice-registry daemon: command line, the Kafka-backed store, the tail thread that keeps
// the in-memory state current, and the HTTP server that serves the REST API next to /livez,
// /readyz (200 only once the `_schemas` log has been read to its end) and /metrics.
//
// The registry is shared by every pipeline, so unlike the stage daemons it takes no pipeline
// file: it is configured by flags and environment only (see README.md).
#include <map>
#include <string>

#include "sluice/config/stage_identity.hpp"

namespace sluice::schema_registry {

struct RegistryOptions {
  std::string bind = "127.0.0.1";
  int port = config::IdentityOf(config::Stage::kRegistry).port;  // SLUICE_REGISTRY_PORT
  std::string brokers;             // SLUICE_KAFKA_BROKERS
  std::string topic = "_schemas";  // SLUICE_REGISTRY_TOPIC
  int replication = 1;
  int http_threads = 8;
  std::string log_format = "json";
  std::string log_level = "info";
  std::map<std::string, std::string> librdkafka;  // -X key=value
};

// Parses argv/environment and runs until SIGTERM/SIGINT. Exit codes: 0 clean, 1 infrastructure
// failure, 2 bad configuration.
int RunRegistry(int argc, char** argv);

}  // namespace sluice::schema_registry

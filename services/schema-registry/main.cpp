// sluice-registry: a Confluent-compatible schema registry whose state lives in `_schemas`.
#include "registry_service.hpp"

int main(int argc, char** argv) { return sluice::schema_registry::RunRegistry(argc, argv); }

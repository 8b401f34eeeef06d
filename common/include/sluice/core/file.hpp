#pragma once
// Reading a whole configuration-time file (a schema, a SQL file) with one clear error.
#include <filesystem>
#include <string>

namespace sluice::core {

// The file's bytes. Throws core::ConfigError "cannot read <what> <path>: <reason>".
std::string ReadTextFile(const std::filesystem::path& path, const std::string& what);

}  // namespace sluice::core

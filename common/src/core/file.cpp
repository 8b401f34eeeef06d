#include "sluice/core/file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "sluice/core/error.hpp"

namespace sluice::core {

std::string ReadTextFile(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + what + " " + path.string() + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace sluice::core

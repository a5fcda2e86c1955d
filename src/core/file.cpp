#include "cardiotorch/core/file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cardiotorch/core/error.h"

namespace cardiotorch {

std::string read_file(const std::string& path) {
  std::error_code ec;
  CT_CHECK(!std::filesystem::is_directory(path, ec), IoError, path, ": cannot open (is a directory, expected a file)");
  std::ifstream f(path, std::ios::binary);
  CT_CHECK(f.good(), IoError, path, ": cannot open (", std::strerror(errno), ")");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  f.seekg(0, std::ios::beg);
  std::string out(static_cast<size_t>(size < 0 ? 0 : size), '\0');
  if (!out.empty()) f.read(out.data(), size);
  CT_CHECK(static_cast<bool>(f) || out.empty(), IoError, path, ": read error (", std::strerror(errno), ")");
  return out;
}

std::string read_file_prefix(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f.good()) return {};
  std::string out(max_bytes, '\0');
  f.read(out.data(), static_cast<std::streamsize>(max_bytes));
  out.resize(static_cast<size_t>(f.gcount()));
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  CT_CHECK(f.good(), IoError, path, ": cannot write (", std::strerror(errno), ")");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  CT_CHECK(!f.fail(), IoError, path, ": cannot write (", std::strerror(errno), "; disk full?)");
}

}  // namespace cardiotorch

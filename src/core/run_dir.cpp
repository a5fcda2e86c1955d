#include "cardiotorch/core/run_dir.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cardiotorch/core/log.h"

namespace cardiotorch {

struct MetricsWriter::Impl {
  std::ofstream out;
};

MetricsWriter::MetricsWriter(const std::string& path) : path_(path), impl_(std::make_unique<Impl>()) {
  impl_->out.open(path, std::ios::app);
  CT_CHECK(impl_->out.good(), Error, path, ": cannot open metrics file for writing");
}

MetricsWriter::~MetricsWriter() = default;

void MetricsWriter::write(const std::map<std::string, Value>& record) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : record) std::visit([&](const auto& x) { j[k] = x; }, v);
  impl_->out << j.dump() << '\n';
  impl_->out.flush();
}

RunDir::RunDir(const std::string& dir, const ConfigNode& resolved_config) : dir_(dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  CT_CHECK(!ec, Error, dir, ": cannot create run directory: ", ec.message());
  resolved_config.save(file("config.yaml"));
  set_log_file(file("run.log"));
  metrics_ = std::make_unique<MetricsWriter>(file("metrics.jsonl"));
  CT_LOG_DEBUG("run directory ", dir);
}

RunDir::~RunDir() { set_log_file(""); }

}  // namespace cardiotorch

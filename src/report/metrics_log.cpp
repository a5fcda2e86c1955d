#include "cardiotorch/report/metrics_log.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/report/tensorboard.h"

namespace cardiotorch::report {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> MetricsLog::splits() const {
  std::vector<std::string> out;
  for (const auto& r : records)
    if (std::find(out.begin(), out.end(), r.split) == out.end()) out.push_back(r.split);
  return out;
}

std::vector<std::string> MetricsLog::keys(const std::string& split) const {
  std::set<std::string> k;
  for (const auto& r : records)
    if (split.empty() || r.split == split)
      for (const auto& [key, v] : r.values) k.insert(key);
  return {k.begin(), k.end()};
}

std::string MetricsLog::default_x() const {
  bool all_step = !records.empty(), all_epoch = !records.empty();
  for (const auto& r : records) {
    all_step = all_step && r.step >= 0;
    all_epoch = all_epoch && r.epoch >= 0;
  }
  return all_step || !all_epoch ? "step" : "epoch";
}

Series MetricsLog::series(const std::string& split, const std::string& key, const std::string& x) const {
  CT_CHECK(x == "step" || x == "epoch", ConfigError, "metrics log: x must be step or epoch, got '", x, "'");
  Series s;
  s.label = split;
  for (const auto& r : records) {
    if (r.split != split) continue;
    const auto it = r.values.find(key);
    const int64_t xv = x == "step" ? r.step : r.epoch;
    if (it == r.values.end() || xv < 0) continue;
    s.x.push_back(static_cast<double>(xv));
    s.y.push_back(it->second);
  }
  return s;
}

MetricsLog parse_metrics_log(const std::string& text, const std::string& origin) {
  MetricsLog log;
  log.source = origin;
  std::istringstream in(text);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty()) continue;
    const std::string where = str_cat(origin, ":", n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw DataError(str_cat(where, ": not a JSON object (", e.what(), ")"));
    }
    CT_CHECK(j.is_object(), DataError, where, ": expected one JSON object per line");
    if (!j.contains("split")) continue;  // another kind of record (e.g. a run stage)
    CT_CHECK(j["split"].is_string() && !j["split"].get<std::string>().empty(), DataError, where,
             ": \"split\" must be a non-empty string");
    MetricRecord r;
    r.split = j["split"].get<std::string>();
    for (const char* k : {"step", "epoch"}) {
      if (!j.contains(k) || j[k].is_null()) continue;
      CT_CHECK(j[k].is_number_integer() && j[k].get<int64_t>() >= 0, DataError, where, ": \"", k,
               "\" must be an integer >= 0, got ", j[k].dump());
      (std::string(k) == "step" ? r.step : r.epoch) = j[k].get<int64_t>();
    }
    CT_CHECK(r.step >= 0 || r.epoch >= 0, DataError, where, ": a metric record needs \"step\" or \"epoch\"");
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k == "split" || k == "step" || k == "epoch") continue;
      if (k == "time") {
        if (it->is_number()) r.time = it->get<double>();
        continue;
      }
      if (it->is_number()) r.values[k] = it->get<double>();
      else if (it->is_null()) r.values[k] = kNaN;
    }
    log.records.push_back(std::move(r));
  }
  return log;
}

MetricsLog read_metrics_log(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  CT_CHECK(f.good(), DataError, path, ": cannot read the metrics log");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_metrics_log(ss.str(), path);
}

std::string write_tensorboard(const MetricsLog& log, const std::string& log_dir) {
  const bool by_step = log.default_x() == "step";
  TensorBoardWriter w(log_dir);
  for (const auto& r : log.records) {
    const int64_t x = by_step ? r.step : r.epoch;
    if (x < 0) continue;  // a record without the log's x (mixed logs): nowhere to put it
    w.add_scalars(r.values, x, r.split, r.time >= 0 ? r.time : -1);
  }
  return w.path();
}

}  // namespace cardiotorch::report

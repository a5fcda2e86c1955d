#include "cardiotorch/experiment.h"

#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch {

void ExperimentOptions::validate() const {
  CT_CHECK(!name.empty(), ConfigError, "name must not be empty");
  CT_CHECK(name.find('/') == std::string::npos, ConfigError, "name must not contain '/', got '", name, "'");
  CT_CHECK(seed >= 0, ConfigError, "seed must be >= 0, got ", seed);
  CT_CHECK(threads >= 0 && threads <= 1024, ConfigError, "threads must be in [0, 1024], got ", threads);
}

ConfigNode resolve_experiment(const std::string& file, const std::vector<std::string>& overrides,
                              ExperimentOptions* typed) {
  ConfigNode root = ConfigNode::load(file);
  for (const auto& o : overrides) root.apply_override(o);
  ExperimentOptions opts = from_config<ExperimentOptions>(root, {});
  // Building the pipelines checks step names and options without touching data.
  signal::Pipeline::from_config(opts.preprocess.is_null() ? ConfigNode() : root["preprocess"]);
  signal::Pipeline::from_config(opts.augment.is_null() ? ConfigNode() : root["augment"]);
  if (typed) *typed = opts;
  // Return the fully populated tree: defaults filled in for every typed field.
  ConfigNode resolved = to_config(opts);
  return resolved;
}

}  // namespace cardiotorch

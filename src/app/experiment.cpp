#include "cardiotorch/app/experiment.h"

#include "cardiotorch/data/dataset.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch {

void ExperimentOptions::validate() const {
  CT_CHECK(!name.empty(), ConfigError, "name must not be empty");
  CT_CHECK(name.find('/') == std::string::npos, ConfigError, "name must not contain '/', got '", name, "'");
  CT_CHECK(seed >= 0, ConfigError, "seed must be >= 0, got ", seed);
  CT_CHECK(threads >= 0 && threads <= 1024, ConfigError, "threads must be in [0, 1024], got ", threads);
}

void FinetuneSection::validate() const {
  check_choice("mode", mode, {"full", "linear_probe", "partial"});
  CT_CHECK(unfreeze_last >= 0, ConfigError, "unfreeze_last must be >= 0, got ", unfreeze_last);
  check_choice("sampling", sampling, {"shuffle", "balanced"});
  CT_CHECK(head_dropout >= 0 && head_dropout < 1, ConfigError, "head_dropout must be in [0, 1), got ", head_dropout);
}

void PretrainSection::validate() const {
  CT_CHECK(plot_every >= 0, ConfigError, "plot_every must be >= 0, got ", plot_every);
  for (const auto& f : plot_formats) check_choice("plot_formats", f, {"svg", "png"});
  check_choice("export_from", export_from, {"last", "best", "ema"});
}

ConfigNode resolve_experiment(const std::string& file, const std::vector<std::string>& overrides,
                              ExperimentOptions* typed) {
  return resolve_experiment(ConfigNode::load(file), overrides, typed);
}

ConfigNode resolve_experiment(ConfigNode root, const std::vector<std::string>& overrides, ExperimentOptions* typed) {
  root = root.clone();  // nodes share their trees: the caller's stays as it was
  for (const auto& o : overrides) root.apply_override(o);
  // One seed seeds everything: the split and the loader inherit it unless set explicitly.
  const ConfigNode data_node = root["data"];
  if (data_node.is_null() || data_node.is_map()) {
    const std::string seed = root["seed"].is_null() ? "0" : root["seed"].as_string();
    for (const char* part : {"split", "loader"})
      if ((data_node[part].is_null() || data_node[part].is_map()) && !data_node[part].has("seed"))
        root.apply_override(str_cat("data.", part, ".seed=", seed));
  }
  ExperimentOptions opts = from_config<ExperimentOptions>(root, {});
  // The dataset's options are checked against its schema without reading its index.
  const ConfigNode ds = root["data"]["dataset"];
  if (!ds.is_null()) {
    CT_CHECK(ds.is_map() && ds.has("name"), ConfigError, ds.where(),
             ": expected {name: <dataset>, root: <dir>, ...}; datasets: ", join(data::dataset_registry().names()));
    opts.data.dataset = data::dataset_registry().resolve(ds);
  }
  // Building the pipelines checks step names and options without touching data; the
  // resolved config lists every step with all of its options.
  const ConfigNode preprocess = signal::Pipeline::from_config(root["preprocess"]).config();
  const ConfigNode augment = signal::Pipeline::from_config(root["augment"]).config();
  if (!opts.preprocess.is_null()) opts.preprocess = preprocess;
  if (!opts.augment.is_null()) opts.augment = augment;
  // Metric names are checked against the registry without building them (their task is known
  // only with the dataset).
  const ConfigNode metrics = root["metrics"];
  if (!metrics.is_null()) {
    const RegistryBase& reg = registry_of("metric");
    for (size_t i = 0; i < (metrics.is_sequence() ? metrics.size() : 1); ++i) {
      const ConfigNode m = metrics.is_sequence() ? metrics[i] : metrics;
      reg.require(m.is_map() ? m["name"].as_string() : m.as_string(), m.where());
    }
  }
  if (typed) *typed = opts;
  // Return the fully populated tree: defaults filled in for every typed field.
  ConfigNode resolved = to_config(opts);
  return resolved;
}

}  // namespace cardiotorch

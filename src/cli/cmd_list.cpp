// cardiotorch list [category [name]]
#include <functional>
#include <iostream>
#include <map>
#include <regex>

#include "cardiotorch/augment/amplitude.h"
#include "cardiotorch/augment/mixing.h"
#include "cardiotorch/augment/noise.h"
#include "cardiotorch/augment/time.h"
#include "cardiotorch/augment/vcg.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/data/adapters.h"
#include "cardiotorch/signal/baseline.h"
#include "cardiotorch/signal/crop.h"
#include "cardiotorch/signal/filters.h"
#include "cardiotorch/signal/normalize.h"
#include "cardiotorch/signal/pipeline.h"
#include "cardiotorch/signal/resample.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

// An entry's options as `list` prints them: describe_options() lines, and what validate() says
// about the defaults alone (a step such as resample needs fs or length before it validates).
struct OptionsDoc {
  std::vector<std::string> lines;
  std::string requirement;  // "" when the defaults validate
};

template <class Options>
OptionsDoc doc_of(const Options& defaults = Options{}) {
  OptionsDoc d;
  d.lines = describe_options(defaults);
  if constexpr (detail::has_validate<Options>::value) {
    try {
      defaults.validate();
    } catch (const ConfigError& e) {
      d.requirement = e.what();
    }
  }
  return d;
}

// (category, name) -> its options struct, described without building the entry. Entries not
// listed here fall back to building a pipeline step with its defaults. Interim: when registry
// entries carry their options schema, this table goes.
const std::map<std::pair<std::string, std::string>, std::function<OptionsDoc()>>& documented() {
  using namespace signal;
  using namespace augment;
  using namespace data;
  static const std::map<std::pair<std::string, std::string>, std::function<OptionsDoc()>> table = {
      {{"preprocessor", "bandpass"}, [] { return doc_of<BandpassOptions>(); }},
      {{"preprocessor", "highpass"}, [] { return doc_of<CutoffOptions>(); }},
      {{"preprocessor", "lowpass"},
       [] {
         CutoffOptions o;
         o.cutoff = 45.0;  // the lowpass preset
         return doc_of(o);
       }},
      {{"preprocessor", "notch"}, [] { return doc_of<NotchOptions>(); }},
      {{"preprocessor", "baseline_remove"}, [] { return doc_of<BaselineOptions>(); }},
      {{"preprocessor", "resample"}, [] { return doc_of<ResampleOptions>(); }},
      {{"preprocessor", "crop"}, [] { return doc_of<CropOptions>(); }},
      {{"preprocessor", "ncrop"}, [] { return doc_of<NCropOptions>(); }},
      {{"preprocessor", "select_leads"}, [] { return doc_of<SelectLeadsOptions>(); }},
      {{"preprocessor", "zscore"}, [] { return doc_of<ZScoreOptions>(); }},
      {{"preprocessor", "groupwise_zscore"}, [] { return doc_of<GroupZScoreOptions>(); }},
      {{"preprocessor", "minmax"}, [] { return doc_of<MinMaxOptions>(); }},
      {{"preprocessor", "robust_scale"}, [] { return doc_of<MinMaxOptions>(); }},
      {{"preprocessor", "normalize"}, [] { return doc_of<FixedNormOptions>(); }},
      {{"preprocessor", "clip"}, [] { return doc_of<ClipOptions>(); }},
      {{"preprocessor", "nan_to_num"}, [] { return doc_of<NanToNumOptions>(); }},
      {{"augmenter", "rescaling"}, [] { return doc_of<RescalingOptions>(); }},
      {{"augmenter", "amplitude_flip"}, [] { return doc_of<AmplitudeFlipOptions>(); }},
      {{"augmenter", "lead_dropout"}, [] { return doc_of<LeadDropoutOptions>(); }},
      {{"augmenter", "mixup"}, [] { return doc_of<MixupOptions>(); }},
      {{"augmenter", "cutmix"}, [] { return doc_of<CutmixOptions>(); }},
      {{"augmenter", "label_smooth"}, [] { return doc_of<LabelSmoothOptions>(); }},
      {{"augmenter", "gaussian_noise"}, [] { return doc_of<GaussianNoiseOptions>(); }},
      {{"augmenter", "jitter"}, [] { return doc_of<JitterOptions>(); }},
      {{"augmenter", "baseline_wander"}, [] { return doc_of<BaselineWanderOptions>(); }},
      {{"augmenter", "powerline_noise"}, [] { return doc_of<PowerlineNoiseOptions>(); }},
      {{"augmenter", "ft_surrogate"}, [] { return doc_of<FtSurrogateOptions>(); }},
      {{"augmenter", "time_shift"}, [] { return doc_of<TimeShiftOptions>(); }},
      {{"augmenter", "random_resized_crop"}, [] { return doc_of<RandomResizedCropOptions>(); }},
      {{"augmenter", "stretch_compress"}, [] { return doc_of<StretchCompressOptions>(); }},
      {{"augmenter", "time_mask"}, [] { return doc_of<TimeMaskOptions>(); }},
      {{"augmenter", "3kg"}, [] { return doc_of<Vcg3kgOptions>(); }},
      {{"dataset", "cinc2017"}, [] { return doc_of<Cinc2017Options>(); }},
      {{"dataset", "cinc2020"}, [] { return doc_of<CincOptions>(); }},
      {{"dataset", "cinc2021"}, [] { return doc_of<CincOptions>(); }},
      {{"dataset", "ptbxl"}, [] { return doc_of<PtbxlOptions>(); }},
      {{"dataset", "mitdb"}, [] { return doc_of<MitdbOptions>(); }},
      {{"dataset", "ludb"}, [] { return doc_of<LudbOptions>(); }},
      {{"dataset", "folder"}, [] { return doc_of<FolderOptions>(); }},
  };
  return table;
}

// The default is "unset" (~, '', []) and the requirement names the key: the user must give it.
bool is_required(const std::string& line, const std::string& requirement) {
  const size_t eq = line.find(" = ");
  if (requirement.empty() || eq == std::string::npos || line[0] == ' ') return false;
  const std::string key = line.substr(0, eq);
  const std::string rest = line.substr(eq + 3);
  const bool unset = starts_with(rest, "~ ") || starts_with(rest, "'' ") || starts_with(rest, "\"\" ") ||
                     starts_with(rest, "[] ");
  return unset && std::regex_search(requirement, std::regex("(^|[^A-Za-z0-9_])" + key + "($|[^A-Za-z0-9_])"));
}

void print_doc(const OptionsDoc& d) {
  if (d.lines.empty()) {
    std::cout << "no options\n";
    return;
  }
  bool any_required = false;
  for (const auto& l : d.lines) any_required = any_required || is_required(l, d.requirement);
  std::cout << "options (key = default  # meaning" << (any_required ? "; * = required" : "") << "):\n";
  for (const auto& l : d.lines) std::cout << (is_required(l, d.requirement) ? "* " : "  ") << l << "\n";
  if (!d.requirement.empty()) std::cout << "required: " << d.requirement << "\n";
}

class ListCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("category", category_, "registry to list (e.g. preprocessor, augmenter, dataset); all when omitted");
    app.add_option("name", name_, "one entry: its help and every option with its default (* marks required ones)");
  }
  int run() override {
    if (category_.empty()) {
      bool first = true;
      for (const auto& [name, r] : all_registries()) {
        if (!first) std::cout << "\n";
        first = false;
        print(*r);
      }
      return 0;
    }
    std::string c = category_;
    if (!all_registries().count(c) && c.size() > 1 && c.back() == 's') c.pop_back();  // "augmenters" works too
    const RegistryBase& r = registry_of(c);
    if (name_.empty()) {
      print(r);
      return 0;
    }
    r.require(name_);
    std::cout << name_ << ": " << r.help(name_) << "\n";
    const auto& table = documented();
    auto it = table.find({c, name_});
    if (it != table.end()) {
      print_doc(it->second());
    } else if (c == "preprocessor" || c == "augmenter") {
      // A step this table does not know yet: build it with its defaults and show its config.
      ConfigNode node = ConfigNode::map();
      node.set("name", ConfigNode::string(name_));
      try {
        std::cout << "defaults:\n" << signal::build_step(node)->config().to_yaml();
      } catch (const ConfigError& e) {
        std::cout << "its defaults do not validate on their own: " << e.what() << "\n";
      }
    }
    return 0;
  }

 private:
  static void print(const RegistryBase& r) {
    std::cout << r.category() << "s: " << r.description() << "\n";
    size_t width = 0;
    for (const auto& n : r.names()) width = std::max(width, n.size());
    for (const auto& n : r.names()) std::cout << "  " << n << std::string(width - n.size() + 2, ' ') << r.help(n) << "\n";
  }
  std::string category_, name_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("list", "list registered components (preprocessors, augmenters, datasets, readers, ...)",
               "cardiotorch list preprocessor resample   (or: cardiotorch list, cardiotorch list augmenter)",
               cardiotorch::cli::ListCommand)

#pragma once
// The weights-loading flags, for any command that builds a model (forward, finetune, embed):
//   WeightsArgs weights;  weights.add(app);               // in setup()
//   if (weights.given()) {
//     auto report = weights::load_into(*model, weights.options(), model->weight_rules());
//     std::cout << report.to_string();                    // the statistics, always shown
//   }
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cardiotorch/weights/loader.h"

namespace cardiotorch::cli {

struct WeightsArgs {
  weights::LoadOptions options_;

  /// `with_path`: add --weights itself (commands that take the checkpoint positionally pass false).
  void add(CLI::App& app, bool with_path = true) {
    if (with_path)
      app.add_option("--weights", options_.path,
                     "pretrained weights: .pt/.pth/.ckpt (torch.save), .safetensors or a torch_ecg directory");
    app.add_option("--key", options_.key,
                   "dotted path of the state_dict inside the checkpoint (default: state_dict/model/network/...)");
    app.add_flag("--strict", options_.strict, "require every model tensor and no unexpected checkpoint tensor");
    app.add_option("--missing-key-threshold", options_.missing_key_threshold,
                   "largest fraction of model tensors allowed to stay unloaded (default 0.1)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--skip", options_.skip, "glob of model keys not to load, e.g. 'head.*' (repeatable)");
    app.add_option("--ignore", options_.ignore,
                   "glob of checkpoint keys expected to be unused, e.g. 'decoder*' (repeatable)");
    app.add_option("--rename", options_.rename,
                   "regex rename of checkpoint keys, FROM=TO, e.g. '^backbone\\.=encoder.' (repeatable)");
    app.add_option("--strip-prefix", options_.strip_prefix,
                   "checkpoint key prefix to drop, e.g. 'module.' (repeatable)");
    app.add_option("--add-prefix", options_.add_prefix, "prefix to add to checkpoint keys (repeatable)");
    app.add_flag("!--no-auto-prefix", options_.auto_prefix, "do not align key prefixes automatically");
  }

  bool given() const { return !options_.path.empty(); }
  weights::LoadOptions options() const {
    options_.validate();
    return options_;
  }
};

}  // namespace cardiotorch::cli

// cardiotorch weights inspect|convert|diff
#include <iostream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/archive.h"
#include "cardiotorch/weights/tools.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

class WeightsCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.require_subcommand(1);
    inspect_ = app.add_subcommand("inspect", "print checkpoints' trees: keys, shapes, dtypes, placeholders, totals");
    inspect_->add_option("files", files_, "checkpoints: .pt/.pth/.ckpt, .safetensors or torch_ecg directories")
        ->required()
        ->check(CLI::ExistingPath);
    inspect_->add_option("--max-children", format_.max_children, "entries shown per container (default 200)");
    inspect_->add_option("--depth", format_.max_depth, "levels shown (default 12)");
    inspect_->add_flag("--tensors-only", format_.tensors_only, "hide entries that hold no tensors");
    inspect_->footer("Example:\n  cardiotorch weights inspect mae_pretrain_vit_base.pth --max-children 20");

    convert_ = app.add_subcommand("convert", "write a checkpoint's state_dict as .safetensors or a torch.save .pt");
    convert_->add_option("input", input_, "checkpoint: .pt/.pth/.ckpt, .safetensors or a torch_ecg directory")
        ->required()
        ->check(CLI::ExistingPath);
    convert_
        ->add_option("output", output_, "output: .safetensors, or .pt/.pth (torch.load(weights_only=True) reads it)")
        ->required();
    convert_->add_option("--key", key_, "dotted path of the state_dict (default: state_dict/model/network/...)");
    convert_->add_option("--skip", edits_.skip, "glob of keys to leave out, e.g. 'decoder*' (repeatable)");
    convert_->add_option("--strip-prefix", edits_.strip_prefix, "drop this key prefix where present (repeatable)");
    convert_->add_option("--rename", edits_.rename, "regex rename of keys, FROM=TO (repeatable)");
    convert_->add_option("--add-prefix", edits_.add_prefix, "prefix every key (repeatable)");
    convert_->add_option("--dtype", edits_.dtype, "cast floating tensors: float32, float16 or bfloat16");
    convert_->footer(
        "Edits apply in the order skip, strip-prefix, rename, add-prefix.\n"
        "Example:\n  cardiotorch weights convert checkpoint-399.pth encoder.safetensors --key model "
        "--skip 'decoder*' --skip mask_token");

    diff_ = app.add_subcommand("diff", "per-key max abs difference between two checkpoints' state_dicts");
    diff_->add_option("a", input_, "first checkpoint")->required()->check(CLI::ExistingPath);
    diff_->add_option("b", other_, "second checkpoint")->required()->check(CLI::ExistingPath);
    diff_->add_option("--key", key_, "state_dict path in the first checkpoint");
    diff_->add_option("--key-b", key_b_, "state_dict path in the second checkpoint (default: --key)");
    diff_->add_option("--atol", atol_, "differences up to this count as equal (default 0)")
        ->check(CLI::NonNegativeNumber);
    diff_->footer(
        "Exit code 0 when both hold the same keys with values within --atol, 1 when they differ.\n"
        "Example:\n  cardiotorch weights diff ours.safetensors theirs.pth --key-b model --atol 1e-6");
  }

  int run() override {
    if (inspect_->parsed()) {
      for (size_t i = 0; i < files_.size(); ++i) std::cout << (i ? "\n" : "") << weights::inspect(files_[i], format_);
      return 0;
    }
    if (convert_->parsed()) {
      const weights::ConvertResult r = weights::convert(input_, output_, key_, edits_);
      std::cout << "wrote " << output_ << ": " << r.tensors << " tensors, " << with_commas(r.elements)
                << " parameters, from " << input_ << " [" << (r.key.empty() ? "(root)" : r.key) << "]\n";
      return 0;
    }
    const weights::DiffReport d =
        weights::diff_state_dicts(weights::read_state_dict(input_, key_),
                                  weights::read_state_dict(other_, key_b_.empty() ? key_ : key_b_), atol_);
    std::cout << d.to_string();
    return d.equal() ? 0 : 1;
  }

 private:
  CLI::App* inspect_ = nullptr;
  CLI::App* convert_ = nullptr;
  CLI::App* diff_ = nullptr;
  std::vector<std::string> files_;
  std::string input_, other_, output_, key_, key_b_;
  weights::TreeFormat format_;
  weights::KeyEdits edits_;
  double atol_ = 0.0;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("weights", "inspect, convert and compare checkpoints (torch.save, Lightning, safetensors, torch_ecg)",
               "cardiotorch weights inspect checkpoint.pth", cardiotorch::cli::WeightsCommand)

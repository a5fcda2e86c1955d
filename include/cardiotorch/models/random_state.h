#pragma once
// Modules that draw from generators of their own (a ViT's token-masking augmentation, an SSL
// objective's masking noise) say so, so that training checkpoints save and restore those
// generators' states along with the global ones and a resumed run draws the same masks.
#include <ATen/core/Generator.h>

#include <string>
#include <utility>
#include <vector>

namespace cardiotorch::models {

class GeneratorOwner {
 public:
  virtual ~GeneratorOwner() = default;
  /// The module's generators by a name unique within the module (e.g. {"mask", generator_}).
  /// at::Generator is a handle: the trainer reads and sets the state of the same generator.
  virtual std::vector<std::pair<std::string, at::Generator>> generators() = 0;
};

}  // namespace cardiotorch::models

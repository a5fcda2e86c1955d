// Every built-in component is registered (guards against the linker dropping a registrar or a
// file silently leaving the build) and every registry entry has a help line.
#include <gtest/gtest.h>

#include <set>

#include "cardiotorch/core/registry.h"

namespace ct = cardiotorch;

namespace {
void expect_contains(const std::string& category, const std::vector<std::string>& expected) {
  const auto& r = ct::registry_of(category);
  const auto names = r.names();
  const std::set<std::string> have(names.begin(), names.end());
  for (const auto& e : expected) EXPECT_TRUE(have.count(e)) << category << " '" << e << "' is not registered";
  for (const auto& n : names) EXPECT_FALSE(r.help(n).empty()) << category << " '" << n << "' has no help line";
}
}  // namespace

TEST(RegistryNames, Preprocessors) {
  expect_contains("preprocessor",
                  {"bandpass", "baseline_remove", "clip", "crop", "groupwise_zscore", "highpass", "lowpass", "minmax",
                   "nan_to_num", "ncrop", "normalize", "notch", "resample", "robust_scale", "select_leads", "zscore"});
}

TEST(RegistryNames, Augmenters) {
  expect_contains("augmenter", {"3kg", "amplitude_flip", "baseline_wander", "cutmix", "ft_surrogate", "gaussian_noise",
                                "jitter", "label_smooth", "lead_dropout", "mixup", "powerline_noise",
                                "random_resized_crop", "rescaling", "stretch_compress", "time_mask", "time_shift"});
}

TEST(RegistryNames, Datasets) {
  expect_contains("dataset", {"cinc2017", "cinc2020", "cinc2021", "folder", "ludb", "mitdb", "ptbxl"});
}

TEST(RegistryNames, PreprocessorAndAugmenterNamesDoNotCollide) {
  // Pipeline steps are looked up in both registries by one name.
  for (const auto& n : ct::registry_of("preprocessor").names())
    EXPECT_FALSE(ct::registry_of("augmenter").help(n).size())
        << "'" << n << "' is both a preprocessor and an augmenter";
}

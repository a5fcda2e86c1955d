// Every registered preprocessor, on 1-D to 4-D input, float32 and float64: leading dims and
// dtype are kept. A new step is covered automatically (it runs with default options unless
// it needs some, listed below).
#include <map>

#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;

namespace {

const std::map<std::string, std::string>& options_for_test() {
  static const std::map<std::string, std::string> m = {
      {"resample", "{fs: 250}"},  {"select_leads", "{leads: [II]}"}, {"groupwise_zscore", "{groups: [[0, 1]]}"},
      {"crop", "{length: 1000}"}, {"ncrop", "{length: 1000, n: 2}"},
  };
  return m;
}

// Method variants that are not the defaults.
const std::vector<std::string> kVariants = {
    "{name: bandpass, method: butter}",
    "{name: highpass, method: butter}",
    "{name: lowpass, method: butter}",
    "{name: baseline_remove, method: median}",
    "{name: baseline_remove, method: als}",
    "{name: resample, fs: 360, method: fft}",
    "{name: resample, length: 700, method: linear}",
    "{name: zscore, axis: record}",
    "{name: minmax, axis: record}",
    "{name: robust_scale, axis: record}",
    "{name: clip, axis: record}",
    "{name: crop, length: 1000, mode: random}",
};

std::vector<std::string> all_configs() {
  std::vector<std::string> out;
  for (const auto& name : sig::preprocessor_registry().names()) {
    auto it = options_for_test().find(name);
    ct::ConfigNode n = ct::ConfigNode::parse(it == options_for_test().end() ? "{}" : it->second);
    n.set("name", ct::ConfigNode::string(name));
    out.push_back(n.to_yaml());
  }
  for (const auto& v : kVariants) out.push_back(v);
  return out;
}

TEST(SignalRegistry, EveryPreprocessorKeepsLeadingDimsFrom1DTo4D) {
  const std::vector<std::vector<int64_t>> shapes = {{1200}, {12, 1200}, {2, 12, 1200}, {2, 3, 12, 1200}};
  const std::vector<std::string> twelve = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
  ASSERT_GE(sig::preprocessor_registry().names().size(), 14u);
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  for (const auto& yaml : all_configs()) {
    auto step = sig::build_step(ct::ConfigNode::parse(yaml));
    for (const auto& shape : shapes) {
      for (auto dtype : {at::kFloat, at::kDouble}) {
        sig::SignalBatch b;
        b.x = at::randn(shape, g, at::TensorOptions().dtype(dtype));
        b.fs = 500;
        b.leads = shape.size() == 1 ? std::vector<std::string>{"II"} : twelve;
        sig::StepContext ctx;
        ctx.training = true;
        ctx.generator = at::make_generator<at::CPUGeneratorImpl>(1);
        const std::string what =
            yaml + " on " + std::to_string(shape.size()) + "-D " + std::string(c10::toString(dtype));
        ASSERT_NO_THROW(step->apply(b, ctx)) << what;
        const bool adds_dim = step->name() == "ncrop";
        ASSERT_EQ(b.x.dim(), static_cast<int64_t>(shape.size()) + (adds_dim ? 1 : 0)) << what;
        const int64_t off = adds_dim ? 1 : 0;
        for (size_t d = 0; d + 2 < shape.size(); ++d) EXPECT_EQ(b.x.size(d + off), shape[d]) << what;
        EXPECT_EQ(b.x.scalar_type(), dtype) << what;
        EXPECT_TRUE(at::isfinite(b.x).all().item<bool>()) << what;
        if (shape.size() >= 2 && step->name() != "select_leads") {
          EXPECT_EQ(b.x.size(-2), 12) << what;
        }
      }
    }
  }
}

TEST(SignalRegistry, PipelineFromYamlRunsAndSummarises) {
  auto p = sig::Pipeline::from_config(ct::ConfigNode::parse(
      "- {name: bandpass, lowcut: 0.5, highcut: 45}\n- {name: baseline_remove}\n- {name: zscore}\n"));
  EXPECT_EQ(p.size(), 3u);
  EXPECT_NE(p.summary().find("bandpass {lowcut: 0.5, highcut: 45"), std::string::npos) << p.summary();
  at::Tensor y = p(at::randn({4, 12, 2000}), 500.0);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 12, 2000}));
}

TEST(SignalRegistry, UnknownOptionIsRejectedWithSuggestion) {
  try {
    sig::build_step(ct::ConfigNode::parse("{name: bandpass, lowcutt: 1}"));
    FAIL() << "expected ConfigError";
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lowcut"), std::string::npos) << e.what();
  }
}

}  // namespace

#include "cardiotorch/signal/filters.h"

#include <cmath>

#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;
using ct::test::close_rel_max;
using ct::test::fixture;
using ct::test::run_step;

namespace {

constexpr double kFs = 500.0;

at::Tensor tone(double f, int64_t n, double fs, at::ScalarType t = at::kDouble) {
  return at::sin(at::arange(n, at::TensorOptions().dtype(at::kDouble)) * (2 * M_PI * f / fs)).to(t);
}

TEST(SignalButter, CoefficientsMatchScipy) {
  struct Case {
    const char* name;
    int order;
    std::vector<double> cut;
    const char* btype;
  };
  for (const auto& c : {Case{"butter_bp2_ba", 2, {1.0, 40.0}, "bandpass"}, Case{"butter_hp3_ba", 3, {0.5}, "highpass"},
                        Case{"butter_lp4_ba", 4, {40.0}, "lowpass"}}) {
    auto [b, a] = sig::sos_to_ba(sig::butter_sos(c.order, c.cut, c.btype, kFs));
    at::Tensor want = fixture(c.name);
    at::Tensor got = at::stack({at::tensor(b, at::kDouble), at::tensor(a, at::kDouble)});
    ASSERT_EQ(got.sizes(), want.sizes()) << c.name;
    // Compare each polynomial relative to its own largest coefficient.
    EXPECT_TRUE(close_rel_max(got[0], want[0], 1e-9)) << c.name;
    EXPECT_TRUE(close_rel_max(got[1], want[1], 1e-9)) << c.name;
  }
}

TEST(SignalButter, FiltfiltMatchesScipyOnPtbxl) {
  at::Tensor x = fixture("input");
  struct Case {
    const char* yaml;
    const char* ref;
  };
  for (const auto& c : {Case{"{name: bandpass, method: butter, lowcut: 1, highcut: 40, order: 2}", "butter_bp2"},
                        Case{"{name: highpass, method: butter, cutoff: 0.5, order: 3}", "butter_hp3"},
                        Case{"{name: lowpass, method: butter, cutoff: 40, order: 4}", "butter_lp4"},
                        // default order round(0.01*fs) = 5: reference is sosfiltfilt with filtfilt's padlen 33
                        Case{"{name: bandpass, method: butter, lowcut: 0.5, highcut: 45}", "butter_bp5_sos"}}) {
    at::Tensor want = fixture(c.ref);
    EXPECT_TRUE(close_rel_max(run_step(c.yaml, x, kFs).x, want, 1e-6)) << c.yaml;
    // float32 input: computed in double, rounded once.
    at::Tensor y32 = run_step(c.yaml, x.to(at::kFloat), kFs).x;
    EXPECT_EQ(y32.scalar_type(), at::kFloat);
    EXPECT_TRUE(close_rel_max(y32, want, 1e-5)) << c.yaml << " (float32)";
  }
}

TEST(SignalButter, TensorOpPathEqualsCpuKernel) {
  // The blocked tensor-op recursion (used off CPU) against the C++ kernel and scipy.
  at::Tensor x = fixture("input");
  auto sos = sig::butter_sos(5, {0.5, 45.0}, "bandpass", kFs);
  at::Tensor b = sig::detail::sosfiltfilt_tensor_ops(x, sos, 33);
  EXPECT_TRUE(close_rel_max(b, sig::sosfiltfilt(x, sos, 33), 1e-10));
  EXPECT_TRUE(close_rel_max(b, fixture("butter_bp5_sos"), 1e-6));
  // odd length (partial last block), first-order section, 3-D float32
  at::Tensor x3 = x.narrow(1, 0, 1001).to(at::kFloat).reshape({2, 1, 1001});
  auto hp = sig::butter_sos(3, {0.5}, "highpass", kFs);
  EXPECT_TRUE(close_rel_max(sig::detail::sosfiltfilt_tensor_ops(x3, hp, 12), sig::sosfiltfilt(x3, hp, 12), 1e-6));
  auto notch = sig::Sos{sig::iirnotch(50, 30, kFs)};
  EXPECT_TRUE(close_rel_max(sig::detail::sosfiltfilt_tensor_ops(x, notch, 9), sig::sosfiltfilt(x, notch, 9), 1e-10));
}

TEST(SignalButter, TooShortSignalIsAShapeError) {
  auto sos = sig::butter_sos(2, {1.0, 40.0}, "bandpass", kFs);
  EXPECT_THROW(sig::sosfiltfilt(at::zeros({2, 15}, at::kDouble), sos, 15), ct::ShapeError);
  EXPECT_NO_THROW(sig::sosfiltfilt(at::zeros({2, 16}, at::kDouble), sos, 15));
}

TEST(SignalButter, InvalidDesignIsAConfigError) {
  EXPECT_THROW(sig::butter_sos(4, {300.0}, "lowpass", kFs), ct::ConfigError);
  EXPECT_THROW(sig::butter_sos(4, {40.0, 1.0}, "bandpass", kFs), ct::ConfigError);
  // highcut >= fs/2 disables the low-pass side, as for method fft: the band-pass becomes a high-pass
  at::Tensor x = fixture("input");
  EXPECT_TRUE(at::equal(run_step("{name: bandpass, method: butter, lowcut: 0.5, highcut: 300, order: 3}", x, kFs).x,
                        run_step("{name: highpass, method: butter, cutoff: 0.5, order: 3}", x, kFs).x));
  EXPECT_THROW(run_step("{name: bandpass, method: butter, lowcut: 0, highcut: 300}", x, kFs), ct::ConfigError);
  EXPECT_THROW(ct::signal::build_step(ct::ConfigNode::parse("{name: bandpass, method: iir}")), ct::ConfigError);
}

TEST(SignalNotch, MatchesScipyIirnotchFiltfiltWithHarmonics) {
  at::Tensor x = fixture("input");
  EXPECT_TRUE(close_rel_max(run_step("{name: notch, freq: 50, quality: 30}", x, kFs).x, fixture("notch50"), 1e-6));
}

TEST(SignalNotch, RemovesMainsToneAndKeepsOthers) {
  const int64_t n = 5000;
  at::Tensor x = tone(50, n, kFs) + tone(10, n, kFs);
  at::Tensor y = run_step("{name: notch, freq: 50, harmonics: false}", x, kFs).x;
  at::Tensor mid = (y - tone(10, n, kFs)).narrow(0, 500, 4000);
  EXPECT_LT(mid.abs().max().item<double>(), 0.02);
}

TEST(SignalFftBandpass, MatchesTorchEcgSemanticsOnPtbxl) {
  at::Tensor x = fixture("input");
  EXPECT_TRUE(
      close_rel_max(run_step("{name: bandpass, lowcut: 0.5, highcut: 45}", x, kFs).x, fixture("fft_bandpass"), 1e-9));
}

TEST(SignalFftBandpass, KeepsTonesOnTheEdgesAndRemovesOthers) {
  const int64_t n = 5000;  // 10 s: bins every 0.1 Hz, 0.5 and 45 Hz are exact bins
  at::Tensor x = tone(0.2, n, kFs) + tone(10, n, kFs) + tone(100, n, kFs);
  at::Tensor y = run_step("{name: bandpass, lowcut: 0.5, highcut: 45}", x, kFs).x;
  EXPECT_LT((y - tone(10, n, kFs)).abs().max().item<double>(), 1e-10);
  at::Tensor edges = tone(0.5, n, kFs) + tone(45, n, kFs);
  EXPECT_LT((run_step("{name: bandpass, lowcut: 0.5, highcut: 45}", edges, kFs).x - edges).abs().max().item<double>(),
            1e-10);
  // highpass/lowpass share the rule
  at::Tensor hp = run_step("{name: highpass, cutoff: 5}", x, kFs).x;
  EXPECT_LT((hp - tone(10, n, kFs) - tone(100, n, kFs)).abs().max().item<double>(), 1e-10);
  at::Tensor lp = run_step("{name: lowpass, cutoff: 50}", x, kFs).x;
  EXPECT_LT((lp - tone(0.2, n, kFs) - tone(10, n, kFs)).abs().max().item<double>(), 1e-10);
}

TEST(SignalFftBandpass, DisabledSidesAndErrors) {
  at::Tensor x = at::randn({3, 1000}, at::kDouble);
  // lowcut <= 0 and highcut >= Nyquist: nothing to do
  EXPECT_TRUE(close_rel_max(sig::fft_bandpass(x, kFs, 0.0, 250.0), x, 1e-15));
  EXPECT_THROW(sig::fft_bandpass(x, kFs, 260.0, std::nullopt), ct::ConfigError);
  EXPECT_THROW(ct::signal::build_step(ct::ConfigNode::parse("{name: bandpass, lowcut: 40, highcut: 1}")),
               ct::ConfigError);
}

TEST(SignalFilters, NeedFs) {
  auto p = ct::signal::Pipeline::from_config(ct::ConfigNode::parse("[{name: bandpass}]"));
  EXPECT_THROW(p(at::zeros({2, 100}), 0.0), ct::ConfigError);
}

}  // namespace

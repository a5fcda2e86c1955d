// The hot preprocessing steps (zscore, moving-average baseline, clip, FFT band-pass) run as
// fused kernels: this pins down their passes and allocations per record, and checks them
// against the tensor-op formulas they replaced.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/signal/baseline.h"
#include "cardiotorch/signal/pipeline.h"
#include "signal/signal_test_util.h"
#include "support/alloc_count.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;
using ct::test::OpAllocCounter;

namespace {

constexpr int64_t kLeads = 12, kSamples = 5000;
constexpr size_t kRecordBytes = kLeads * kSamples * sizeof(float);

// A record-like signal: a few sinusoids plus noise and per-lead offsets, 12 x 5000 float32.
at::Tensor record(uint64_t seed = 1) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor t = at::arange(kSamples, at::kFloat) / 500.0;
  at::Tensor x = at::sin(t * 2 * M_PI * 1.2).unsqueeze(0) * at::rand({kLeads, 1}, g) +
                 0.3 * at::sin(t * 2 * M_PI * 0.2).unsqueeze(0) + at::randn({kLeads, kSamples}, g) * 0.05 +
                 at::randn({kLeads, 1}, g);
  return x.contiguous();
}

std::shared_ptr<sig::Step> step(const std::string& yaml) { return sig::build_step(ct::ConfigNode::parse(yaml)); }

// Applies a step to a batch that owns its signal (nothing else refers to the buffer).
sig::SignalBatch apply_owned(const sig::Step& s, at::Tensor x) {
  sig::SignalBatch b;
  b.x = std::move(x);
  b.fs = 500;
  sig::StepContext ctx;
  s.apply(b, ctx);
  return b;
}

struct Cost {
  int64_t big_allocations;  // tensors of at least one record's size
  std::vector<std::string> data_ops;
  bool in_place;
  at::Tensor y;
};

Cost measure_owned(const std::string& yaml, const at::Tensor& input) {
  auto s = step(yaml);
  at::Tensor x = input.clone();
  const void* before = x.data_ptr();
  OpAllocCounter c;
  sig::SignalBatch b = apply_owned(*s, std::move(x));
  return {c.allocations(kRecordBytes), c.data_ops(), b.x.data_ptr() == before, b.x};
}

std::string names(const std::vector<std::string>& v) { return ct::join(v); }

}  // namespace

// zscore: one kernel, in place in a buffer the pipeline owns: no ATen op touches the data and
// nothing signal-sized is allocated (the tensor-op version ran 7 passes with 6 temporaries).
TEST(SignalKernels, ZScoreIsOneInPlaceKernel) {
  const at::Tensor x = record();
  for (const char* axis : {"lead", "record"}) {
    Cost c = measure_owned(std::string("{name: zscore, axis: ") + axis + ", ddof: 1, mean: 0.5, std: 2}", x);
    EXPECT_EQ(c.big_allocations, 0) << axis;
    EXPECT_TRUE(c.data_ops.empty()) << axis << ": " << names(c.data_ops);
    EXPECT_TRUE(c.in_place) << axis;
    const auto dims = std::string(axis) == "lead" ? std::vector<int64_t>{-1} : std::vector<int64_t>{-2, -1};
    const at::Tensor xd = x.to(at::kDouble);
    const at::Tensor want = (xd - xd.mean(dims, true)) / (xd.std(dims, /*unbiased=*/true, true) + 1e-7) * 2 + 0.5;
    EXPECT_LT((c.y.to(at::kDouble) - want).abs().max().item<double>(), 2e-6) << axis;
  }
}

TEST(SignalKernels, ClipIsOneInPlaceKernel) {
  at::Tensor x = record();
  x.index_put_({3, 100}, 40.0f);  // an outlier to clamp
  x.index_put_({5, 7}, -40.0f);
  Cost c = measure_owned("{name: clip, k: 3}", x);
  EXPECT_EQ(c.big_allocations, 0);
  EXPECT_TRUE(c.data_ops.empty()) << names(c.data_ops);
  EXPECT_TRUE(c.in_place);
  const at::Tensor m = x.mean({-1}, true), s = x.std({-1}, true, true);
  const at::Tensor want = at::max(at::min(x, m + s * 3), m - s * 3);
  EXPECT_LT((c.y - want).abs().max().item<float>(), 1e-5f);
  EXPECT_LT(c.y[3][100].item<float>(), 40.0f);
  EXPECT_GT(c.y[5][7].item<float>(), -40.0f);
}

// A NaN in a row makes that row's statistics NaN: every output of the row is NaN, as with
// min/max of the tensor version; other rows are untouched by it.
TEST(SignalKernels, ClipAndZScorePropagateNaNPerRow) {
  at::Tensor x = record();
  x.index_put_({2, 10}, std::numeric_limits<float>::quiet_NaN());
  for (const char* yaml : {"{name: clip}", "{name: zscore}"}) {
    Cost c = measure_owned(yaml, x);
    EXPECT_TRUE(at::isnan(c.y[2]).all().item<bool>()) << yaml;
    EXPECT_FALSE(at::isnan(c.y[1]).any().item<bool>()) << yaml;
  }
}

TEST(SignalKernels, MovingAverageBaselineSubtractsInPlace) {
  const at::Tensor x = record();
  Cost c = measure_owned("{name: baseline_remove, method: moving_average}", x);
  EXPECT_EQ(c.big_allocations, 0);
  EXPECT_TRUE(c.data_ops.empty()) << names(c.data_ops);
  EXPECT_TRUE(c.in_place);
  // Bit-identical to x - moving_average_baseline(x), the unfused formula.
  EXPECT_TRUE(at::equal(c.y, x - sig::moving_average_baseline(x, 500, 0.2, 0.6)));
}

// The band-pass zeroes the out-of-band bins of the spectrum in place: its allocations are the
// spectrum and the output, and its data ops are the two FFTs and the zeroing.
TEST(SignalKernels, FftBandpassMasksTheSpectrumInPlace) {
  const at::Tensor x = record();
  Cost c = measure_owned("{name: bandpass, lowcut: 0.5, highcut: 45, method: fft}", x);
  EXPECT_LE(c.big_allocations, 2) << names(c.data_ops);
  for (const auto& op : c.data_ops)
    EXPECT_TRUE(op.find("fft") != std::string::npos || op == "aten::zero_" || op == "aten::fill_" ||
                op == "aten::copy_")
        << "unexpected pass over the data: " << op;
  // Same as masking with a 0/1 tensor (the previous formula).
  const int64_t nb = kSamples / 2 + 1;
  at::Tensor f = at::arange(nb, at::kDouble) * 500.0 / kSamples;
  at::Tensor keep = ((f >= 0.5) & (f <= 45.0)).to(at::kFloat);
  at::Tensor want = at::fft_irfft(at::fft_rfft(x, kSamples, -1) * keep, kSamples, -1);
  EXPECT_LT((c.y - want).abs().max().item<float>(), 1e-6f);
}

// A step never writes into a tensor someone else still holds: the caller's input (here `x`,
// also held by the batch) is left intact, and the step's one allocation is its output.
TEST(SignalKernels, InputsHeldElsewhereAreNotOverwritten) {
  const at::Tensor x = record();
  const at::Tensor copy = x.clone();
  for (const char* yaml : {"{name: zscore}", "{name: clip}", "{name: baseline_remove}"}) {
    auto s = step(yaml);
    OpAllocCounter c;
    sig::SignalBatch b;
    b.x = x;
    b.fs = 500;
    sig::StepContext ctx;
    s->apply(b, ctx);
    EXPECT_EQ(c.allocations(kRecordBytes), 1) << yaml;
    EXPECT_NE(b.x.data_ptr(), x.data_ptr()) << yaml;
    EXPECT_TRUE(at::equal(x, copy)) << yaml << " wrote into its input";
  }
  // A view of the input shares its storage: not writable either.
  {
    auto s = step("{name: zscore}");
    at::Tensor base = x.clone();
    sig::SignalBatch b;
    b.x = base.narrow(0, 0, 6);
    b.fs = 500;
    sig::StepContext ctx;
    s->apply(b, ctx);
    EXPECT_TRUE(at::equal(base, copy));
  }
  // Memory the tensor does not own (from_blob) is never written.
  {
    std::vector<float> buf(static_cast<size_t>(kLeads * kSamples));
    std::memcpy(buf.data(), copy.data_ptr<float>(), kRecordBytes);
    auto s = step("{name: zscore}");
    sig::SignalBatch b;
    b.x = at::from_blob(buf.data(), {kLeads, kSamples}, at::kFloat);
    b.fs = 500;
    sig::StepContext ctx;
    s->apply(b, ctx);
    EXPECT_EQ(std::memcmp(buf.data(), copy.data_ptr<float>(), kRecordBytes), 0);
  }
}

// The record-by-record pipeline of bench_pipeline (torch_ecg's): per record, two signal-sized
// allocations (the spectrum and the band-passed output, which the later steps reuse) and no
// ATen arithmetic beyond the FFTs; the fused steps each make one pass.
TEST(SignalKernels, StandardPipelineAllocatesTwiceAndOverwritesItsOwnBuffer) {
  const auto pipe =
      sig::Pipeline::from_config(ct::ConfigNode::parse("- {name: bandpass, lowcut: 0.5, highcut: 45, method: fft}\n"
                                                       "- {name: baseline_remove, method: moving_average}\n"
                                                       "- {name: zscore}\n"));
  const at::Tensor x = record();
  const at::Tensor copy = x.clone();
  sig::SignalBatch b;
  b.x = x;
  b.fs = 500;
  sig::StepContext ctx;
  OpAllocCounter c;
  pipe.apply(b, ctx);
  EXPECT_LE(c.allocations(kRecordBytes), 2) << names(c.ops());
  for (const auto& op : c.data_ops())
    EXPECT_TRUE(op.find("fft") != std::string::npos || op == "aten::zero_" || op == "aten::fill_" ||
                op == "aten::copy_")
        << "unexpected pass over the data: " << op;
  EXPECT_TRUE(at::equal(x, copy));
  EXPECT_NEAR(b.x.mean(-1).abs().max().item<float>(), 0.0f, 1e-5f);
  EXPECT_NEAR(b.x.std(-1).sub(1).abs().max().item<float>(), 0.0f, 1e-4f);
}

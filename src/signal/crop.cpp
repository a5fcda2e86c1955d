#include "cardiotorch/signal/crop.h"

#include <ATen/ATen.h>

#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/record.h"
#include "signal/common.h"

namespace cardiotorch::signal {

void CropOptions::validate() const {
  CT_CHECK(length >= 1, ConfigError, "length must be >= 1, got ", length);
  check_choice("mode", mode, {"start", "centre", "center", "end", "random"});
  check_choice("eval_mode", eval_mode, {"start", "centre", "center", "end"});
  check_choice("pad", pad, {"end", "start", "both"});
}

void NCropOptions::validate() const {
  CT_CHECK(length >= 1, ConfigError, "length must be >= 1, got ", length);
  CT_CHECK(n >= 1, ConfigError, "n must be >= 1, got ", n);
}

void SelectLeadsOptions::validate() const { CT_CHECK(!leads.empty(), ConfigError, "leads must not be empty"); }

bool is_centre(const std::string& mode) { return mode == "centre" || mode == "center"; }

namespace {

int64_t fixed_start(const std::string& mode, int64_t n, int64_t length) {
  if (mode == "start") return 0;
  if (mode == "end") return n - length;
  return (n - length) / 2;  // centre / center
}

at::Tensor pad_to(const at::Tensor& x, int64_t length, const std::string& where, double value) {
  const int64_t missing = length - x.size(-1);
  const int64_t before = where == "start" ? missing : where == "both" ? missing / 2 : 0;
  return at::constant_pad_nd(x, {before, missing - before}, value);
}

}  // namespace

int64_t crop_start(const CropOptions& o, int64_t n, bool training, const at::Generator& gen) {
  if (n <= o.length) return 0;
  if (o.mode != "random") return fixed_start(o.mode, n, o.length);
  if (!training) return fixed_start(o.eval_mode, n, o.length);
  const auto opts = at::TensorOptions().dtype(at::kLong);
  at::Tensor s =
      gen.defined() ? at::randint(0, n - o.length + 1, {1}, gen, opts) : at::randint(0, n - o.length + 1, {1}, opts);
  return s.item<int64_t>();
}

at::Tensor crop_window(const at::Tensor& x, const CropOptions& o, int64_t start) {
  const int64_t n = x.size(-1);
  if (n < o.length) return pad_to(x, o.length, o.pad, o.pad_value);
  CT_CHECK(start >= 0 && start + o.length <= n, ShapeError, "crop: window [", start, ", ", start + o.length,
           ") is outside the signal's ", n, " samples");
  return n == o.length ? x : x.narrow(-1, start, o.length);
}

namespace {

class CropStep : public OptionsStep<CropOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "crop"; }
  void apply(SignalBatch& b, StepContext& ctx) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    const int64_t n = b.x.size(-1);
    if (n == o.length) return;
    // One window for the whole tensor: fixed modes, eval, and a single signal (leads, samples).
    if (n < o.length || o.mode != "random" || !ctx.training || b.x.dim() <= 2) {
      b.x = crop_window(b.x, o, crop_start(o, n, ctx.training, ctx.generator)).contiguous();
      return;
    }
    // A random window per element of the leading dims.
    at::Tensor x = detail::as_blc(b.x);
    const int64_t batch = x.size(0), leads = x.size(1);
    at::Tensor starts =
        ctx.generator.defined()
            ? at::randint(0, n - o.length + 1, {batch}, ctx.generator, at::TensorOptions().dtype(at::kLong))
            : at::randint(0, n - o.length + 1, {batch}, at::TensorOptions().dtype(at::kLong));
    at::Tensor idx = (starts.unsqueeze(1) + at::arange(o.length, starts.options())).to(x.device());
    at::Tensor y = x.gather(2, idx.unsqueeze(1).expand({batch, leads, o.length}));
    b.x = y.reshape(detail::with_length(b.x, o.length));
  }
};

class NCropStep : public OptionsStep<NCropOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "ncrop"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    at::Tensor x = b.x;
    if (x.size(-1) < o.length) x = pad_to(x, o.length, "end", 0.0);
    const int64_t n = x.size(-1);
    std::vector<at::Tensor> crops;
    for (int64_t i = 0; i < o.n; ++i) {
      const int64_t start = o.n == 1
                                ? (n - o.length) / 2
                                : detail::round_half_even(static_cast<double>(i) * static_cast<double>(n - o.length) /
                                                          static_cast<double>(o.n - 1));
      crops.push_back(x.narrow(-1, start, o.length));
    }
    b.x = at::stack(crops, 0);
  }
};

class SelectLeadsStep : public OptionsStep<SelectLeadsOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "select_leads"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const int64_t have = b.x.dim() >= 2 ? b.x.size(-2) : 1;
    CT_CHECK(!b.leads.empty(), DataError, name(), ": the signal has no lead names (batch.leads is empty)");
    CT_CHECK(static_cast<int64_t>(b.leads.size()) == have, ShapeError, name(), ": ", b.leads.size(), " lead names for ",
             have, " leads");
    std::vector<std::string> names;
    for (const auto& l : b.leads) names.push_back(io::normalize_lead_name(l));
    auto find = [&](const std::string& want) -> int64_t {
      for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == want) return static_cast<int64_t>(i);
      return -1;
    };
    auto lead = [&](int64_t i) { return b.x.dim() >= 2 ? b.x.select(-2, i) : b.x; };
    std::vector<at::Tensor> out;
    std::vector<std::string> out_names;
    for (const auto& raw : options_.leads) {
      const std::string want = io::normalize_lead_name(raw);
      const int64_t i = find(want);
      if (i >= 0) {
        out.push_back(lead(i));
      } else {
        const int64_t li = find("I"), lii = find("II");
        const bool derivable = want == "III" || want == "aVR" || want == "aVL" || want == "aVF";
        CT_CHECK(
            options_.derive && derivable && li >= 0 && lii >= 0, DataError, name(), ": lead '", raw,
            "' is not in the signal (", join(b.leads), ")",
            derivable ? (options_.derive ? "; deriving it needs I and II" : "; set derive: true to compute it") : "");
        at::Tensor I = lead(li), II = lead(lii);
        if (want == "III") out.push_back(II - I);
        if (want == "aVR") out.push_back(-(I + II) / 2);
        if (want == "aVL") out.push_back(I - II / 2);
        if (want == "aVF") out.push_back(II - I / 2);
      }
      out_names.push_back(want);
    }
    b.x = (b.x.dim() == 1 && out.size() == 1) ? out[0].clone() : at::stack(out, -2);
    b.leads = out_names;
  }
};

}  // namespace

CT_REGISTER(preprocessor_registry(), "crop", (make_from_options<CropStep, CropOptions>),
            "crop/pad to a fixed length (start, centre, end, or random in training)");
CT_REGISTER(preprocessor_registry(), "ncrop", (make_from_options<NCropStep, NCropOptions>),
            "n evenly spaced crops stacked as a new leading dim (test-time averaging)");
CT_REGISTER(preprocessor_registry(), "select_leads", (make_from_options<SelectLeadsStep, SelectLeadsOptions>),
            "select/reorder leads by name, deriving III, aVR, aVL, aVF from I and II");

}  // namespace cardiotorch::signal

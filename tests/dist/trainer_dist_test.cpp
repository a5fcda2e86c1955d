// The trainer over ranks that are threads of this process (Gloo over an in-memory store):
// with dist.sync_batchnorm, 2 ranks x batch B train a BatchNorm model to the weights and running
// statistics of 1 process x 2B, across uneven last batches (a rank joins without samples);
// per-rank generator streams differ between ranks unless pinned, and a resume on as many ranks
// restores every rank's stream exactly.
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <filesystem>

#include "cardiotorch/data/loader.h"
#include "cardiotorch/dist/data_parallel.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/models/random_state.h"
#include "cardiotorch/train/trainer.h"
#include "cardiotorch/weights/save.h"
#include "dist/ranks.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;
namespace fs = std::filesystem;

namespace {

// Parameters from a generator of their own: every rank (and the single process) builds the
// same model without touching the global generator, which the rank threads share.
void init_from(torch::nn::Module& m, uint64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard ng;
  for (auto& p : m.parameters()) p.copy_(at::randn(p.sizes(), g, at::kFloat) * 0.3);
}

// conv -> BatchNorm1d -> ReLU -> linear: the batch statistics shape every output.
class ConvBn final : public ct::models::ModelImpl {
 public:
  ConvBn() {
    in_channels_ = 2;
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(2, 4, 3)));
    bn = register_module("bn", torch::nn::BatchNorm1d(4));
    fc = register_module("fc", torch::nn::Linear(4 * 14, 3));
    init_from(*this, 3);
  }
  at::Tensor forward(const at::Tensor& x) override {
    return fc->forward(at::relu(bn->forward(conv->forward(x))).flatten(1));
  }
  ct::models::Shape output_shape(const ct::models::Shape& in) const override { return {in[0], 3}; }
  int64_t embed_dim() const override { return 56; }
  torch::nn::Conv1d conv{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::Linear fc{nullptr};
};

// A linear model with training noise from a generator of its own (as a ViT's token masking).
class Noisy final : public ct::models::ModelImpl, public ct::models::GeneratorOwner {
 public:
  Noisy() : gen_(at::make_generator<at::CPUGeneratorImpl>(77)) {
    in_channels_ = 2;
    fc = register_module("fc", torch::nn::Linear(32, 3));
    init_from(*this, 4);
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = x.flatten(1);
    if (is_training()) h = h + 0.5 * at::randn(h.sizes(), gen_, h.options());
    return fc->forward(h);
  }
  std::vector<std::pair<std::string, at::Generator>> generators() override { return {{"noise", gen_}}; }
  ct::models::Shape output_shape(const ct::models::Shape& in) const override { return {in[0], 3}; }
  int64_t embed_dim() const override { return 32; }
  torch::nn::Linear fc{nullptr};
  at::Generator gen_;
};

struct TrainRun {
  ct::models::ModelPtr model;
  std::unique_ptr<ct::data::Loader> loader;
  tr::TrainContext ctx;
};

// SGD with momentum over `model`, batch `batch` per rank of `n` shuffled samples.
TrainRun make_run(ct::models::ModelPtr model, int64_t n, int64_t batch, const tr::TrainOptions& o,
                  const ct::dist::ProcessGroupPtr& group, const ct::dist::DistOptions& d) {
  TrainRun run;
  run.model = std::move(model);
  run.model->set_model_name("test");
  ct::data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.num_workers = 0;
  lo.seed = 11;
  if (group) {
    lo.rank = group->rank();
    lo.world_size = group->world_size();
  }
  run.loader = std::make_unique<ct::data::Loader>(ct::test::three_class_data(n, 2), ct::signal::Pipeline(), lo);
  tr::ObjectiveContext oc;
  oc.class_names = {"a", "b", "c"};
  oc.label_kind = ct::data::LabelKind::kClassIndex;
  run.ctx.model = run.model;
  run.ctx.objective = tr::objective_registry().build(ct::ConfigNode::parse("{name: multiclass}"), oc);
  tr::OptimizerContext opt;
  opt.params = tr::trainable_parameters(*run.model);
  run.ctx.optimizer = tr::optimizer_registry().build(ct::ConfigNode::parse("{name: sgd, lr: 0.1, momentum: 0.9}"), opt);
  tr::SchedulerContext sc;
  sc.base_lr = run.ctx.optimizer->base_lr();
  sc.steps_per_epoch = 1;
  sc.total_steps = 100;
  run.ctx.schedule = tr::scheduler_registry().build(ct::ConfigNode::parse("{name: constant}"), sc);
  ct::data::Loader* l = run.loader.get();
  run.ctx.train_loader = [l](int64_t) -> ct::data::Loader& { return *l; };
  run.ctx.options = o;
  run.ctx.config_yaml = "test: 1\n";
  run.ctx.group = group;
  run.ctx.dist = d;
  return run;
}

tr::TrainOptions quiet(int64_t epochs) {
  tr::TrainOptions o;
  o.epochs = epochs;
  o.progress = false;
  o.val_every = 0;
  return o;
}

at::Tensor flat_state(torch::nn::Module& m) {
  std::vector<at::Tensor> v;
  for (const auto& p : m.parameters()) v.push_back(p.detach().flatten());
  for (const auto& b : m.buffers()) v.push_back(b.detach().to(at::kDouble).flatten().to(at::kFloat));
  return at::cat(v);
}

ct::dist::DistOptions dist_options(bool sync_bn, bool same_seed, bool overlap = true) {
  ct::dist::DistOptions d = ct::test::gloo_options();
  d.sync_batchnorm = sync_bn;
  d.same_seed_on_all_ranks = same_seed;
  d.overlap_backward = overlap;
  d.bucket_mb = 0.0005;  // several buckets (the conv, BatchNorm and linear layers apart)
  return d;
}

// Trains ConvBn on 2 rank threads; every rank's final parameters and buffers.
std::vector<at::Tensor> train_two_ranks(bool sync_bn, int64_t n, int64_t epochs, bool overlap = true,
                                        int64_t accumulate = 1) {
  std::vector<at::Tensor> out(2);
  ct::test::run_ranks(2, [&](const ct::dist::ProcessGroupPtr& g) {
    at::set_num_threads(1);
    auto o = quiet(epochs);
    o.accumulate = accumulate;
    TrainRun run = make_run(std::make_shared<ConvBn>(), n, 2, o, g, dist_options(sync_bn, true, overlap));
    tr::Trainer t(run.ctx);
    t.fit();
    out[static_cast<size_t>(g->rank())] = flat_state(*run.model);
  });
  return out;
}

}  // namespace

TEST(DataParallelTrainer, SyncBatchNormTwoRanksOfBMatchOneProcessOf2B) {
  CT_SKIP_WITHOUT_GLOO();
  // 13 samples, global batch 4: one process sees 4, 4, 4, 1 per epoch; rank 0 sees 2, 2, 2, 1 and
  // rank 1 2, 2, 2 and then joins the last batch without samples. 2 epochs of SGD with momentum.
  constexpr int64_t kN = 13, kEpochs = 2;
  at::set_num_threads(1);
  TrainRun one = make_run(std::make_shared<ConvBn>(), kN, 4, quiet(kEpochs), nullptr, ct::dist::DistOptions());
  tr::Trainer t(one.ctx);
  t.fit();
  const at::Tensor single = flat_state(*one.model);

  const auto synced = train_two_ranks(true, kN, kEpochs);
  EXPECT_TRUE(at::equal(synced[0], synced[1])) << "ranks diverged";
  EXPECT_TRUE(at::allclose(synced[0], single, 1e-4, 1e-5))
      << "max |diff| " << (synced[0] - single).abs().max().item<double>();
  // The control: per-rank batch statistics (the default) train other weights.
  const auto local = train_two_ranks(false, kN, kEpochs);
  EXPECT_GT((local[0] - single).abs().max().item<double>(), 1e-3);
}

TEST(DataParallelTrainer, OverlappedGradientSyncTrainsTheSameWeights) {
  CT_SKIP_WITHOUT_GLOO();
  // Buckets started from the backward pass (the default) against all started after it: the
  // same sums, so bitwise the same weights. Gradient accumulation over 2 batches (only the
  // window's last backward pass starts buckets) and uneven shards (rank 1's last window is a
  // batch short), with per-rank and synchronised batch statistics.
  for (const bool sync_bn : {false, true}) {
    const auto overlapped = train_two_ranks(sync_bn, 13, 2, true, 2);
    const auto after = train_two_ranks(sync_bn, 13, 2, false, 2);
    EXPECT_TRUE(at::equal(overlapped[0], after[0]))
        << "sync_batchnorm " << sync_bn << ": max |diff| " << (overlapped[0] - after[0]).abs().max().item<double>();
    EXPECT_TRUE(at::equal(overlapped[0], overlapped[1])) << "sync_batchnorm " << sync_bn << ": ranks diverged";
  }
}

TEST(DataParallelTrainer, RanksDrawTheirOwnStreamsUnlessPinned) {
  CT_SKIP_WITHOUT_GLOO();
  for (const bool same : {false, true}) {
    std::vector<at::Tensor> states(2);
    ct::test::run_ranks(2, [&](const ct::dist::ProcessGroupPtr& g) {
      TrainRun run = make_run(std::make_shared<Noisy>(), 8, 2, quiet(1), g, dist_options(false, same));
      tr::Trainer t(run.ctx);
      auto* noisy = static_cast<Noisy*>(run.model.get());
      states[static_cast<size_t>(g->rank())] = at::randn({4}, noisy->gen_);
    });
    EXPECT_EQ(at::equal(states[0], states[1]), same) << "same_seed_on_all_ranks: " << same;
  }
}

TEST(DataParallelTrainer, ResumeRestoresEveryRanksStream) {
  CT_SKIP_WITHOUT_GLOO();
  // 16 samples, batch 2 per rank: 4 steps, a checkpoint every 2. The run resumed at step 2 on 2
  // ranks ends bitwise where the uninterrupted one ended: rank 1's noise stream came back too.
  const std::string dir = ct::test::make_temp_dir("dist_streams");
  auto o = quiet(1);
  o.checkpoint_every_steps = 2;
  o.keep_last = 10;
  auto train = [&](const std::string& ckdir, const ct::weights::CheckpointData* from) {
    std::vector<at::Tensor> out(2);
    ct::test::run_ranks(2, [&](const ct::dist::ProcessGroupPtr& g) {
      at::set_num_threads(1);
      TrainRun run = make_run(std::make_shared<Noisy>(), 16, 2, o, g, dist_options(false, false));
      if (g->rank() == 0) run.ctx.checkpoint_dir = ckdir;
      tr::Trainer t(run.ctx);
      if (from) t.resume(*from);
      t.fit();
      out[static_cast<size_t>(g->rank())] = flat_state(*run.model);
    });
    return out;
  };
  const auto whole = train(dir + "/a", nullptr);
  EXPECT_TRUE(at::equal(whole[0], whole[1]));
  const auto mid = ct::weights::load_checkpoint(dir + "/a/step-00000002.safetensors");
  bool has_rank1 = false;
  for (const auto& [name, t] : mid.groups.at("rng")) has_rank1 = has_rank1 || name == "rank1/model:noise";
  EXPECT_TRUE(has_rank1) << "rank 1's generator state is not in the checkpoint";
  const auto resumed = train(dir + "/b", &mid);
  EXPECT_TRUE(at::equal(resumed[0], whole[0])) << "max |diff| " << (resumed[0] - whole[0]).abs().max().item<double>();
  // The control: without rank 1's states (a checkpoint of fewer ranks) rank 1 draws afresh.
  auto stripped = mid;
  auto& rng = stripped.groups.at("rng");
  rng.erase(std::remove_if(rng.begin(), rng.end(), [](const auto& kv) { return kv.first.rfind("rank1/", 0) == 0; }),
            rng.end());
  const auto fresh = train(dir + "/c", &stripped);
  EXPECT_FALSE(at::allclose(fresh[0], whole[0], 1e-6, 1e-7));
}

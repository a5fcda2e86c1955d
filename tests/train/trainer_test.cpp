// The training loop in-process: accumulation equivalence, the non-finite guard, EMA, early
// stopping, exact resume from a checkpoint (mid-epoch, with dropout and augmentation), the
// checkpoint files and the refusal of incompatible checkpoints.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <filesystem>

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/models/random_state.h"
#include "cardiotorch/train/callbacks.h"
#include "cardiotorch/train/checkpoint.h"
#include "cardiotorch/train/ema.h"
#include "cardiotorch/train/trainer.h"
#include "cardiotorch/weights/save.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;
namespace fs = std::filesystem;

namespace {

// An MLP without batch norm (so accumulated and whole batches give the same gradient), with
// optional dropout (a draw from the global generator every step) and optional noise from a
// generator of its own (as a ViT's token masking).
class Mlp final : public ct::models::ModelImpl, public ct::models::GeneratorOwner {
 public:
  Mlp(int64_t leads, int64_t len, int64_t classes, double dropout = 0.0, uint64_t noise_seed = 0)
      : dropout_(dropout), gen_(at::make_generator<at::CPUGeneratorImpl>(noise_seed)), noise_(noise_seed != 0) {
    in_channels_ = leads;
    fc1 = register_module("fc1", torch::nn::Linear(leads * len, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, classes));
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = at::tanh(fc1->forward(x.flatten(1)));
    if (dropout_ > 0) h = at::dropout(h, dropout_, is_training());
    if (noise_ && is_training()) h = h + 0.1 * at::randn(h.sizes(), gen_, h.options());
    return fc2->forward(h);
  }
  std::vector<std::pair<std::string, at::Generator>> generators() override { return {{"noise", gen_}}; }
  ct::models::Shape output_shape(const ct::models::Shape& in) const override {
    return {in[0], fc2->options.out_features()};
  }
  int64_t embed_dim() const override { return 16; }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  double dropout_;
  at::Generator gen_;
  bool noise_;
};

// n samples of 2 leads x 16, three classes whose signals differ by an offset.
std::shared_ptr<ct::data::InMemoryDataset> make_data(int64_t n, uint64_t seed = 1) {
  ct::data::DatasetInfo info;
  info.name = "synthetic";
  info.class_names = {"a", "b", "c"};
  info.label_kind = ct::data::LabelKind::kClassIndex;
  std::vector<ct::data::Sample> samples;
  std::vector<ct::data::ItemInfo> items;
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (int64_t i = 0; i < n; ++i) {
    ct::data::Sample s;
    const int64_t c = i % 3;
    s.signal = at::randn({2, 16}, g, at::kFloat) * 0.5 + static_cast<double>(c);
    s.fs = 100;
    s.leads = {"I", "II"};
    s.label = at::scalar_tensor(c, at::kLong);
    s.record_id = "r" + std::to_string(i);
    s.patient_id = "p" + std::to_string(i);
    ct::data::ItemInfo it;
    it.record_id = s.record_id;
    it.patient_id = s.patient_id;
    it.classes = {c};
    samples.push_back(s);
    items.push_back(it);
  }
  return std::make_shared<ct::data::InMemoryDataset>(info, samples, items);
}

tr::ObjectiveContext three_classes() {
  tr::ObjectiveContext c;
  c.class_names = {"a", "b", "c"};
  c.label_kind = ct::data::LabelKind::kClassIndex;
  return c;
}

struct Setup {
  std::shared_ptr<Mlp> model;
  std::unique_ptr<ct::data::Loader> train, val;
  tr::TrainContext ctx;
};

// A complete context: SGD or AdamW over the MLP, constant or cosine schedule.
Setup make_setup(int64_t n, int64_t batch, const std::string& optimizer, const tr::TrainOptions& o,
                 bool shuffle = false, double dropout = 0.0, const std::string& augment = "",
                 const std::string& schedule = "{name: constant}", uint64_t noise_seed = 0) {
  Setup s;
  ct::manual_seed(7);
  s.model = std::make_shared<Mlp>(2, 16, 3, dropout, noise_seed);
  s.model->set_model_name("mlp");
  ct::data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.num_workers = 0;
  lo.shuffle = shuffle;
  lo.seed = 11;
  const auto pipeline =
      ct::signal::Pipeline::from_config(augment.empty() ? ct::ConfigNode() : ct::ConfigNode::parse(augment));
  s.train = std::make_unique<ct::data::Loader>(make_data(n), pipeline, lo);
  lo.training = false;
  lo.shuffle = false;
  s.val = std::make_unique<ct::data::Loader>(make_data(9, 5), ct::signal::Pipeline(), lo);
  s.ctx.model = s.model;
  s.ctx.objective = tr::objective_registry().build(ct::ConfigNode::parse("{name: multiclass}"), three_classes());
  tr::OptimizerContext oc;
  oc.params = tr::trainable_parameters(*s.model);
  s.ctx.optimizer = tr::optimizer_registry().build(ct::ConfigNode::parse(optimizer), oc);
  tr::SchedulerContext sc;
  sc.base_lr = s.ctx.optimizer->base_lr();
  sc.steps_per_epoch = (s.train->num_batches() + o.accumulate - 1) / o.accumulate;
  sc.total_steps = o.steps > 0 ? o.steps : o.epochs * sc.steps_per_epoch;
  s.ctx.schedule = tr::scheduler_registry().build(ct::ConfigNode::parse(schedule), sc);
  ct::data::Loader* tl = s.train.get();
  s.ctx.train_loader = [tl](int64_t) -> ct::data::Loader& { return *tl; };
  s.ctx.val_loader = s.val.get();
  s.ctx.options = o;
  s.ctx.config_yaml = "test: 1\n";
  return s;
}

tr::TrainOptions quiet(int64_t epochs = 1) {
  tr::TrainOptions o;
  o.epochs = epochs;
  o.progress = false;
  o.val_every = 0;
  return o;
}

at::Tensor flat_params(const torch::nn::Module& m) {
  std::vector<at::Tensor> v;
  for (const auto& p : m.parameters()) v.push_back(p.detach().flatten());
  return at::cat(v);
}

}  // namespace

TEST(Trainer, AccumulationEqualsTheLargerBatch) {
  // 12 samples: batch 12 (one step) == batch 4 x accumulate 3; and 10 samples with batch 4 x 3
  // (windows of 4+4+2 samples) == batch 10: each batch's loss is weighted by its share.
  for (int64_t n : {12, 10}) {
    auto o = quiet();
    auto whole = make_setup(n, n, "{name: sgd, lr: 0.5, momentum: 0.9}", o);
    tr::Trainer(whole.ctx).fit();
    o.accumulate = 3;
    auto acc = make_setup(n, 4, "{name: sgd, lr: 0.5, momentum: 0.9}", o);
    tr::Trainer t(acc.ctx);
    t.fit();
    EXPECT_EQ(t.state().step, 1);
    EXPECT_LT((flat_params(*whole.model) - flat_params(*acc.model)).abs().max().item<double>(), 1e-6) << n;
  }
}

TEST(Trainer, LearnsAndStepsAsConfigured) {
  auto o = quiet(3);
  o.val_every = 1;
  auto s = make_setup(24, 6, "{name: adamw, lr: 0.01}", o, true);
  std::vector<double> losses;
  auto cb = std::make_shared<tr::LambdaCallback>();
  cb->validation_end = [&](tr::Trainer&, const tr::EvalResult& r) { losses.push_back(r.loss); };
  tr::Trainer t(s.ctx, {cb});
  const auto& st = t.fit();
  EXPECT_EQ(st.step, 12);
  EXPECT_EQ(st.epoch, 3);
  EXPECT_EQ(st.samples, 72);
  EXPECT_EQ(st.stop_reason, "completed");
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_TRUE(std::isfinite(st.best));
  // steps overrides epochs (and may end mid-epoch).
  auto o2 = quiet(100);
  o2.steps = 5;
  auto s2 = make_setup(24, 6, "{name: sgd, lr: 0.01}", o2, true);
  tr::Trainer t2(s2.ctx);
  EXPECT_EQ(t2.fit().step, 5);
  EXPECT_EQ(t2.state().epoch, 1);
  EXPECT_EQ(t2.state().batch, 1);
}

namespace {

// Returns NaN for the batches listed (by batch index), else the wrapped loss.
class NanOn final : public tr::Objective {
 public:
  NanOn(tr::ObjectivePtr inner, std::set<int64_t> bad) : inner_(std::move(inner)), bad_(std::move(bad)) {}
  std::string objective_name() const override { return "nan_on"; }
  std::optional<tr::TaskKind> task() const override { return inner_->task(); }
  tr::StepOutput step(ct::models::ModelImpl& m, const ct::data::Batch& b, bool training) override {
    tr::StepOutput out = inner_->step(m, b, training);
    if (training && (bad_.count(b.batch_index) || bad_.count(-1))) out.loss = out.loss * std::nan("");
    return out;
  }

 private:
  tr::ObjectivePtr inner_;
  std::set<int64_t> bad_;
};

}  // namespace

TEST(Trainer, NonFiniteLossIsSkippedAndCounted) {
  auto o = quiet(1);
  auto s = make_setup(24, 4, "{name: sgd, lr: 0.1}", o);
  s.ctx.objective = std::make_shared<NanOn>(s.ctx.objective, std::set<int64_t>{1, 2});
  const at::Tensor before = flat_params(*s.model);
  tr::Trainer t(s.ctx);
  const auto& st = t.fit();
  EXPECT_EQ(st.nonfinite_total, 2);
  EXPECT_EQ(st.step, 4);  // 6 windows, 2 skipped
  EXPECT_EQ(st.batch, 0);
  EXPECT_EQ(st.epoch, 1);
  EXPECT_TRUE(at::isfinite(flat_params(*s.model)).all().item<bool>());
  EXPECT_FALSE(at::equal(before, flat_params(*s.model)));
}

TEST(Trainer, AbortsAfterConsecutiveNonFiniteSteps) {
  auto o = quiet(1);
  o.max_nonfinite = 3;
  auto s = make_setup(24, 4, "{name: sgd, lr: 0.1}", o);
  s.ctx.objective = std::make_shared<NanOn>(s.ctx.objective, std::set<int64_t>{-1});
  tr::Trainer t(s.ctx);
  try {
    t.fit();
    FAIL() << "expected an Error";
  } catch (const ct::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("3 consecutive steps had a non-finite loss"), std::string::npos) << m;
    EXPECT_NE(m.find("clip_grad_norm"), std::string::npos) << m;
  }
  EXPECT_EQ(t.state().nonfinite_run, 3);
}

TEST(Trainer, ClippingBoundsTheGlobalNorm) {
  Mlp m(2, 16, 3);
  for (auto& p : m.parameters()) p.mutable_grad() = at::ones_like(p) * 10;
  std::vector<at::Tensor> params = m.parameters();
  const double total = tr::clip_grad_norm(params, 1.0);
  double sq = 0;
  for (const auto& p : params) sq += p.numel() * 100.0;
  EXPECT_NEAR(total, std::sqrt(sq), 1e-3);
  double after = 0;
  for (const auto& p : params) after += p.grad().pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(after), 1.0, 1e-5);
  EXPECT_TRUE(tr::gradients_finite(params));
  params[0].mutable_grad()[0][0] = std::nan("");
  EXPECT_FALSE(tr::gradients_finite(params));
}

TEST(Ema, UpdateRuleWarmupAndSwap) {
  Mlp m(2, 16, 3);
  const at::Tensor w0 = m.fc1->weight.detach().clone();
  tr::ModelEma ema(m, 0.9);
  {
    at::NoGradGuard ng;
    m.fc1->weight.add_(1.0);
  }
  ema.update(m);
  // e = 0.9 w0 + 0.1 (w0 + 1)
  const auto sd = ema.state_dict();
  at::Tensor e;
  for (const auto& [k, t] : sd)
    if (k == "fc1.weight") e = t;
  EXPECT_LT((e - (w0 + 0.1)).abs().max().item<double>(), 1e-6);
  ema.swap(m);
  EXPECT_LT((m.fc1->weight - (w0 + 0.1)).abs().max().item<double>(), 1e-6);
  ema.swap(m);
  EXPECT_LT((m.fc1->weight - (w0 + 1.0)).abs().max().item<double>(), 1e-6);
  tr::ModelEma warm(m, 0.9999, true);
  EXPECT_DOUBLE_EQ(warm.current_decay(), 0.1);  // (1 + 0) / (10 + 0)
  warm.update(m);
  EXPECT_DOUBLE_EQ(warm.current_decay(), 2.0 / 11.0);
  tr::ModelEma other(m, 0.5);
  other.load_state_dict(ema.state_dict());
  EXPECT_EQ(other.num_updates(), 1);
}

TEST(Trainer, EarlyStoppingAfterPatience) {
  auto o = quiet(50);
  o.val_every = 1;
  o.patience = 2;
  // lr 0: the validation loss never changes, so it never improves after the first validation.
  auto s = make_setup(12, 4, "{name: sgd, lr: 0.0}", o);
  auto stop = std::make_shared<tr::EarlyStopping>(2, 0.0);
  tr::Trainer t(s.ctx, {stop});
  const auto& st = t.fit();
  EXPECT_EQ(st.validations, 3);
  EXPECT_EQ(st.epoch, 3);
  EXPECT_NE(st.stop_reason.find("early stopping"), std::string::npos) << st.stop_reason;
}

TEST(Trainer, ResumeFromAMidEpochCheckpointIsExact) {
  // Dropout (global generator), noise from the model's own generator, shuffling and
  // augmentation (per-sample generators), AdamW state and a warmup-cosine schedule: the resumed
  // run must end bitwise equal.
  const std::string dir = ct::test::make_temp_dir("resume_inproc");
  const std::string aug = "[{name: jitter, p: 1.0}, {name: rescaling, p: 0.5}]";
  auto o = quiet(3);
  o.checkpoint_every_steps = 5;
  o.keep_last = 10;
  o.val_every = 1;
  auto a = make_setup(20, 3, "{name: adamw, lr: 0.01}", o, true, 0.3, aug, "{name: warmup_cosine, warmup: 1}", 42);
  a.ctx.checkpoint_dir = dir + "/a";
  tr::Trainer ta(a.ctx);
  ta.fit();  // 7 batches per epoch: step 5 is mid-epoch 0
  const std::string mid = dir + "/a/step-00000005.safetensors";
  ASSERT_TRUE(fs::exists(mid));

  auto b = make_setup(20, 3, "{name: adamw, lr: 0.01}", o, true, 0.3, aug, "{name: warmup_cosine, warmup: 1}", 43);
  ct::manual_seed(999);  // a different generator state before resuming: the checkpoint restores it
  {
    at::NoGradGuard ng;
    for (auto& p : b.model->parameters()) p.normal_();
  }
  b.ctx.checkpoint_dir = dir + "/b";
  tr::Trainer tb(b.ctx);
  tb.resume(ct::weights::load_checkpoint(mid));
  EXPECT_EQ(tb.state().step, 5);
  EXPECT_EQ(tb.state().batch, 5);
  tb.fit();
  EXPECT_EQ(tb.state().step, ta.state().step);
  EXPECT_TRUE(at::equal(flat_params(*a.model), flat_params(*b.model)));
  const auto sa = ta.context().optimizer->state_dict(), sb = tb.context().optimizer->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(at::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_EQ(ta.state().best, tb.state().best);
}

TEST(Checkpoints, FilesRotationBestAndLast) {
  const std::string dir = ct::test::make_temp_dir("ckpt_files");
  auto o = quiet(4);
  o.val_every = 1;
  o.keep_last = 2;
  auto s = make_setup(12, 4, "{name: adamw, lr: 0.05}", o);
  s.ctx.checkpoint_dir = dir;
  tr::Trainer t(s.ctx);
  t.fit();
  std::vector<std::string> steps;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("step-", 0) == 0) steps.push_back(e.path().filename().string());
  std::sort(steps.begin(), steps.end());
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps.back(), "step-00000012.safetensors");
  EXPECT_TRUE(fs::exists(dir + "/last.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/best.safetensors"));
  const auto last = ct::weights::load_checkpoint(dir + "/last.safetensors");
  EXPECT_EQ(tr::TrainState::from_json(last.sections.at("trainer")).step, 12);
  const auto best = ct::weights::load_checkpoint(dir + "/best.safetensors");
  EXPECT_EQ(tr::TrainState::from_json(best.sections.at("trainer")).step, t.state().best_step);
  EXPECT_TRUE(best.groups.count("rng") && best.groups.count("optimizer") && best.groups.count("model"));
  EXPECT_EQ(best.registry.at("optimizer"), "adamw");
  EXPECT_EQ(tr::find_resume_checkpoint(dir), dir + "/last.safetensors");
}

TEST(Checkpoints, RefusesOtherConfigOrVersionWithTheDifferences) {
  ct::weights::CheckpointData ck;
  ck.library_version = ct::version_string();
  ck.config_yaml = "seed: 1\noptimizer: {name: adamw, lr: 0.001}\ntrain: {epochs: 10, accumulate: 1}\n";
  const auto now =
      ct::ConfigNode::parse("seed: 1\noptimizer: {name: adamw, lr: 0.002}\ntrain: {epochs: 20, accumulate: 2}\n");
  try {
    tr::check_resume_compatible(ck, "x.safetensors", now);
    FAIL() << "expected a ConfigError";
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("x.safetensors: cannot resume"), std::string::npos) << m;
    EXPECT_NE(m.find("optimizer.lr: 0.001 -> 0.002"), std::string::npos) << m;
    EXPECT_NE(m.find("train.accumulate: 1 -> 2"), std::string::npos) << m;
    EXPECT_EQ(m.find("train.epochs"), std::string::npos) << m;  // a resume may extend the run
  }
  // More epochs alone is fine.
  EXPECT_NO_THROW(tr::check_resume_compatible(
      ck, "x",
      ct::ConfigNode::parse("seed: 1\noptimizer: {name: adamw, lr: 0.001}\ntrain: {epochs: 30, accumulate: 1}\n")));
  // The decision rule is tuned after training: a finished run may be resumed to re-tune it, also
  // one written before the key existed.
  {
    ct::weights::CheckpointData old = ck;
    old.config_yaml += "finetune: {mode: full}\n";
    for (const char* now : {"finetune: {mode: full, decisions: {tune: f1, classes: [N, S, V]}}\n",
                            "finetune: {mode: full, decisions: {tune: youden}}\n"})
      EXPECT_NO_THROW(tr::check_resume_compatible(old, "x", ct::ConfigNode::parse(ck.config_yaml + now))) << now;
    EXPECT_THROW(
        tr::check_resume_compatible(old, "x", ct::ConfigNode::parse(ck.config_yaml + "finetune: {mode: partial}\n")),
        ct::ConfigError);
  }
  ck.library_version = "0.0.1";
  try {
    tr::check_resume_compatible(ck, "x.safetensors", ct::ConfigNode::parse(ck.config_yaml));
    FAIL() << "expected a ConfigError";
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("written by cardiotorch 0.0.1"), std::string::npos) << m;
    EXPECT_NE(m.find(ct::version_string()), std::string::npos) << m;
  }
  EXPECT_NO_THROW(tr::check_resume_compatible(ck, "x", ct::ConfigNode::parse(ck.config_yaml), true));
}

TEST(Checkpoints, ResumeRefusesAChangedTrainingSet) {
  const std::string dir = ct::test::make_temp_dir("ckpt_data");
  auto o = quiet(1);
  auto s = make_setup(12, 4, "{name: sgd, lr: 0.1}", o);
  s.ctx.checkpoint_dir = dir;
  tr::Trainer(s.ctx).fit();
  auto other = make_setup(15, 4, "{name: sgd, lr: 0.1}", o);
  tr::Trainer t(other.ctx);
  try {
    t.resume(ct::weights::load_checkpoint(dir + "/last.safetensors"));
    FAIL() << "expected a DataError";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("12 training samples"), std::string::npos) << e.what();
  }
}

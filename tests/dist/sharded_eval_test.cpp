// Validation sharded over ranks (train::evaluate with a process group): the loss and the
// metrics equal those of one process over the whole set, for even and uneven shards and a rank
// with an empty shard, and every rank returns the same values. Ranks are threads of this
// process (Gloo over an in-memory store).
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <mutex>

#include "cardiotorch/data/loader.h"
#include "cardiotorch/dist/data_parallel.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/train/trainer.h"
#include "dist/ranks.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

// A linear classifier with weights from its own seeded generator: every rank builds the same.
class Probe final : public ct::models::ModelImpl {
 public:
  Probe() {
    in_channels_ = 2;
    fc = register_module("fc", torch::nn::Linear(32, 3));
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(17);
    at::NoGradGuard ng;
    fc->weight.copy_(at::randn(fc->weight.sizes(), g, at::kFloat) * 0.3);
    fc->bias.copy_(at::randn(fc->bias.sizes(), g, at::kFloat) * 0.1);
  }
  at::Tensor forward(const at::Tensor& x) override { return fc->forward(x.flatten(1)); }
  ct::models::Shape output_shape(const ct::models::Shape& in) const override { return {in[0], 3}; }
  int64_t embed_dim() const override { return 32; }
  torch::nn::Linear fc{nullptr};
};

const std::vector<std::string> kMetrics = {"accuracy",     "auroc_macro", "auprc_per_class",  "f1_macro",
                                           "f1_per_class", "mcc",         "balanced_accuracy"};

tr::MetricContext three_classes() {
  tr::MetricContext c;
  c.task = tr::TaskKind::kMulticlass;
  c.class_names = {"a", "b", "c"};
  return c;
}

tr::ObjectivePtr multiclass() {
  tr::ObjectiveContext c;
  c.class_names = {"a", "b", "c"};
  c.label_kind = ct::data::LabelKind::kClassIndex;
  return tr::objective_registry().build(ct::ConfigNode::parse("{name: multiclass}"), c);
}

ct::data::LoaderOptions eval_options(int64_t batch, int64_t rank, int64_t world) {
  ct::data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.num_workers = 0;
  lo.shuffle = false;
  lo.training = false;
  lo.rank = rank;
  lo.world_size = world;
  return lo;
}

// One process over the whole set.
tr::EvalResult reference(int64_t n, int64_t batch) {
  auto model = std::make_shared<Probe>();
  auto objective = multiclass();
  ct::data::Loader loader(ct::test::three_class_data(n), ct::signal::Pipeline(), eval_options(batch, 0, 1));
  tr::MetricSet metrics(three_classes(), kMetrics);
  return tr::evaluate(*model, *objective, loader, &metrics, c10::Device(c10::kCPU), at::kFloat, "", 0, false);
}

// Every rank's result and the samples its own metric set counted.
struct RankResult {
  tr::EvalResult result;
  int64_t counted = 0;
};

std::vector<RankResult> sharded(int64_t n, int64_t batch, int world) {
  std::vector<RankResult> out(static_cast<size_t>(world));
  ct::test::run_ranks(world, [&](const ct::dist::ProcessGroupPtr& g) {
    at::set_num_threads(1);
    auto model = std::make_shared<Probe>();
    auto objective = multiclass();
    ct::data::Loader loader(ct::test::three_class_data(n), ct::signal::Pipeline(),
                            eval_options(batch, g->rank(), g->world_size()));
    tr::MetricSet metrics(three_classes(), kMetrics);
    RankResult& mine = out[static_cast<size_t>(g->rank())];
    mine.result =
        tr::evaluate(*model, *objective, loader, &metrics, c10::Device(c10::kCPU), at::kFloat, "", 0, false, g);
    mine.counted = metrics.count();
  });
  return out;
}

void expect_same_values(const tr::EvalResult& a, const tr::EvalResult& b, const std::string& what) {
  EXPECT_EQ(a.samples, b.samples) << what;
  EXPECT_NEAR(a.loss, b.loss, 1e-6 * std::abs(b.loss)) << what;
  ASSERT_EQ(a.metrics.size(), b.metrics.size()) << what;
  for (const auto& [k, v] : b.metrics) {
    ASSERT_TRUE(a.metrics.count(k)) << what << ": " << k;
    if (std::isnan(v)) EXPECT_TRUE(std::isnan(a.metrics.at(k))) << what << ": " << k;
    else EXPECT_NEAR(a.metrics.at(k), v, 1e-9) << what << ": " << k;
  }
}

}  // namespace

TEST(ShardedEvaluation, EqualsOneProcessForEvenAndUnevenShards) {
  CT_SKIP_WITHOUT_GLOO();
  // 12 samples: 6 + 6 over 2 ranks; 11: 6 + 5; 11 over 3 ranks: 4 + 4 + 3 (batches of 2, so
  // the shards end in partial batches of different sizes).
  for (const auto& [n, world] : std::vector<std::pair<int64_t, int>>{{12, 2}, {11, 2}, {11, 3}}) {
    const std::string what = ct::str_cat(n, " samples over ", world, " ranks");
    const tr::EvalResult ref = reference(n, 2);
    ASSERT_EQ(ref.samples, n);
    // Not a degenerate case: scores neither perfect nor perfectly wrong, every class present.
    ASSERT_GT(ref.metrics.at("auroc_macro"), 0.1) << what;
    ASSERT_LT(ref.metrics.at("auroc_macro"), 0.9) << what;
    const auto ranks = sharded(n, 2, world);
    for (int r = 0; r < world; ++r) {
      const auto& rr = ranks[static_cast<size_t>(r)];
      expect_same_values(rr.result, ref, ct::str_cat(what, ", rank ", r));
      // Every rank takes rank 0's numbers: the same decisions everywhere.
      EXPECT_EQ(rr.result.metrics, ranks[0].result.metrics) << what << ", rank " << r;
      EXPECT_EQ(rr.result.loss, ranks[0].result.loss) << what << ", rank " << r;
    }
    // Rank 0's metric set saw every sample once (none padded, none twice); the others none.
    EXPECT_EQ(ranks[0].counted, n) << what;
    for (int r = 1; r < world; ++r) EXPECT_EQ(ranks[static_cast<size_t>(r)].counted, 0) << what;
  }
}

TEST(ShardedEvaluation, ARankWithAnEmptyShard) {
  CT_SKIP_WITHOUT_GLOO();
  // 2 samples over 3 ranks: rank 2 evaluates nothing and still takes part.
  const tr::EvalResult ref = reference(2, 2);
  const auto ranks = sharded(2, 2, 3);
  for (int r = 0; r < 3; ++r) expect_same_values(ranks[static_cast<size_t>(r)].result, ref, ct::str_cat("rank ", r));
}

TEST(ShardedEvaluation, AShardAloneGivesOtherValues) {
  CT_SKIP_WITHOUT_GLOO();
  // The control: rank 0's shard evaluated on its own (what every rank would report without the
  // gathering) differs from the whole set's values.
  const tr::EvalResult ref = reference(11, 2);
  auto model = std::make_shared<Probe>();
  auto objective = multiclass();
  ct::data::Loader loader(ct::test::three_class_data(11), ct::signal::Pipeline(), eval_options(2, 0, 2));
  tr::MetricSet metrics(three_classes(), kMetrics);
  const auto local =
      tr::evaluate(*model, *objective, loader, &metrics, c10::Device(c10::kCPU), at::kFloat, "", 0, false);
  EXPECT_EQ(local.samples, 6);
  EXPECT_GT(std::abs(local.metrics.at("auroc_macro") - ref.metrics.at("auroc_macro")) + std::abs(local.loss - ref.loss),
            1e-3);
}

TEST(GatherRows, UnevenRowsUndefinedRanksAndShapeMismatch) {
  CT_SKIP_WITHOUT_GLOO();
  ct::test::run_ranks(3, [](const ct::dist::ProcessGroupPtr& g) {
    const int64_t r = g->rank();
    // Rank 0: 3 rows, rank 1: none (undefined), rank 2: 1 row.
    at::Tensor x;
    if (r == 0) x = at::arange(6, at::kLong).view({3, 2});
    if (r == 2) x = at::full({1, 2}, 9, at::kLong);
    const auto parts = ct::dist::gather_rows(x, *g);
    if (r != 0) {
      EXPECT_TRUE(parts.empty());
    } else {
      ASSERT_EQ(parts.size(), 3u);
      EXPECT_TRUE(at::equal(parts[0], at::arange(6, at::kLong).view({3, 2})));
      EXPECT_FALSE(parts[1].defined());
      EXPECT_TRUE(at::equal(parts[2], at::full({1, 2}, 9, at::kLong)));
    }
    const auto texts = ct::dist::gather_strings(r == 1 ? "" : ct::str_cat("rank ", r), *g);
    if (r == 0) {
      EXPECT_EQ(texts, (std::vector<std::string>{"rank 0", "", "rank 2"}));
    }
    std::string s = r == 0 ? "from rank 0" : "";
    ct::dist::broadcast_string(s, *g);
    EXPECT_EQ(s, "from rank 0");
    // Trailing dimensions that disagree are refused on every rank, naming both.
    try {
      ct::dist::gather_rows(at::zeros({2, r == 2 ? 3 : 2}), *g);
      ADD_FAILURE() << "expected a ShapeError on rank " << r;
    } catch (const ct::ShapeError& e) {
      EXPECT_NE(std::string(e.what()).find("rank 2 gives [2, 3]"), std::string::npos) << e.what();
    }
  });
}

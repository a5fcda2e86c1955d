#include "cardiotorch/app/batch.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cardiotorch/core/file.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace app = cardiotorch::app;
namespace fs = std::filesystem;

namespace {

std::string fixture_npy() { return ct::test::source_path("tests/fixtures/io/f4_c.npy"); }

// root/a.npy, root/sub/b.npy, root/sub/deeper/c.npy
std::string make_tree(const std::string& tag) {
  const std::string root = ct::test::make_temp_dir(tag) + "/tree";
  fs::create_directories(root + "/sub/deeper");
  for (const char* p : {"/a.npy", "/sub/b.npy", "/sub/deeper/c.npy"}) fs::copy_file(fixture_npy(), root + p);
  return root;
}

std::vector<std::string> outputs(const std::vector<app::BatchItem>& plan) {
  std::vector<std::string> out;
  for (const auto& it : plan) out.push_back(it.output);
  return out;
}

app::BatchOptions quiet(int threads, const std::string& on_error = "raise") {
  app::BatchOptions o;
  o.threads = threads;
  o.on_error = on_error;
  o.progress = false;
  return o;
}

ct::io::Record read_plain(const std::string& path) { return ct::io::read_record(path); }

}  // namespace

namespace io = cardiotorch::io;

TEST(Batch, PlanKeepsPathsBelowEachDirectory) {
  const std::string root = make_tree("batch_plan");
  const std::string out = fs::path(root).parent_path().string() + "/out";
  EXPECT_EQ(outputs(app::plan_batch({root}, out, ".npz")),
            (std::vector<std::string>{out + "/a.npz", out + "/sub/b.npz", out + "/sub/deeper/c.npz"}));
  // Several inputs: each directory's records under its own name; a record by itself at the top.
  EXPECT_EQ(outputs(app::plan_batch({root + "/sub", root + "/a.npy"}, out, ".npy")),
            (std::vector<std::string>{out + "/sub/b.npy", out + "/sub/deeper/c.npy", out + "/a.npy"}));
  // A WFDB record named without its extension keeps its name.
  const std::string rec = ct::test::source_path("data/sample/cinc2021/E07500");
  EXPECT_EQ(outputs(app::plan_batch({rec}, out, ".npy")), std::vector<std::string>{out + "/E07500.npy"});
  // Two records that would write the same file, a missing input, an empty directory.
  EXPECT_THROW(app::plan_batch({root + "/a.npy", root + "/sub/../a.npy"}, out, ".npy"), ct::UsageError);
  EXPECT_THROW(app::plan_batch({root + "/none.npy"}, out, ".npy"), ct::UsageError);
  fs::create_directories(root + "/empty");
  EXPECT_THROW(app::plan_batch({root + "/empty"}, out, ".npy"), ct::UsageError);
}

TEST(Batch, ResultsAreInPlanOrderForAnyThreadCount) {
  const std::string root = make_tree("batch_order");
  const std::string out = fs::path(root).parent_path().string() + "/out";
  const auto plan = app::plan_batch({root}, out, ".npy");
  for (int threads : {1, 2, 3}) {
    const app::BatchResult r = app::convert_records(plan, read_plain, quiet(threads));
    ASSERT_EQ(r.items.size(), 3u);
    EXPECT_EQ(r.n_ok, 3);
    EXPECT_EQ(r.threads, threads);
    for (size_t i = 0; i < plan.size(); ++i) {
      EXPECT_EQ(r.items[i].input, plan[i].input);
      EXPECT_TRUE(r.items[i].ok);
      EXPECT_TRUE(at::equal(io::read_npy(plan[i].output), io::read_record(plan[i].input).signal));
      EXPECT_EQ(r.items[i].shape, io::read_npy(plan[i].output).sizes().vec());
    }
  }
}

TEST(Batch, SkipListsBadRecordsRaiseStopsWithTheEarliest) {
  const std::string root = make_tree("batch_errors");
  ct::test::write_file(root + "/sub/bad.npy", "\x93NUMPY truncated");
  ct::test::write_file(root + "/zz.npy", "not numpy at all");
  const std::string out = fs::path(root).parent_path().string() + "/out";
  const auto plan = app::plan_batch({root}, out, ".npy");
  ASSERT_EQ(plan.size(), 5u);
  for (int threads : {1, 2}) {
    const app::BatchResult r = app::convert_records(plan, read_plain, quiet(threads, "skip"));
    EXPECT_EQ(r.n_ok, 3);
    EXPECT_EQ(r.n_failed, 2);
    std::vector<std::string> failed;
    for (const auto& it : r.items)
      if (!it.ok) failed.push_back(it.input);
    EXPECT_EQ(failed, (std::vector<std::string>{root + "/zz.npy", root + "/sub/bad.npy"}));
    const std::string summary = app::summarize_batch(r, "converted");
    EXPECT_NE(summary.find("converted 3 of 5 records"), std::string::npos) << summary;
    EXPECT_NE(summary.find("2 skipped:\n  " + root + "/zz.npy: "), std::string::npos) << summary;
    // The manifest lists every record with its status, outputs relative to the manifest.
    app::write_manifest(r, out + "/manifest.csv");
    const std::string m = ct::read_file(out + "/manifest.csv");
    EXPECT_EQ(m.rfind("input,output,status,fs,shape,leads,error\n" + root + "/a.npy,a.npy,ok,0,3x5,ch0 ch1 ch2,\n", 0),
              0u)
        << m;
    EXPECT_NE(m.find(root + "/zz.npy,zz.npy,failed,,,,"), std::string::npos) << m;
    EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 6);
  }
  // raise: the failure of the earliest bad item in plan order, with its category and file.
  for (int threads : {1, 2}) {
    try {
      app::convert_records(plan, read_plain, quiet(threads));
      ADD_FAILURE() << "no error";
    } catch (const ct::DataError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(root + "/zz.npy: ", 0), 0u) << e.what();
    }
  }
}

TEST(Batch, RandomStepsDependOnTheRecordNotTheThread) {
  // Training-mode preprocessing draws from derive_seed(seed, item index): the same files for 1
  // or 3 threads.
  const std::string root = make_tree("batch_seed");
  const std::string base = fs::path(root).parent_path().string();
  ct::signal::Pipeline p =
      ct::signal::Pipeline::from_config(ct::ConfigNode::parse("[{name: gaussian_noise, std: 0.5, p: 1.0}]"));
  app::PreprocessRecordsOptions po;
  po.training = true;
  po.seed = 42;
  const auto one = app::plan_batch({root}, base + "/one", ".npy");
  const auto three = app::plan_batch({root}, base + "/three", ".npy");
  app::preprocess_records(one, read_plain, p, po, quiet(1));
  app::preprocess_records(three, read_plain, p, po, quiet(3));
  for (size_t i = 0; i < one.size(); ++i) {
    const at::Tensor a = io::read_npy(one[i].output), b = io::read_npy(three[i].output);
    EXPECT_TRUE(at::equal(a, b)) << one[i].output;
    EXPECT_FALSE(at::equal(a, io::read_record(one[i].input).signal)) << "no noise added";
  }
}

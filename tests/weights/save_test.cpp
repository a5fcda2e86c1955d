// Writing weights: safetensors, torch.save archives, cardiotorch checkpoints; read back by our
// reader and, where /usr/bin/python3 has torch, by Python itself.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"
#include "io/zip.h"
#include "weights/internal.h"
#include "weights/tiny_models.h"

namespace ctt = cardiotorch::test;
namespace cw = cardiotorch::weights;
namespace fs = std::filesystem;

namespace {

// One tensor of every dtype both formats carry, including a transposed (non-contiguous) one, a
// scalar and an empty one.
cw::NamedTensors sample_tensors() {
  const auto ar = [](int64_t n, at::ScalarType t, double scale, double offset) {
    return (torch::arange(n, torch::kDouble) * scale + offset).to(t);
  };
  return {
      {"blocks.0.attn.qkv.weight", ar(6, at::kFloat, 0.5, -1.0).view({2, 3}).t()},
      {"f64", ar(5, at::kDouble, 0.125, -0.25)},
      {"f16", ar(4, at::kHalf, 0.5, 1.0)},
      {"bf16", ar(4, at::kBFloat16, -2.0, 8.0)},
      {"i64", ar(3, at::kLong, 1099511627776.0, -7.0)},
      {"i32", ar(3, at::kInt, -100000.0, 5.0)},
      {"i8", ar(3, at::kChar, -50.0, 20.0)},
      {"u8", ar(3, at::kByte, 100.0, 3.0)},
      {"mask", torch::tensor({true, false, false, true})},
      {"scalar", torch::tensor(3.75)},
      {"empty", torch::zeros({0, 3})},
  };
}

void expect_same(const cw::NamedTensors& got, const cw::NamedTensors& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.scalar_type(), want[i].second.scalar_type()) << want[i].first;
    EXPECT_TRUE(got[i].second.equal(want[i].second)) << want[i].first;
  }
}

bool python_with_torch() {
  if (!fs::exists("/usr/bin/python3")) return false;
  return std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

std::vector<std::string> tmp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST(WeightsSave, SafetensorsRoundTrip) {
  const std::string dir = ctt::make_temp_dir("weights_save_st");
  const auto t = sample_tensors();
  cw::save_safetensors(dir + "/a.safetensors", t, {{"epoch", "5"}});
  const cw::Checkpoint ck = cw::read_checkpoint(dir + "/a.safetensors");
  EXPECT_EQ(ck.format, "safetensors");
  EXPECT_EQ(ck.metadata, (std::vector<std::pair<std::string, std::string>>{{"epoch", "5"}}));
  expect_same(cw::select_state_dict(ck).tensors, t);
  EXPECT_TRUE(tmp_files(dir).empty());
}

TEST(WeightsSave, TorchArchiveRoundTripAndAlignment) {
  const std::string dir = ctt::make_temp_dir("weights_save_pt");
  const auto t = sample_tensors();
  for (bool zip64 : {false, true}) {
    SCOPED_TRACE(zip64 ? "zip64" : "zip");
    const std::string path = dir + (zip64 ? "/b64.pt" : "/b.pt");
    cw::TorchSaveOptions o;
    o.force_zip64 = zip64;
    cw::save_torch(path, t, o);
    const cw::Checkpoint ck = cw::read_checkpoint(path);
    EXPECT_EQ(ck.format, "torch.save zip archive");
    EXPECT_EQ(ck.root()->py_class, "collections.OrderedDict");
    expect_same(cw::select_state_dict(ck).tensors, t);
    // Tensor records start on 64-byte boundaries, as torch's writer aligns them.
    const std::string bytes = [&] {
      std::ifstream f(path, std::ios::binary);
      return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    }();
    cardiotorch::io::zip::BufferSource src(bytes);
    for (const auto& m : cardiotorch::io::zip::list(src, path)) {
      if (m.name.find("/data/") != std::string::npos) {
        EXPECT_EQ(cardiotorch::io::zip::data_offset(src, m, path) % 64, 0u) << m.name;
      }
    }
  }
}

TEST(WeightsSave, StateDictByExtensionAndBadInput) {
  const std::string dir = ctt::make_temp_dir("weights_save_ext");
  const auto t = sample_tensors();
  cw::save_state_dict(dir + "/c.pth", t);
  EXPECT_EQ(cw::read_checkpoint(dir + "/c.pth").format, "torch.save zip archive");
  EXPECT_THROW(cw::save_state_dict(dir + "/c.h5", t), cardiotorch::ConfigError);
  cw::NamedTensors dup = {{"a", torch::zeros(1)}, {"a", torch::ones(1)}};
  EXPECT_THROW(cw::save_safetensors(dir + "/d.safetensors", dup), cardiotorch::ConfigError);
  // safetensors has no complex128 (a torch archive has): refused before anything is written.
  EXPECT_THROW(cw::save_safetensors(dir + "/d.safetensors", {{"c", torch::zeros(2, torch::kComplexDouble)}}),
               cardiotorch::ConfigError);
  EXPECT_FALSE(fs::exists(dir + "/d.safetensors"));
  cw::save_torch(dir + "/d.pt", {{"c", torch::ones(2, torch::kComplexDouble)}});
  EXPECT_TRUE(cw::read_state_dict(dir + "/d.pt")[0].second.equal(torch::ones(2, torch::kComplexDouble)));
}

TEST(WeightsSave, AtomicWriteLeavesTheOldFileOnFailure) {
  const std::string dir = ctt::make_temp_dir("weights_save_atomic");
  const std::string path = dir + "/model.safetensors";
  cw::save_safetensors(path, {{"w", torch::ones(3)}});
  EXPECT_THROW(cw::detail::write_atomically(path,
                                            [](std::ostream& out) {
                                              out << "half a checkpoint";
                                              throw cardiotorch::Error("disk full (simulated)");
                                            }),
               cardiotorch::Error);
  EXPECT_TRUE(cw::read_state_dict(path)[0].second.equal(torch::ones(3)));
  EXPECT_TRUE(tmp_files(dir).empty());
}

TEST(WeightsSave, CheckpointGroupsAndMetadataRoundTrip) {
  const std::string dir = ctt::make_temp_dir("weights_ckpt");
  ctt::TinyCnn cnn;
  cw::CheckpointData d;
  d.groups["model"] = cw::module_state_dict(*cnn);
  d.groups["optimizer"] = {{"0.exp_avg", torch::full({4, 2, 5}, 0.5)}, {"0.step", torch::tensor(3.0)}};
  d.groups["rng"] = {{"cpu", torch::arange(16, torch::kByte)}};
  d.config_yaml = "name: demo\nseed: 3\nmodel:\n  name: tiny\n";
  d.registry = {{"model", "tiny"}, {"objective", "supervised"}};
  d.sections = {{"trainer", R"({"epoch": 4, "step": 400})"}, {"data", R"({"position": 1234})"}};
  cw::save_checkpoint(dir + "/last.ckpt.safetensors", d);
  const cw::CheckpointData back = cw::load_checkpoint(dir + "/last.ckpt.safetensors");
  EXPECT_EQ(back.format_version, cw::kCheckpointFormatVersion);
  EXPECT_EQ(back.library_version, cardiotorch::version_string());
  EXPECT_EQ(back.config_yaml, d.config_yaml);
  EXPECT_EQ(back.registry, d.registry);
  EXPECT_EQ(back.sections, d.sections);
  ASSERT_EQ(back.groups.size(), 3u);
  for (const auto& [name, tensors] : d.groups) {
    SCOPED_TRACE(name);
    expect_same(back.groups.at(name), tensors);
  }
  // The model group loads like any checkpoint, and inspect shows the groups.
  ctt::TinyCnn other;
  const auto r = cw::load_into(*other, dir + "/last.ckpt.safetensors");
  EXPECT_EQ(r.key, "model");
  EXPECT_EQ(r.matched, 9);
  EXPECT_EQ(r.format, "cardiotorch checkpoint v1");
  EXPECT_TRUE(other->conv->weight.equal(cnn->conv->weight));
}

TEST(WeightsSave, CheckpointRejectsBadInput) {
  const std::string dir = ctt::make_temp_dir("weights_ckpt_bad");
  cw::CheckpointData d;
  d.groups["model"] = {{"w", torch::ones(2)}};
  d.sections = {{"trainer", "{not json"}};
  EXPECT_THROW(cw::save_checkpoint(dir + "/a.safetensors", d), cardiotorch::DataError);
  d.sections = {{"config", "{}"}};
  EXPECT_THROW(cw::save_checkpoint(dir + "/a.safetensors", d), cardiotorch::ConfigError);
  d.sections.clear();
  d.groups["bad/name"] = {};
  EXPECT_THROW(cw::save_checkpoint(dir + "/a.safetensors", d), cardiotorch::ConfigError);
  EXPECT_THROW(cw::load_checkpoint(ctt::weights_fixture("plain.safetensors")), cardiotorch::DataError);
  cw::save_safetensors(dir + "/future.safetensors", {{"w", torch::ones(1)}},
                       {{"format", "cardiotorch.checkpoint"}, {"format_version", "99"}});
  try {
    cw::load_checkpoint(dir + "/future.safetensors");
    FAIL();
  } catch (const cardiotorch::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("format v99 was written by a newer cardiotorch"), std::string::npos)
        << e.what();
  }
}

TEST(WeightsSave, PythonReadsWhatWeWrite) {
  if (!python_with_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not available";
  const std::string dir = ctt::make_temp_dir("weights_py_roundtrip");
  const auto t = sample_tensors();
  cw::save_torch(dir + "/state.pt", t);
  cw::TorchSaveOptions z64;
  z64.force_zip64 = true;
  cw::save_torch(dir + "/state_zip64.pt", t, z64);
  cw::save_safetensors(dir + "/state.safetensors", t);
  cw::CheckpointData d;
  d.groups["model"] = t;
  d.groups["optimizer"] = {{"0.exp_avg", torch::ones(2)}};
  d.registry = {{"model", "tiny"}};
  d.sections = {{"trainer", R"({"epoch": 4})"}};
  cw::save_checkpoint(dir + "/checkpoint.safetensors", d);
  std::map<std::string, at::Tensor> expected;
  std::string json = R"({"dtypes": {)", order = "[";
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& [name, x] = t[i];
    expected[name] = x.scalar_type() == at::kBFloat16 ? x.to(at::kFloat) : x;
    json += (i ? ", \"" : "\"") + name + "\": \"" + cw::dtype_name(x.scalar_type()) + "\"";
    order += (i ? ", \"" : "\"") + name + "\"";
  }
  json += "}, \"order\": " + order + "]}";
  cardiotorch::io::write_npz(dir + "/expected.npz", expected);
  std::ofstream(dir + "/expected.json") << json;
  const std::string out = dir + "/python.txt";
  const std::string cmd =
      "/usr/bin/python3 " + ctt::source_path("tests/weights/roundtrip_check.py") + " " + dir + " > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream f(out);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("OK 11"), std::string::npos) << text;
}

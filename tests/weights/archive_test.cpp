// Reading checkpoints: every fixture format, dtypes, views and shared storages, placeholders,
// state_dict selection, and corrupt, truncated and hostile archives.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/archive.h"
#include "weights/pickle_builder.h"
#include "weights/tiny_models.h"

namespace ctt = cardiotorch::test;
namespace cw = cardiotorch::weights;
using cardiotorch::DataError;

namespace {

at::Tensor formula(int64_t n, at::ScalarType t, double scale, double offset) {
  return (torch::arange(n, torch::kDouble) * scale + offset).to(t);
}

std::map<std::string, at::Tensor> by_name(const cw::NamedTensors& v) { return {v.begin(), v.end()}; }

std::string bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

struct WeightsArchive : ::testing::Test {
  std::string dir;
  void SetUp() override { dir = ctt::make_temp_dir("weights_archive"); }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string p = dir + "/" + name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
};

}  // namespace

TEST(WeightsRead, EveryDtypeMatchesItsFormula) {
  const auto t = by_name(cw::read_state_dict(ctt::weights_fixture("dtypes.pt")));
  ASSERT_EQ(t.size(), 13u);
  EXPECT_TRUE(t.at("f64").equal(formula(6, at::kDouble, 0.25, -0.5)));
  EXPECT_TRUE(t.at("f32").equal(formula(6, at::kFloat, 0.5, -1.0)));
  EXPECT_TRUE(t.at("f16").equal(formula(6, at::kHalf, 0.5, -1.0)));
  EXPECT_TRUE(t.at("bf16").equal(formula(6, at::kBFloat16, 0.5, -1.0)));
  EXPECT_TRUE(t.at("i8").equal(formula(6, at::kChar, -3.0, 7.0)));
  EXPECT_TRUE(t.at("u8").equal(formula(6, at::kByte, 40.0, 5.0)));
  EXPECT_TRUE(t.at("i16").equal(formula(6, at::kShort, -1000.0, 300.0)));
  EXPECT_TRUE(t.at("i32").equal(formula(6, at::kInt, 100000.0, -250000.0)));
  EXPECT_TRUE(t.at("i64").equal(formula(6, at::kLong, 1099511627776.0, -3.0)));
  EXPECT_TRUE(t.at("bool").equal(torch::arange(6) % 2 == 1));
  EXPECT_TRUE(t.at("c64").equal(torch::complex(formula(3, at::kFloat, 1.0, 0.5), formula(3, at::kFloat, -1.0, 2.0))));
  EXPECT_EQ(t.at("scalar").dim(), 0);
  EXPECT_EQ(t.at("scalar").item<float>(), 2.5f);
  EXPECT_EQ(t.at("empty").sizes(), (std::vector<int64_t>{0, 3}));
}

TEST(WeightsRead, ViewsKeepTheirStridesAndShareStorage) {
  const auto t = by_name(cw::read_state_dict(ctt::weights_fixture("views.pt")));
  const at::Tensor base = formula(24, at::kFloat, 0.5, -3.0);
  EXPECT_TRUE(t.at("base").equal(base));
  EXPECT_TRUE(t.at("mat").equal(base.view({4, 6})));
  EXPECT_TRUE(t.at("mat_t").equal(base.view({4, 6}).t()));
  EXPECT_EQ(t.at("mat_t").strides(), (std::vector<int64_t>{1, 6}));
  EXPECT_TRUE(t.at("slice").equal(base.slice(0, 5, 11)));
  EXPECT_EQ(t.at("slice").storage_offset(), 5);
  EXPECT_TRUE(t.at("step").equal(base.slice(0, 1, 24, 3)));
  EXPECT_TRUE(t.at("col").equal(base.view({4, 6}).select(1, 2)));
  EXPECT_TRUE(t.at("expanded").equal(base.slice(0, 0, 3).unsqueeze(0).expand({4, 3})));
  EXPECT_EQ(t.at("expanded").stride(0), 0);
  // One storage, as in Python: writing through a view shows in the others.
  EXPECT_TRUE(t.at("mat").is_alias_of(t.at("base")));
  t.at("base")[7].fill_(100.0f);
  EXPECT_EQ(t.at("mat")[1][1].item<float>(), 100.0f);
  EXPECT_EQ(t.at("slice")[2].item<float>(), 100.0f);
  // The same tensor object saved under two keys stays one tensor.
  EXPECT_TRUE(t.at("tied_a").is_alias_of(t.at("tied_b")));
  EXPECT_EQ(t.at("tied_a").data_ptr(), t.at("tied_b").data_ptr());
}

TEST(WeightsRead, SafetensorsValuesAndMetadata) {
  const cw::Checkpoint ck = cw::read_checkpoint(ctt::weights_fixture("plain.safetensors"));
  EXPECT_EQ(ck.format, "safetensors");
  const auto t = by_name(cw::select_state_dict(ck).tensors);
  EXPECT_TRUE(t.at("weight").equal(formula(6, at::kFloat, 0.5, -1.0).view({2, 3})));
  EXPECT_TRUE(t.at("half").equal(formula(4, at::kHalf, 0.25, 1.0)));
  EXPECT_TRUE(t.at("brain").equal(formula(4, at::kBFloat16, -2.0, 8.0)));
  EXPECT_TRUE(t.at("count").equal(formula(3, at::kLong, 1099511627776.0, 1.0)));
  EXPECT_TRUE(t.at("mask").equal(torch::tensor({true, false, true})));
  EXPECT_EQ(ck.metadata, (std::vector<std::pair<std::string, std::string>>{{"epoch", "3"}, {"note", "hand-written"}}));
}

TEST(WeightsRead, NamespaceBecomesAnInspectablePlaceholder) {
  const cw::Checkpoint ck = cw::read_checkpoint(ctt::weights_fixture("vit_namespace.pt"));
  const cw::PyNode* args = ck.root()->get("args");
  ASSERT_NE(args, nullptr);
  EXPECT_EQ(args->kind, cw::PyNode::Kind::kObject);
  EXPECT_EQ(args->s, "argparse.Namespace");
  EXPECT_EQ(args->get("model")->s, "vit_patchx");
  EXPECT_EQ(args->get("epochs")->i, 10);
  EXPECT_DOUBLE_EQ(args->get("lr")->f, 1e-3);
  EXPECT_EQ(args->get("input_size")->repr(), "(2, 40)");
  EXPECT_EQ(ck.root()->get("epoch")->i, 3);
  const std::string tree = cw::format_tree(ck.root());
  EXPECT_NE(tree.find("args   argparse.Namespace (placeholder), 6 entries"), std::string::npos) << tree;
  EXPECT_NE(tree.find("model          'vit_patchx'"), std::string::npos) << tree;
  EXPECT_NE(tree.find("blocks.0.attn.qkv.weight   float32 [24, 8]"), std::string::npos) << tree;
}

TEST(WeightsRead, LightningPiecesAndNumpyScalars) {
  const cw::Checkpoint ck = cw::read_checkpoint(ctt::weights_fixture("vit_lightning.ckpt"));
  const cw::PyNode* hp = ck.root()->get("hyper_parameters");
  ASSERT_NE(hp, nullptr);
  EXPECT_EQ(hp->s, "lightning.fabric.utilities.data.AttributeDict");
  EXPECT_EQ(hp->get("model")->get("name")->s, "vit_patchx");
  const cw::PyNode* best = ck.root()->get("best_np");
  EXPECT_EQ(best->kind, cw::PyNode::Kind::kFloat);
  EXPECT_DOUBLE_EQ(best->f, 0.91);
  EXPECT_EQ(best->py_class, "numpy.float64");
  EXPECT_EQ(ck.root()->get("n_np")->i, 12);
  // Optimizer state: AdamW's exp_avg tensors sit under optimizer_states.0.state.<i>.
  const cw::PyNode* state = cw::find_path(ck.root(), "optimizer_states.0.state.0.exp_avg");
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->kind, cw::PyNode::Kind::kTensor);
  const auto score =
      cw::find_path(ck.root(), "callbacks.ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}.best_model_score");
  ASSERT_NE(score, nullptr);
  EXPECT_NEAR(ck.tensor(score).item<float>(), 0.4321f, 1e-7);
  const auto sel = cw::select_state_dict(ck);
  EXPECT_EQ(sel.key, "state_dict");
  EXPECT_EQ(sel.tensors.size(), 32u);
  EXPECT_EQ(sel.tensors.front().first, "model.cls_token");
}

TEST(WeightsRead, TorchEcgLayoutsShareOneTree) {
  for (const char* f : {"torch_ecg.pth", "torch_ecg.safetensors", "torch_ecg_dir"}) {
    SCOPED_TRACE(f);
    const cw::Checkpoint ck = cw::read_checkpoint(ctt::weights_fixture(f));
    const cw::PyNode* mc = ck.root()->get("model_config");
    ASSERT_NE(mc, nullptr);
    EXPECT_EQ(mc->get("cnn")->get("kernel")->i, 5);
    EXPECT_EQ(ck.root()->get("train_config")->get("fs")->i, 500);
    const auto sel = cw::select_state_dict(ck);
    EXPECT_EQ(sel.key, "model_state_dict");
    EXPECT_EQ(sel.tensors.size(), 9u);
  }
  const cw::Checkpoint st = cw::read_checkpoint(ctt::weights_fixture("torch_ecg.safetensors"));
  EXPECT_EQ(st.format, "torch_ecg checkpoint (safetensors, torch_ecg.ckpt.v1)");
  const auto ema = cw::flatten_tensors(st, st.root()->get("ema"));
  ASSERT_EQ(ema.size(), 8u);
  const auto model = by_name(cw::select_state_dict(st).tensors);
  EXPECT_TRUE(ema[0].second.equal(model.at("conv.weight") * 0.5));
  EXPECT_DOUBLE_EQ(st.root()->get("metrics")->get("f1")->f, 0.8);
}

TEST(WeightsRead, LegacyFormatMatchesZipFormat) {
  const auto legacy = cw::read_checkpoint(ctt::weights_fixture("cnn_legacy.pt"));
  EXPECT_EQ(legacy.format, "torch.save legacy format (torch < 1.6)");
  const auto a = cw::select_state_dict(legacy).tensors;
  const auto b = cw::read_state_dict(ctt::weights_fixture("torch_ecg.pth"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(a[i].second.equal(b[i].second)) << a[i].first;
  }
}

TEST(WeightsRead, KeySelection) {
  const cw::Checkpoint ck = cw::read_checkpoint(ctt::weights_fixture("vit_mae_train.pth"));
  EXPECT_EQ(cw::select_state_dict(ck).key, "model");
  const auto opt = cw::select_state_dict(ck, "optimizer.state");
  EXPECT_FALSE(opt.automatic);
  EXPECT_EQ(opt.tensors.size(), 32u * 3);  // step, exp_avg and exp_avg_sq of 32 parameters
  EXPECT_EQ(opt.tensors[1].first, "0.exp_avg");
  try {
    cw::select_state_dict(ck, "modle");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("no key 'modle' (did you mean 'model'?); keys at the top level: model, "
                                         "optimizer, args, epoch, scaler"),
              std::string::npos)
        << e.what();
  }
  try {
    cw::select_state_dict(ck, "optimizer.stat");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("keys under 'optimizer': state, param_groups"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cw::select_state_dict(ck, "args"), DataError);             // no tensors there
  EXPECT_THROW(cw::select_state_dict(ck, "model.cls_token"), DataError);  // a single tensor
}

TEST(WeightsRead, InspectWithoutLoadingTensors) {
  cw::ReadOptions ro;
  ro.load_tensors = false;
  const cw::Checkpoint ck = cw::read_checkpoint(ctt::weights_fixture("cmr_resnet18.ckpt"), ro);
  EXPECT_TRUE(ck.tensors.empty());
  EXPECT_EQ(cw::tree_stats(ck.root()).tensors, 124);
  EXPECT_THROW(ck.tensor(ck.tree->tensors()[0]), DataError);
}

TEST(WeightsRead, HostileFixturesFailClearly) {
  try {
    cw::read_checkpoint(ctt::weights_fixture("hostile_os_system.pt"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("refusing a pickle that calls posix.system"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nothing was executed"), std::string::npos);
  }
  try {
    cw::read_checkpoint(ctt::weights_fixture("hostile_recursive.pt"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("recursive structure"), std::string::npos) << e.what();
  }
  try {
    cw::read_checkpoint(ctt::weights_fixture("quantized.pt"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("quantized"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cw::read_checkpoint(ctt::weights_fixture("make_fixtures.py")), DataError);
  EXPECT_THROW(cw::read_checkpoint(ctt::weights_fixture("no_such_file.pt")), DataError);
}

TEST_F(WeightsArchive, TruncatedArchivesNeverCrash) {
  for (const char* f : {"views.pt", "plain.safetensors", "cnn_legacy.pt", "dtypes.pt"}) {
    const std::string full = bytes_of(ctt::weights_fixture(f));
    for (size_t cut : {size_t{0}, size_t{1}, size_t{9}, size_t{64}, full.size() / 3, full.size() / 2, full.size() - 23,
                       full.size() - 1}) {
      SCOPED_TRACE(std::string(f) + " cut at " + std::to_string(cut));
      const std::string p = write("trunc.bin", full.substr(0, cut));
      EXPECT_THROW(cw::read_checkpoint(p), DataError);
    }
  }
}

TEST_F(WeightsArchive, CorruptDataRecordFailsItsCrc) {
  std::string bytes = bytes_of(ctt::weights_fixture("views.pt"));
  const auto members = cardiotorch::io::zip::list(bytes, "views.pt");
  for (const auto& m : members) {
    if (m.name.find("/data/") == std::string::npos) continue;
    cardiotorch::io::zip::BufferSource src(bytes);
    bytes[cardiotorch::io::zip::data_offset(src, m, "views.pt") + 3] ^= 0x55;
    break;
  }
  try {
    cw::read_checkpoint(write("corrupt.pt", bytes));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("CRC mismatch"), std::string::npos) << e.what();
  }
}

TEST_F(WeightsArchive, StorageLargerThanItsRecordIsRejectedBeforeAllocating) {
  // The pickle claims 2^40 floats for a 24-byte record: an error, not a 4 TiB allocation.
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(').str("w").tensor_v2("FloatStorage", "0", int64_t{1} << 40, 0, {6}, {1}).op('u');
  try {
    cw::read_checkpoint(write("huge.pt", ctt::torch_zip(p.done(), {{"data/0", ctt::float_bytes({1, 2, 3, 4, 5, 6})}})));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("holds 24 bytes, but the pickle declares 1099511627776 float32 elements"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(WeightsArchive, RecordSizeFakedInTheCentralDirectoryIsRejectedBeforeAllocating) {
  // The pickle and the central directory agree on 1 GiB; the file holds 24 bytes.
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(').str("w").tensor_v2("FloatStorage", "0", int64_t{1} << 28, 0, {6}, {1}).op('u');
  std::string z = ctt::torch_zip(p.done(), {{"data/0", ctt::float_bytes({1, 2, 3, 4, 5, 6})}});
  const std::string name = "archive/data/0";
  const size_t central = z.find(name, z.find(name) + 1) - 46;
  ASSERT_EQ(z.compare(central, 4, "PK\x01\x02"), 0);
  for (size_t field : {size_t{20}, size_t{24}}) {
    z[central + field] = 0, z[central + field + 1] = 0, z[central + field + 2] = 0, z[central + field + 3] = 0x40;
  }
  try {
    cw::read_checkpoint(write("faked.pt", z));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("member 'archive/data/0' is truncated (1073741824 bytes expected"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(WeightsArchive, ViewOutsideItsStorageIsRejected) {
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(').str("w").tensor_v2("FloatStorage", "0", 6, 4, {2, 3}, {3, 1}).op('u');
  try {
    cw::read_checkpoint(write("oob.pt", ctt::torch_zip(p.done(), {{"data/0", ctt::float_bytes({1, 2, 3, 4, 5, 6})}})));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit storage '0' of 6 float32 elements"), std::string::npos)
        << e.what();
  }
}

TEST_F(WeightsArchive, MissingRecordIsNamed) {
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(').str("w").tensor_v2("FloatStorage", "7", 2, 0, {2}, {1}).op('u');
  try {
    cw::read_checkpoint(write("missing.pt", ctt::torch_zip(p.done(), {})));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("record archive/data/7 is missing"), std::string::npos) << e.what();
  }
}

TEST_F(WeightsArchive, Torch2UntypedStoragesAndRebuildV3) {
  // What torch >= 2.0 writes for dtypes without a typed storage class: an UntypedStorage of
  // bytes, the dtype as the 7th argument of _rebuild_tensor_v3, and the offset in elements.
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(');
  p.str("w").tensor_v3("0", 24, "float32", 1, {2, 2}, {1, 2});
  p.str("h").tensor_v3("1", 8, "float16", 0, {4}, {1});
  p.op('u');
  const std::vector<float> w = {0, 1, 2, 3, 4, 5};
  const at::Tensor h = torch::tensor({0.5, -1.0, 2.0, 3.5}, torch::kHalf);
  const std::string hb(static_cast<const char*>(h.data_ptr()), 8);
  const auto t =
      by_name(cw::read_state_dict(write("v3.pt", ctt::torch_zip(p.done(), {{"data/0", ctt::float_bytes(w)},
                                                                           {"data/1", hb},
                                                                           {"byteorder", "little"},
                                                                           {".data/serialization_id", "1234"}}))));
  EXPECT_TRUE(t.at("w").equal(torch::tensor({1.f, 3.f, 2.f, 4.f}).view({2, 2})));
  EXPECT_TRUE(t.at("h").equal(h));
}

TEST_F(WeightsArchive, BigEndianArchivesAreSwapped) {
  ctt::PickleBuilder p;
  p.empty_ordered_dict().op('(').str("w").tensor_v2("FloatStorage", "0", 3, 0, {3}, {1}).op('u');
  const auto t = cw::read_state_dict(write(
      "be.pt",
      ctt::torch_zip(p.done(), {{"data/0", ctt::float_bytes({1.5f, -2.0f, 3.25f}, true)}, {"byteorder", "big"}})));
  EXPECT_TRUE(t[0].second.equal(torch::tensor({1.5f, -2.0f, 3.25f})));
}

TEST_F(WeightsArchive, ZipWithoutDataPklIsNotATorchFile) {
  cardiotorch::io::zip::Writer w;
  w.add("signal.npy", "x");
  try {
    cw::read_checkpoint(write("a.npz", w.finish()));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("zip archive without data.pkl"), std::string::npos) << e.what();
  }
}

TEST(WeightsRead, PickledWholeModuleFlattensLikeAStateDict) {
  // torch.save(model) pickles the module object: its _parameters/_buffers/_modules become the
  // usual state_dict names.
  ctt::PickleBuilder p;
  auto module = [&](const std::string& cls) { p.global("mymodels", cls).op(')').op('\x81'); };
  module("Net");
  p.op('}').op('(');
  p.str("training").op('\x89');
  p.str("_parameters").empty_ordered_dict();
  p.str("_buffers").empty_ordered_dict();
  p.str("_modules").empty_ordered_dict().op('(').str("fc");
  module("Linear");
  p.op('}').op('(');
  p.str("_parameters").empty_ordered_dict().op('(');
  p.str("weight").tensor_v2("FloatStorage", "0", 2, 0, {1, 2}, {2, 1});
  p.str("bias").op('N');
  p.op('u');
  p.str("_buffers").empty_ordered_dict();
  p.str("_modules").empty_ordered_dict();
  p.op('u').op('b');  // BUILD fc
  p.op('u');          // _modules items
  p.op('u').op('b');  // BUILD net
  const std::string dir = ctt::make_temp_dir("weights_module");
  const std::string path = dir + "/model.pt";
  const std::string z = ctt::torch_zip(p.done(), {{"data/0", ctt::float_bytes({3, 4})}});
  std::ofstream(path, std::ios::binary).write(z.data(), static_cast<std::streamsize>(z.size()));
  const auto sd = cw::read_state_dict(path);
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].first, "fc.weight");
  EXPECT_TRUE(sd[0].second.equal(torch::tensor({{3.f, 4.f}})));
}

TEST_F(WeightsArchive, SafetensorsCutInsideItsHeaderSaysTruncated) {
  // The first 8 bytes announce a header longer than what is left: a file cut short, not an
  // unknown format.
  const std::string json = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string bytes(8, '\0');
  for (int b = 0; b < 8; ++b) bytes[b] = static_cast<char>((json.size() >> (8 * b)) & 0xff);
  bytes += json + std::string(4, '\0');
  EXPECT_NO_THROW(cw::read_checkpoint(write("whole.safetensors", bytes)));
  try {
    cw::read_checkpoint(write("cut.safetensors", bytes.substr(0, 30)));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated safetensors file: its header announces " +
                                         std::to_string(json.size()) + " bytes of metadata, the whole file has 30"),
              std::string::npos)
        << e.what();
  }
}

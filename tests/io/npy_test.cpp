#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/npy_format.h"
#include "support/test_util.h"

namespace cardiotorch::io {
namespace {

using test::source_path;

std::string fixture(const std::string& name) { return source_path("tests/fixtures/io/" + name); }

// The generator's formula: arange(n).reshape(shape) * scale + offset, in float64, then cast.
at::Tensor base(std::vector<int64_t> shape, at::ScalarType dtype, double scale = 1.0, double offset = 0.0) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return (at::arange(n, at::kDouble).reshape(shape) * scale + offset).to(dtype);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(NpyRead, NumpyFixturesMatchTheirFormulas) {
  struct Case {
    const char* file;
    at::Tensor expected;
  } cases[] = {
      {"f4_c.npy", base({3, 5}, at::kFloat, 0.25, -1.0)},
      {"f8_fortran.npy", base({4, 3}, at::kDouble, 1.5, 2.0)},
      {"i2_be.npy", base({2, 7}, at::kShort, -300.0, 1000.0)},
      {"i4_le.npy", base({6}, at::kInt, 100000.0, -250000.0)},
      {"f4_be_fortran.npy", base({2, 3, 4}, at::kFloat, 0.5, -3.0)},
      {"u2.npy", base({5}, at::kInt, 16000.0, 1.0)},  // uint16 widens to int32
      {"f4_v2.npy", base({2, 3}, at::kFloat, 1.0, 0.5)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const at::Tensor t = read_npy(fixture(c.file));
    EXPECT_EQ(t.scalar_type(), c.expected.scalar_type());
    EXPECT_EQ(t.sizes(), c.expected.sizes());
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_TRUE(at::equal(t, c.expected));
  }
  const at::Tensor b = read_npy(fixture("bool.npy"));
  EXPECT_EQ(b.scalar_type(), at::kBool);
  EXPECT_TRUE(at::equal(b, at::tensor({0, 1, 0, 1}, at::kInt).to(at::kBool)));
  const at::Tensor s = read_npy(fixture("scalar_f8.npy"));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 3.25);
}

TEST(NpyRead, HeaderFieldsOfBigEndianFortranFile) {
  const std::string bytes = slurp(fixture("f4_be_fortran.npy"));
  const NpyHeader h = parse_npy_header(bytes.data(), bytes.size(), "x.npy");
  EXPECT_EQ(h.major, 1);
  EXPECT_EQ(h.byte_order, '>');
  EXPECT_EQ(h.kind, 'f');
  EXPECT_EQ(h.item_size, 4);
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(h.data_offset % 64, 0u);
  EXPECT_EQ(bytes.size(), h.data_offset + 24 * 4);
}

TEST(NpyWrite, ByteIdenticalToNumpyForCOrderLittleEndian) {
  // NumPy 1.24 pads to 64 bytes and writes the same dict text, so the files must match exactly.
  EXPECT_EQ(encode_npy(base({3, 5}, at::kFloat, 0.25, -1.0)), slurp(fixture("f4_c.npy")));
  EXPECT_EQ(encode_npy(base({6}, at::kInt, 100000.0, -250000.0)), slurp(fixture("i4_le.npy")));
}

TEST(NpyWrite, RoundTripsEveryDtypeAndNonContiguousInput) {
  const std::string dir = test::make_temp_dir("npy_rt");
  const std::vector<at::ScalarType> types = {at::kFloat, at::kDouble, at::kHalf, at::kChar, at::kShort,
                                             at::kInt,   at::kLong,   at::kByte, at::kBool};
  for (auto st : types) {
    SCOPED_TRACE(c10::toString(st));
    const at::Tensor t = base({3, 4, 2}, at::kDouble, 1.0, -5.0).to(st);
    const std::string p = dir + "/a.npy";
    write_npy(p, t);
    EXPECT_TRUE(at::equal(read_npy(p), t));
  }
  const at::Tensor nc = base({4, 6}, at::kFloat).t();  // a transposed view
  ASSERT_FALSE(nc.is_contiguous());
  write_npy(dir + "/nc.npy", nc);
  EXPECT_TRUE(at::equal(read_npy(dir + "/nc.npy"), nc));
  const at::Tensor empty = at::zeros({0, 3}, at::kFloat);
  write_npy(dir + "/empty.npy", empty);
  EXPECT_EQ(read_npy(dir + "/empty.npy").sizes(), empty.sizes());
}

TEST(NpyWrite, LargeShapeHeaderStaysReadable) {
  // A 0-size array with many dims gives a long dict; the header length must still be right.
  std::vector<int64_t> shape(60, 1);
  shape[0] = 0;
  const std::string bytes = encode_npy(at::zeros(shape, at::kFloat));
  const NpyHeader h = parse_npy_header(bytes.data(), bytes.size(), "m.npy");
  EXPECT_EQ(h.shape, shape);
  EXPECT_EQ(h.data_offset, bytes.size());
  EXPECT_EQ(h.data_offset % 64, 0u);
}

TEST(NpyRead, CorruptFilesRaiseDataErrorNamingTheFile) {
  const std::string dir = test::make_temp_dir("npy_bad");
  const std::string good = slurp(fixture("f4_c.npy"));
  auto expect_error = [&](const std::string& name, const std::string& bytes, const std::string& needle) {
    const std::string p = dir + "/" + name;
    test::write_file(p, bytes);
    try {
      read_npy(p);
      ADD_FAILURE() << name << ": no error";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("magic.npy", "\x94" + good.substr(1), "bad magic");
  expect_error("trunc_data.npy", good.substr(0, good.size() - 3), "truncated .npy data");
  expect_error("trunc_header.npy", good.substr(0, 40), "truncated .npy header");
  expect_error("empty.npy", "", "bad magic");
  std::string complex = good;
  complex.replace(complex.find("<f4"), 3, "<c8");
  expect_error("complex.npy", complex, "unsupported dtype");
  std::string broken = good;
  broken.replace(broken.find("'shape'"), 7, "'shapz'");
  expect_error("key.npy", broken, "unexpected key 'shapz'");
  try {
    read_npy(dir + "/missing.npy");
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.npy: cannot open"), std::string::npos) << e.what();
  }
}

TEST(NpzRead, StoredAndDeflatedArchivesFromNumpy) {
  auto stored = read_npz(fixture("stored.npz"));
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_TRUE(at::equal(stored.at("signal"), base({2, 10}, at::kFloat, 0.1, -0.5)));
  EXPECT_EQ(stored.at("fs").item<double>(), 250.0);
  auto deflated = read_npz(fixture("deflate.npz"));
  ASSERT_EQ(deflated.size(), 2u);
  EXPECT_TRUE(at::equal(deflated.at("signal"), base({3, 1000}, at::kFloat, 0.001, -1.5)));
  EXPECT_TRUE(at::equal(deflated.at("labels"), base({3}, at::kLong)));
}

TEST(NpzWrite, RoundTripAndCorruption) {
  const std::string dir = test::make_temp_dir("npz_rt");
  std::map<std::string, at::Tensor> arrays{
      {"x", base({2, 5}, at::kFloat, 0.5)}, {"labels", base({7}, at::kLong)}, {"mask", base({3}, at::kDouble) > 0}};
  const std::string p = dir + "/a.npz";
  write_npz(p, arrays);
  const auto back = read_npz(p);
  ASSERT_EQ(back.size(), arrays.size());
  for (const auto& [k, v] : arrays) EXPECT_TRUE(at::equal(back.at(k), v)) << k;

  // Flip a data byte inside the stored member: the CRC check must catch it.
  std::string bytes = slurp(p);
  const size_t at = bytes.find("\x93NUMPY") + 130;
  bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
  const std::string bad = dir + "/crc.npz";
  test::write_file(bad, bytes);
  EXPECT_THROW(read_npz(bad), DataError);
  test::write_file(dir + "/cut.npz", slurp(p).substr(0, 100));
  try {
    read_npz(dir + "/cut.npz");
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.npz"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cardiotorch::io

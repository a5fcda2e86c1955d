// TensorBoard event files: CRC-32C test vectors, write/read round trips, corruption detection and
// (when /usr/bin/python3 has the tensorboard package) TensorBoard's own reader.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/report/tensorboard.h"
#include "support/test_util.h"

namespace rp = cardiotorch::report;
namespace fs = std::filesystem;

TEST(TensorBoard, Crc32cTestVectors) {
  // "123456789" (the CRC catalogue check value) and RFC 3720 B.4 vectors.
  EXPECT_EQ(rp::crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[static_cast<size_t>(i)] = static_cast<char>(i);
  EXPECT_EQ(rp::crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(rp::crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(rp::crc32c(inc.data(), 32), 0x46DD794Eu);
  // Extending a CRC over a split buffer gives the CRC of the whole.
  EXPECT_EQ(rp::crc32c("456789", 6, rp::crc32c("123", 3)), 0xE3069283u);
  const uint32_t c = 0xE3069283u;
  EXPECT_EQ(rp::masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, ScalarsHistogramsAndTextRoundTrip) {
  const std::string dir = cardiotorch::test::make_temp_dir("tb");
  std::string path;
  {
    rp::TensorBoardWriter w(dir + "/logs/run1");
    path = w.path();
    w.add_scalar("train/loss", 0.6931, 10, 1700000000.5);
    w.add_scalars({{"auroc_macro", 0.875}, {"f1/AF", 0.5}, {"nan_metric", NAN}}, 20, "val");
    std::vector<double> values;
    for (int i = 0; i < 1000; ++i) values.push_back(std::sin(i * 0.1));
    values.push_back(NAN);  // skipped
    w.add_histogram("weights/conv1", values, 20);
    w.add_text("config", "seed: 3\nlr: 1e-3", 0);
    w.add_scalar("train/loss", 0.25, -1);  // negative steps are legal protobuf int64
  }
  EXPECT_NE(fs::path(path).filename().string().find("events.out.tfevents."), std::string::npos);
  const auto events = rp::read_tensorboard_events(path);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_GT(events[0].wall_time, 1.6e9);

  ASSERT_EQ(events[1].values.size(), 1u);
  EXPECT_EQ(events[1].step, 10);
  EXPECT_DOUBLE_EQ(events[1].wall_time, 1700000000.5);
  EXPECT_EQ(events[1].values[0].tag, "train/loss");
  EXPECT_EQ(events[1].values[0].kind, rp::TbValue::Kind::kScalar);
  EXPECT_EQ(events[1].values[0].scalar, static_cast<double>(0.6931f));  // stored as float32

  ASSERT_EQ(events[2].values.size(), 3u);
  EXPECT_EQ(events[2].step, 20);
  EXPECT_EQ(events[2].values[0].tag, "val/auroc_macro");
  EXPECT_EQ(events[2].values[0].scalar, 0.875);
  EXPECT_EQ(events[2].values[1].tag, "val/f1/AF");
  EXPECT_TRUE(std::isnan(events[2].values[2].scalar));

  const auto& h = events[3].values.at(0);
  EXPECT_EQ(h.kind, rp::TbValue::Kind::kHistogram);
  EXPECT_EQ(h.histogram.num, 1000);
  EXPECT_EQ(h.histogram.bucket.size(), 30u);
  EXPECT_EQ(h.histogram.bucket_limit.size(), 30u);
  double total = 0;
  for (double b : h.histogram.bucket) total += b;
  EXPECT_EQ(total, 1000);
  EXPECT_DOUBLE_EQ(h.histogram.bucket_limit.back(), h.histogram.max);
  EXPECT_LE(h.histogram.min, -0.99);
  EXPECT_TRUE(std::is_sorted(h.histogram.bucket_limit.begin(), h.histogram.bucket_limit.end()));

  const auto& t = events[4].values.at(0);
  EXPECT_EQ(t.kind, rp::TbValue::Kind::kText);
  EXPECT_EQ(t.plugin, "text");
  EXPECT_EQ(t.text, "seed: 3\nlr: 1e-3");
  EXPECT_EQ(events[5].step, -1);
}

TEST(TensorBoard, CorruptionAndTruncationAreDetected) {
  const std::string dir = cardiotorch::test::make_temp_dir("tb_bad");
  std::string path;
  {
    rp::TensorBoardWriter w(dir);
    path = w.path();
    w.add_scalar("loss", 1.0, 1);
  }
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  auto expect_error = [&](const std::string& b, const std::string& needle) {
    write(b);
    try {
      rp::read_tensorboard_events(path);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const cardiotorch::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::string flipped = bytes;
  flipped[bytes.size() - 8] ^= 0x01;  // inside the last payload
  expect_error(flipped, "payload CRC mismatch");
  std::string len = bytes;
  len[0] ^= 0x01;  // the first length
  expect_error(len, "length CRC mismatch");
  expect_error(bytes.substr(0, bytes.size() - 3), "truncated");
  write(bytes);
  EXPECT_EQ(rp::read_tensorboard_events(path).size(), 2u);
  EXPECT_THROW(rp::read_tensorboard_events(dir + "/missing"), cardiotorch::DataError);
  EXPECT_THROW(rp::TensorBoardWriter("/proc/no_such_dir/tb"), cardiotorch::Error);
}

TEST(TensorBoard, TensorBoardItselfReadsTheFile) {
  if (std::system("/usr/bin/python3 -c 'import tensorboard' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no tensorboard package";
  const std::string dir = cardiotorch::test::make_temp_dir("tb_py");
  {
    rp::TensorBoardWriter w(dir);
    for (int s = 0; s < 5; ++s) w.add_scalars({{"loss", 1.0 / (s + 1)}}, s, "train");
  }
  const std::string script = dir + "/read.py";
  cardiotorch::test::write_file(script,
                                "import sys\n"
                                "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
                                "ea = EventAccumulator(sys.argv[1]); ea.Reload()\n"
                                "print(' '.join('%d:%.6f' % (e.step, e.value) for e in ea.Scalars('train/loss')))\n");
  FILE* p = popen(("/usr/bin/python3 " + script + " " + dir).c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {};
  const size_t n = fread(buf, 1, sizeof buf - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(buf, n), "0:1.000000 1:0.500000 2:0.333333 3:0.250000 4:0.200000\n");
}

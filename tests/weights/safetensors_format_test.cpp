// The safetensors header: parsing, validation and formatting (torch-free layer).
#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/safetensors_format.h"

namespace st = cardiotorch::weights::safetensors;
using cardiotorch::DataError;

namespace {

std::string error_of(const std::string& json, uint64_t data_len) {
  try {
    st::parse_header(json.data(), json.size(), 8 + json.size() + data_len, "t.safetensors");
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(WeightsSafetensors, ParsesTensorsInDataOrderAndMetadata) {
  const std::string j =
      R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"__metadata__":{"epoch":"3","n":4},)"
      R"("a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"e":{"dtype":"I64","shape":[0],"data_offsets":[12,12]}})";
  const st::Header h = st::parse_header(j.data(), j.size(), 8 + j.size() + 12, "t");
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, "float32");
  EXPECT_EQ(h.tensors[0].shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].dtype, "bfloat16");
  EXPECT_EQ(h.tensors[2].name, "e");
  EXPECT_EQ(h.data_start, 8 + j.size());
  EXPECT_EQ(h.metadata, (std::vector<std::pair<std::string, std::string>>{{"epoch", "3"}, {"n", "4"}}));
}

TEST(WeightsSafetensors, RejectsInconsistentHeaders) {
  EXPECT_NE(error_of("{not json", 0).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1,2]", 0).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4).find("unsupported dtype 'F99'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4).find("4 bytes of data for 2"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4).find("non-negative"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4).find("run backwards"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 2).find("runs past the end"),
            std::string::npos);
  // Overlap, gap, trailing bytes: the ranges must tile the data section.
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                     6)
                .find("must not overlap or leave gaps"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8).find("starts at data byte 4"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9).find("5 bytes after"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4).find("elements"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"a":{"dtype":"F32","shape":[1]}})", 4).find("data_offsets"), std::string::npos);
}

TEST(WeightsSafetensors, HeaderLengthIsCheckedAgainstTheFile) {
  const char len[8] = {0x10, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(st::header_length(len, 8 + 16, "t"), 16u);
  EXPECT_THROW(st::header_length(len, 8 + 15, "t"), DataError);
  EXPECT_THROW(st::header_length(len, 7, "t"), DataError);
  const char huge[8] = {0, 0, 0, 0, 0, 0, 0, 0x10};
  EXPECT_THROW(st::header_length(huge, uint64_t{1} << 62, "t"), DataError);
}

TEST(WeightsSafetensors, FormatRoundTripsAndPadsToEightBytes) {
  std::vector<st::TensorEntry> t = {{"w\"eird", "float16", {2, 2}, 0, 8}, {"b", "bool", {3}, 8, 11}};
  const std::string bytes = st::format_header(t, {{"k", "v \"q\""}});
  const uint64_t n = st::header_length(bytes.data(), bytes.size() + 11, "t");
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(n + 8, bytes.size());
  const st::Header h = st::parse_header(bytes.data() + 8, n, bytes.size() + 11, "t");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "w\"eird");
  EXPECT_EQ(h.tensors[1].dtype, "bool");
  EXPECT_EQ(h.metadata[0].second, "v \"q\"");
  EXPECT_THROW(st::format_header({{"x", "qint8", {1}, 0, 1}}, {}), cardiotorch::ConfigError);
}

// io::wfdb::read_record: the float32 io::Record view of a WFDB record.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/record.h"
#include "cardiotorch/io/wfdb.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace wf = cardiotorch::io::wfdb;

TEST(WfdbRecord, MatchesPhysicalDecodingAndNamesLeads) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/s0010_re.hea");
  const std::string path = ct::test::shared_data("wfdb-python/sample-data") + "/s0010_re";
  ct::io::ReadOptions o;
  o.from = 100;
  o.to = 1100;
  o.channels = {"avr", "13", "V6"};
  const ct::io::Record r = wf::read_record(path, o);
  EXPECT_EQ(r.name, "s0010_re");
  EXPECT_DOUBLE_EQ(r.fs, 1000);
  EXPECT_EQ(r.leads, (std::vector<std::string>{"aVR", "vy", "V6"}));
  EXPECT_EQ(r.units, (std::vector<std::string>{"mV", "mV", "mV"}));
  ASSERT_EQ(r.signal.sizes(), (at::IntArrayRef{3, 1000}));
  EXPECT_EQ(r.signal.scalar_type(), at::kFloat);
  wf::SignalReadOptions so;
  so.from = 100;
  so.to = 1100;
  so.channels = {3, 13, 11};
  const auto p = wf::read_physical(path + ".hea", so);
  const float* x = r.signal.data_ptr<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(x[c * 1000 + i], static_cast<float>(p(c, i))) << c << " " << i;
  EXPECT_FALSE(r.comments.empty());
}

TEST(WfdbRecord, InvalidSamplesAreNanAndUnknownChannelSuggests) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/multi-segment/p000878/p000878-2137-10-26-16-57.hea");
  const std::string path =
      ct::test::shared_data("wfdb-python/sample-data/multi-segment/p000878") + "/p000878-2137-10-26-16-57";
  ct::io::ReadOptions o;
  o.from = 3700;
  o.to = 3800;
  o.channels = {"PLETH"};  // segment 3269321_0001 (from 3750) holds only PLETH
  const auto r = wf::read_record(path, o);
  ASSERT_EQ(r.signal.size(1), 100);
  EXPECT_TRUE(std::isnan(r.signal[0][0].item<float>()));  // null segment '~' up to 3750
  EXPECT_FALSE(std::isnan(r.signal[0][99].item<float>()));
  EXPECT_EQ(r.meta.at("base_date"), "26/10/2137");
  o.channels = {"PLETHH"};
  try {
    wf::read_record(path, o);
    ADD_FAILURE() << "no error";
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'PLETH'"), std::string::npos) << e.what();
  }
}

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/edf.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/report/ecg_plot.h"
#include "support/test_util.h"

namespace cardiotorch::io {
namespace {

struct Sig {
  std::string label, dim;
  double pmin, pmax;
  int dmin, dmax;
  int per_record;
  std::function<int(int64_t)> value;  // digital value of sample i
};

std::string field(const std::string& s, size_t width) {
  std::string out = s.substr(0, width);
  out.resize(width, ' ');
  return out;
}

std::string num(double v, size_t width) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return field(buf, width);
}

// A minimal EDF (or BDF with bdf=true) file written by hand from the spec: a 256-byte fixed
// header, 256 bytes per signal, then n_records data records of interleaved signal blocks.
// With `tals` (EDF+ only), a last "EDF Annotations" signal carries, in data record r, the
// time-keeping TAL "+r" followed by tals[r] (already in TAL syntax).
std::string make_edf(std::vector<Sig> sigs, int n_records, bool bdf = false,
                     const std::vector<std::string>& tals = {}) {
  const bool plus = !tals.empty();
  const int tal_bytes = 64;
  if (plus) sigs.push_back({"EDF Annotations", "", -1, 1, -32768, 32767, tal_bytes / 2, nullptr});
  const size_t ns = sigs.size();
  std::string h;
  h += bdf ? std::string(
                 "\xff"
                 "BIOSEMI")
           : field("0", 8);
  h += field(plus ? "MCH-0234567 F 02-MAY-1951 Haagse_Harry" : "X X X X", 80);
  h += field(plus ? "Startdate 02-MAR-2021 EMG561 BK/JOP Sony." : "Startdate X X X X", 80);
  h += "02.03.21";
  h += "10.20.30";
  h += num(256.0 * (ns + 1), 8);
  h += field(bdf ? "24BIT" : plus ? "EDF+C" : "", 44);
  h += num(n_records, 8);
  h += field("1", 8);
  h += field(std::to_string(ns), 4);
  for (const auto& s : sigs) h += field(s.label, 16);
  for (const auto& s : sigs) h += field(s.value ? "AgAgCl electrode" : "", 80);
  for (const auto& s : sigs) h += field(s.dim, 8);
  for (const auto& s : sigs) h += num(s.pmin, 8);
  for (const auto& s : sigs) h += num(s.pmax, 8);
  for (const auto& s : sigs) h += num(s.dmin, 8);
  for (const auto& s : sigs) h += num(s.dmax, 8);
  for (const auto& s : sigs) h += field(s.value ? "HP:0.05Hz LP:150Hz" : "", 80);
  for (const auto& s : sigs) h += num(s.per_record, 8);
  for (size_t i = 0; i < ns; ++i) h += field("", 32);
  const int bytes = bdf ? 3 : 2;
  for (int r = 0; r < n_records; ++r)
    for (const auto& s : sigs) {
      if (!s.value) {  // the annotation signal: raw TAL bytes, NUL padded
        std::string tal = "+" + std::to_string(r) + "\x14\x14" + std::string(1, '\0') + tals[static_cast<size_t>(r)];
        tal.resize(static_cast<size_t>(tal_bytes), '\0');
        h += tal;
        continue;
      }
      for (int k = 0; k < s.per_record; ++k) {
        const int v = s.value(static_cast<int64_t>(r) * s.per_record + k);
        for (int b = 0; b < bytes; ++b) h += static_cast<char>((v >> (8 * b)) & 0xff);
      }
    }
  return h;
}

int ecg1(int64_t i) { return static_cast<int>((i * 7) % 2000) - 1000; }
int ecg2(int64_t i) { return static_cast<int>(i * 3) - 700; }
int resp(int64_t i) { return static_cast<int>(i * 100); }

std::vector<Sig> three_signals() {
  return {{"ECG I", "uV", -3276.8, 3276.7, -32768, 32767, 250, ecg1},
          {"ECG II", "uV", -3276.8, 3276.7, -32768, 32767, 250, ecg2},
          {"Resp", "", -32768, 32767, -32768, 32767, 25, resp}};
}

class EdfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!edf_supported()) GTEST_SKIP() << "built without EDFlib";
    dir_ = test::make_temp_dir("edf");
  }
  std::string dir_;
};

TEST(EdfLeadName, DropsTheSignalTypePrefix) {
  EXPECT_EQ(edf_lead_name("ECG I"), "I");
  EXPECT_EQ(edf_lead_name("ECG V2"), "V2");
  EXPECT_EQ(edf_lead_name("EKG avr"), "aVR");
  EXPECT_EQ(edf_lead_name("EEG Fp1"), "Fp1");
  EXPECT_EQ(edf_lead_name("  II  "), "II");
  EXPECT_EQ(edf_lead_name("Resp"), "Resp");
  EXPECT_EQ(edf_lead_name("ECG"), "ECG");
}

TEST_F(EdfTest, HandWrittenEdfHeaderAndPhysicalValues) {
  const std::string p = dir_ + "/rec.edf";
  test::write_file(p, make_edf(three_signals(), 4));
  const EdfHeader h = read_edf_header(p);
  EXPECT_EQ(h.file_type, "EDF");
  ASSERT_EQ(h.signals.size(), 3u);
  EXPECT_EQ(h.signals[0].label, "ECG I");
  EXPECT_EQ(h.signals[0].lead, "I");
  EXPECT_EQ(h.signals[1].lead, "II");
  EXPECT_EQ(h.signals[0].fs, 250.0);
  EXPECT_EQ(h.signals[2].fs, 25.0);
  EXPECT_EQ(h.signals[0].units, "uV");
  EXPECT_EQ(h.signals[0].n_samples, 1000);
  EXPECT_EQ(h.signals[0].prefilter, "HP:0.05Hz LP:150Hz");
  EXPECT_DOUBLE_EQ(h.duration_s, 4.0);
  EXPECT_EQ(h.start, "2021-03-02 10:20:30");

  ReadOptions o;
  o.channels = {"II", "ECG I"};  // by lead name and by raw label, in that order
  const Record r = read_edf(p, o);
  EXPECT_EQ(r.fs, 250.0);
  EXPECT_EQ(r.leads, (std::vector<std::string>{"II", "I"}));
  EXPECT_EQ(r.units, (std::vector<std::string>{"uV", "uV"}));
  ASSERT_EQ(r.signal.sizes(), (std::vector<int64_t>{2, 1000}));
  at::Tensor want = at::empty({2, 1000}, at::kDouble);
  for (int64_t i = 0; i < 1000; ++i) {
    want[0][i] = ecg2(i) * 0.1;  // (pmax - pmin) / (dmax - dmin) = 0.1 uV per unit
    want[1][i] = ecg1(i) * 0.1;
  }
  EXPECT_TRUE(at::allclose(r.signal.to(at::kDouble), want, 0, 1e-4));

  // A window, and the dispatcher reaching the same reader.
  o.from = 260;
  o.to = 510;
  const Record w = read_record(p, o);
  ASSERT_EQ(w.n_samples(), 250);
  EXPECT_TRUE(at::allclose(w.signal.to(at::kDouble), want.slice(1, 260, 510), 0, 1e-4));

  ReadOptions slow;
  slow.channels = {"Resp"};
  const Record rr = read_edf(p, slow);
  EXPECT_EQ(rr.fs, 25.0);
  ASSERT_EQ(rr.n_samples(), 100);
  EXPECT_NEAR(rr.signal[0][99].item<float>(), resp(99), 1e-3);
}

TEST_F(EdfTest, DifferentRatesNeedASelection) {
  const std::string p = dir_ + "/mixed.edf";
  test::write_file(p, make_edf(three_signals(), 2));
  try {
    read_edf(p);
    ADD_FAILURE();
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(p), std::string::npos) << m;
    EXPECT_NE(m.find("different sampling rates"), std::string::npos) << m;
    EXPECT_NE(m.find("Resp 25 Hz"), std::string::npos) << m;
  }
  ReadOptions o;
  o.channels = {"V5"};
  try {
    read_edf(p, o);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no channel 'V5'"), std::string::npos) << e.what();
  }
}

TEST_F(EdfTest, EdfPlusSignalsWithAnnotations) {
  const std::string nul(1, '\0');
  const std::vector<std::string> tals = {
      "+0.5\x15"
      "0.04\x14N\x14" +
          nul,
      "+1.25\x14V\x14" + nul, ""};
  const std::string p = dir_ + "/plus.edf";
  test::write_file(p, make_edf({three_signals()[0], three_signals()[1]}, 3, false, tals));
  const EdfHeader h = read_edf_header(p);
  EXPECT_EQ(h.file_type, "EDF+");
  ASSERT_EQ(h.signals.size(), 2u);  // the annotation channel is not a signal
  const Record r = read_record(p);
  EXPECT_EQ(r.leads, (std::vector<std::string>{"I", "II"}));
  EXPECT_EQ(r.n_samples(), 750);
  EXPECT_NEAR(r.signal[1][749].item<float>(), ecg2(749) * 0.1, 1e-4);
  EXPECT_EQ(r.meta.at("format"), "EDF+");
  const auto ann = read_edf_annotations(p);
  ASSERT_EQ(ann.size(), 2u);
  EXPECT_DOUBLE_EQ(ann[0].onset_s, 0.5);
  EXPECT_DOUBLE_EQ(ann[0].duration_s, 0.04);
  EXPECT_EQ(ann[0].text, "N");
  EXPECT_DOUBLE_EQ(ann[1].onset_s, 1.25);
  EXPECT_EQ(ann[1].duration_s, -1.0);
  EXPECT_EQ(ann[1].text, "V");
}

TEST_F(EdfTest, PlotMarksEdfPlusAnnotations) {
  if (!report::plot_supported()) GTEST_SKIP() << "built without cairo";
  const std::string nul(1, '\0');
  const std::vector<std::string> tals = {"+0.5\x14N\x14" + nul, "+1.25\x14Ventricular ectopic beat\x14" + nul, ""};
  const std::string p = dir_ + "/plus.edf";
  test::write_file(p, make_edf({three_signals()[0], three_signals()[1]}, 3, false, tals));
  // One tick per annotation (the marker colour), at onset x 25 mm/s apart; none with --annotator none.
  auto ticks = [](const std::string& svg) {
    std::vector<double> xs;
    const std::string style = "stroke:rgb(10%,25%,75%)";
    for (size_t at = svg.find(style); at != std::string::npos; at = svg.find(style, at + 1)) {
      const size_t d = svg.find("d=\"M ", at);
      xs.push_back(std::stod(svg.substr(d + 5)));
    }
    return xs;
  };
  std::string out;
  ASSERT_EQ(test::run_cli("plot " + p + " --leads I -o " + dir_ + "/a.svg", &out), 0) << out;  // one strip
  const auto xs = ticks(read_file(dir_ + "/a.svg"));
  ASSERT_EQ(xs.size(), 2u) << out;
  EXPECT_NEAR(xs[1] - xs[0], 0.75 * 25, 1e-2);  // mm at 25 mm/s
  ASSERT_EQ(test::run_cli("plot " + p + " --leads I --annotator none -o " + dir_ + "/b.svg", &out), 0) << out;
  EXPECT_TRUE(ticks(read_file(dir_ + "/b.svg")).empty());
  EXPECT_EQ(test::run_cli("plot " + p + " --annotator atr -o " + dir_ + "/c.svg", &out), 2);
  // Long texts are cut so markers stay readable.
  const auto m = report::edf_markers(read_edf_annotations(p));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1].label, "Ventricular ecto...");
  EXPECT_DOUBLE_EQ(m[1].time_s, 1.25);
}

TEST_F(EdfTest, CliInfoAndPlotWithMixedRates) {
  const std::string p = dir_ + "/mixed.edf";
  test::write_file(p, make_edf(three_signals(), 4));
  std::string out;
  ASSERT_EQ(test::run_cli("info " + p + " --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["mixed_rates"], true);
  ASSERT_EQ(j["leads"].size(), 3u);
  EXPECT_EQ(j["leads"][0]["name"], "I");
  EXPECT_EQ(j["leads"][0]["units"], "uV");
  EXPECT_EQ(j["leads"][2]["fs"], 25.0);
  EXPECT_EQ(j["leads"][2]["samples"], 100);
  EXPECT_NEAR(j["leads"][2]["max"].get<double>(), resp(99), 1e-3);
  EXPECT_NEAR(j["leads"][0]["gain"].get<double>(), 10.0, 1e-9);  // adu per uV
  // Plotting needs one rate: all leads is an error naming the rates, a selection works.
  EXPECT_EQ(test::run_cli("plot " + p + " -o " + dir_ + "/m.png", &out), 1);
  EXPECT_NE(out.find("different sampling rates"), std::string::npos) << out;
  EXPECT_EQ(test::run_cli("plot " + p + " --leads I,II -o " + dir_ + "/m.png", &out), 0) << out;
}

TEST_F(EdfTest, Bdf24BitSamples) {
  auto v = [](int64_t i) { return static_cast<int>(i * 1000 - 50000); };  // needs more than 16 bits
  const std::string p = dir_ + "/rec.bdf";
  test::write_file(p, make_edf({{"EEG Fp1", "uV", -8388608, 8388607, -8388608, 8388607, 128, v}}, 3, true));
  const Record r = read_record(p);
  EXPECT_EQ(r.meta.at("format"), "BDF");
  EXPECT_EQ(r.leads, std::vector<std::string>{"Fp1"});
  EXPECT_EQ(r.fs, 128.0);
  ASSERT_EQ(r.n_samples(), 384);
  for (int64_t i : {0, 1, 127, 128, 383}) EXPECT_NEAR(r.signal[0][i].item<float>(), v(i), 1e-2) << i;
}

TEST_F(EdfTest, EdfPlusAnnotationsOnlyFile) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/test_edfann.edf");
  const std::string p = test::shared_data("wfdb-python/sample-data/test_edfann.edf");
  const EdfHeader h = read_edf_header(p);
  EXPECT_EQ(h.file_type, "EDF+");
  EXPECT_TRUE(h.signals.empty());
  const auto ann = read_edf_annotations(p);
  ASSERT_EQ(ann.size(), 856u);
  EXPECT_EQ(ann[0].text, "Sleep stage W");
  EXPECT_DOUBLE_EQ(ann[0].onset_s, 0.0);
  EXPECT_DOUBLE_EQ(ann[0].duration_s, 30.0);
  EXPECT_DOUBLE_EQ(ann[2].onset_s, 33.43);
  EXPECT_EQ(ann[2].text, "Lights off@@EEG F4-A1");
  for (size_t i = 1; i < ann.size(); ++i) EXPECT_GE(ann[i].onset_s, ann[i - 1].onset_s);
  try {
    read_record(p);
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("no data signals"), std::string::npos) << e.what();
  }
}

TEST_F(EdfTest, BadHeaderAndTruncatedDataNameTheFile) {
  const std::string good = make_edf(three_signals(), 2);
  auto expect_error = [&](const std::string& name, const std::string& bytes) {
    const std::string p = dir_ + "/" + name;
    test::write_file(p, bytes);
    try {
      read_record(p);
      ADD_FAILURE() << name;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  std::string bad_ns = good;
  bad_ns.replace(252, 4, "ab  ");
  expect_error("bad_ns.edf", bad_ns);
  std::string bad_date = good;
  bad_date.replace(168, 8, "32.13.21");
  expect_error("bad_date.edf", bad_date);
  expect_error("cut.edf", good.substr(0, good.size() - 10));
  expect_error("tiny.edf", "0       ");
}

}  // namespace
}  // namespace cardiotorch::io

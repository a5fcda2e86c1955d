#pragma once
// Reading the JSON fixtures of tests/fixtures/train (NaN is stored as null).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace cardiotorch::test {

inline nlohmann::json load_json_fixture(const std::string& name) {
  std::ifstream f(source_path("tests/fixtures/train/" + name));
  EXPECT_TRUE(f.good()) << name;
  return nlohmann::json::parse(f);
}

inline double num(const nlohmann::json& j) {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}

inline std::vector<double> nums(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(num(x));
  return v;
}

/// A 1-D or 2-D JSON array as a double tensor (or int64 with `integer`).
inline at::Tensor tensor_of(const nlohmann::json& j, bool integer = false) {
  std::vector<double> flat;
  int64_t rows = static_cast<int64_t>(j.size()), cols = -1;
  for (const auto& r : j) {
    if (r.is_array()) {
      cols = static_cast<int64_t>(r.size());
      for (const auto& x : r) flat.push_back(num(x));
    } else {
      flat.push_back(num(r));
    }
  }
  at::Tensor t = at::tensor(flat, at::kDouble);
  if (cols >= 0) t = t.reshape({rows, cols});
  return integer ? t.to(at::kLong) : t;
}

/// Equal within tol, or both NaN.
inline void expect_close(double actual, double expected, double tol, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": expected NaN, got " << actual;
  } else {
    EXPECT_NEAR(actual, expected, tol) << what;
  }
}

inline void expect_all_close(const std::vector<double>& actual, const std::vector<double>& expected, double tol,
                             const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    expect_close(actual[i], expected[i], tol, what + "[" + std::to_string(i) + "]");
}

}  // namespace cardiotorch::test

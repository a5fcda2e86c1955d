#pragma once
// Helpers of the dist tests: ranks as threads of this process over an in-memory store, and a
// small labelled in-memory dataset.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cardiotorch/data/dataset.h"
#include "cardiotorch/dist/process_group.h"

namespace cardiotorch::test {

inline dist::DistOptions gloo_options(double timeout_s = 20) {
  dist::DistOptions o;
  o.backend = "gloo";
  o.timeout_s = timeout_s;
  return o;
}

/// Runs body(group) on `world` threads, one rank each; rethrows the first rank's exception.
inline void run_ranks(int world, const std::function<void(const dist::ProcessGroupPtr&)>& body,
                      const dist::DistOptions& o = gloo_options()) {
  auto store = dist::Store::in_memory();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        auto group = dist::ProcessGroup::create(store, r, world, o);
        body(group);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

/// n samples of 2 leads x 16 in three classes whose signals differ by an offset (overlapping:
/// a model's scores are imperfect, so rank metrics and F1 are not trivially 1).
inline std::shared_ptr<data::InMemoryDataset> three_class_data(int64_t n, uint64_t seed = 1) {
  data::DatasetInfo info;
  info.name = "synthetic";
  info.class_names = {"a", "b", "c"};
  info.label_kind = data::LabelKind::kClassIndex;
  std::vector<data::Sample> samples;
  std::vector<data::ItemInfo> items;
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (int64_t i = 0; i < n; ++i) {
    data::Sample s;
    const int64_t c = (i * 7 + 1) % 3;
    s.signal = at::randn({2, 16}, g, at::kFloat) + 0.5 * static_cast<double>(c);
    s.fs = 100;
    s.leads = {"I", "II"};
    s.label = at::scalar_tensor(c, at::kLong);
    s.record_id = "r" + std::to_string(i);
    s.patient_id = "p" + std::to_string(i);
    data::ItemInfo it;
    it.record_id = s.record_id;
    it.patient_id = s.patient_id;
    it.classes = {c};
    samples.push_back(s);
    items.push_back(it);
  }
  return std::make_shared<data::InMemoryDataset>(info, samples, items);
}

}  // namespace cardiotorch::test

#define CT_SKIP_WITHOUT_GLOO() \
  if (!::cardiotorch::dist::backend_available("gloo")) GTEST_SKIP() << "this build has no Gloo backend"

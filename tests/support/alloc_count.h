#pragma once
// Counts what a piece of code costs in CPU tensor allocations and ATen operator calls, to pin
// down "no temporaries" and "no extra passes" in tests.
//
//   ct::test::OpAllocCounter c;          // counting starts
//   step->apply(batch, ctx);
//   EXPECT_EQ(c.allocations(240000), 0); // tensors of >= 240,000 bytes allocated since
//   EXPECT_TRUE(c.data_ops().empty());   // ATen ops that read or write data (not views)
#include <ATen/record_function.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cardiotorch/core/runtime.h"

namespace cardiotorch::test {

class OpAllocCounter {
 public:
  OpAllocCounter() : counting_(c10::GetCPUAllocator(), this) {
    c10::SetCPUAllocator(&counting_, /*priority=*/kPriority);
    sink() = this;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&on_op).scopes({at::RecordScope::FUNCTION}));
  }
  ~OpAllocCounter() {
    at::removeCallback(handle_);
    sink() = nullptr;
    c10::SetCPUAllocator(counting_.base(), kPriority);
  }
  OpAllocCounter(const OpAllocCounter&) = delete;
  OpAllocCounter& operator=(const OpAllocCounter&) = delete;

  /// CPU tensor storages of at least `min_bytes` allocated since construction (any thread).
  int64_t allocations(size_t min_bytes = 0) const {
    std::lock_guard<std::mutex> lk(mu_);
    int64_t n = 0;
    for (size_t b : sizes_) n += b >= min_bytes ? 1 : 0;
    return n;
  }
  /// Every ATen operator called on this thread, nested ones included ("aten::fft_rfft", ...).
  std::vector<std::string> ops() const { return ops_; }
  /// The operators that touch tensor data: every op but allocation, views and metadata.
  std::vector<std::string> data_ops() const {
    static const std::set<std::string> meta = {"aten::empty",
                                               "aten::empty_like",
                                               "aten::empty_strided",
                                               "aten::view",
                                               "aten::reshape",
                                               "aten::_reshape_alias",
                                               "aten::narrow",
                                               "aten::slice",
                                               "aten::as_strided",
                                               "aten::select",
                                               "aten::squeeze",
                                               "aten::unsqueeze",
                                               "aten::contiguous",
                                               "aten::detach",
                                               "aten::alias",
                                               "aten::expand",
                                               "aten::flatten",
                                               "aten::t",
                                               "aten::transpose",
                                               "aten::permute",
                                               "aten::resolve_conj",
                                               "aten::resolve_neg",
                                               "aten::_unsafe_view",
                                               "aten::view_as_real",
                                               "aten::view_as_complex",
                                               "aten::resize_",
                                               "aten::lift_fresh",
                                               "aten::is_nonzero",
                                               "aten::size",
                                               "aten::stride"};
    std::vector<std::string> out;
    for (const auto& o : ops_)
      if (!meta.count(o)) out.push_back(o);
    return out;
  }

 private:
  static constexpr uint8_t kPriority = 0;

  class Counting : public at::Allocator {
   public:
    Counting(at::Allocator* base, OpAllocCounter* owner) : base_(base), owner_(owner) {}
    at::Allocator* base() const { return base_; }
#if CT_TORCH_AT_LEAST(2, 3)
    at::DataPtr allocate(size_t n) override {
      owner_->record(n);
      return base_->allocate(n);
    }
    void copy_data(void* dest, const void* src, std::size_t count) const override {
      base_->copy_data(dest, src, count);
    }
#else
    at::DataPtr allocate(size_t n) const override {
      owner_->record(n);
      return base_->allocate(n);
    }
#endif
    at::DeleterFnPtr raw_deleter() const override { return base_->raw_deleter(); }

   private:
    at::Allocator* base_;
    OpAllocCounter* owner_;
  };

  static OpAllocCounter*& sink() {
    thread_local OpAllocCounter* s = nullptr;
    return s;
  }
  static std::unique_ptr<at::ObserverContext> on_op(const at::RecordFunction& fn) {
    if (OpAllocCounter* c = sink()) c->ops_.emplace_back(fn.name());
    return nullptr;
  }
  void record(size_t n) {
    std::lock_guard<std::mutex> lk(mu_);
    sizes_.push_back(n);
  }

  Counting counting_;
  at::CallbackHandle handle_ = 0;
  mutable std::mutex mu_;
  std::vector<size_t> sizes_;
  std::vector<std::string> ops_;
};

}  // namespace cardiotorch::test

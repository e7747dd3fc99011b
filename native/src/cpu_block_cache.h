// libtorch's CPU allocator, with freed large blocks kept for reuse instead of returned to glibc.
//
// Why (measured, MobileNetV2 fp32, batch 16, 224 px, 2 threads): our compute runs on the
// executor's thread (executor.h), and glibc gives that thread its own arena, whose heaps are
// unmapped as soon as they empty. Every step then page-faults its activations back in: 75k minor
// faults per predict and 230–380k per training step (300 MB and 1–1.5 GB of zeroed pages).
// Python runs on its main thread, whose brk heap keeps freed memory: 0–38k faults per predict.
// With the blocks kept here, 3–42 faults per predict and 1.4–2k per step: predict 276–315 →
// 229–231 ms, a training step 1,059–1,427 → 829–833 ms. (GLIBC_TUNABLES=arena_max=1 with fixed
// mmap/trim thresholds does much the same, but only if set before the process starts.)
//
// Blocks under 1 MiB go to glibc as before (its bins reuse them without faults). A request takes
// the smallest cached block that is at least its size and at most a quarter larger. What is cached
// is capped by TypeScript (engine/native.ts sets the cap right after load, before any tensor; until
// then it is 0: the cache is off): past the cap the whole cache is given back to glibc first.
#pragma once
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <atomic>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace cxr {

class CpuBlockCache final : public c10::Allocator {
 public:
  static constexpr size_t kMinBlock = size_t{1} << 20;
  static constexpr size_t kGranule = size_t{1} << 16;

  static CpuBlockCache& instance() {
    static CpuBlockCache* c = new CpuBlockCache();  // never destroyed: blocks outlive statics
    return *c;
  }

  // The most bytes of freed blocks kept (0: none, every block goes back to glibc). A lower cap
  // gives the cache back at once if it holds more.
  void set_cap(size_t bytes) {
    std::lock_guard<std::mutex> g(mu_);
    cap_ = bytes;
    if (cached_ > cap_) empty_locked();
  }
  size_t cap() const { return cap_; }

  c10::DataPtr allocate(size_t n) const override {
    if (n < kMinBlock || cap_ == 0) {
      void* p = c10::alloc_cpu(n);
      return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t want = (n + kGranule - 1) / kGranule * kGranule;
    std::unique_lock<std::mutex> g(mu_);
    auto it = free_.lower_bound(want);
    void* p;
    size_t size;
    if (it != free_.end() && it->first <= want + want / 4) {
      std::tie(size, p) = *it;
      cached_ -= size;
      free_.erase(it);
    } else {
      g.unlock();  // glibc's allocation outside the lock
      size = want;
      p = c10::alloc_cpu(size);
      g.lock();
    }
    live_[p] = size;
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  CpuBlockCache() = default;

  // Blocks under kMinBlock never reach here with a cap (allocate frees them with free_cpu);
  // raw_deallocate of one does, and is not in live_.
  static void release(void* p) {
    const auto& c = instance();
    std::lock_guard<std::mutex> g(c.mu_);
    auto it = c.live_.find(p);
    if (it == c.live_.end()) {
      c10::free_cpu(p);
      return;
    }
    const size_t size = it->second;
    c.live_.erase(it);
    if (c.cached_ + size > c.cap_) c.empty_locked();
    if (size > c.cap_) {
      c10::free_cpu(p);
      return;
    }
    c.free_.emplace(size, p);
    c.cached_ += size;
  }

  void empty_locked() const {
    for (auto& [size, p] : free_) c10::free_cpu(p);
    free_.clear();
    cached_ = 0;
  }

  // Written under mu_; allocate() reads it without the lock to pass small and uncached blocks by.
  std::atomic<size_t> cap_{0};
  mutable std::mutex mu_;
  mutable std::multimap<size_t, void*> free_;
  mutable std::unordered_map<void*, size_t> live_;
  mutable size_t cached_ = 0;
};

}  // namespace cxr

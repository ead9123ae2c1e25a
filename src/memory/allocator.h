// Accounted memory: every byte pbmem allocates for a model goes through a MemoryAccount, tagged
// with a category. Stats use TensorFlow's AllocatorStats field names and semantics
// (num_allocs, bytes_in_use, peak_bytes_in_use, largest_alloc_size, bytes_limit), kept per run
// (reset at each run's start) and over the account's lifetime.
//
// Code deep in kernels (e.g. oneDNN weight reorders at prepare) allocates through the account
// installed for the current thread by a ScopedAccount, so kernels need no extra parameters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/status.h"

namespace pbmem {

enum class MemoryCategory : int { kWeightsPacked = 0, kActivations, kScratch, kIo, kOther };
inline constexpr int kNumMemoryCategories = 5;
const char* memory_category_name(MemoryCategory category);  // "weights_packed", ...

struct AllocatorStats {
  int64_t num_allocs = 0;
  int64_t bytes_in_use = 0;
  int64_t peak_bytes_in_use = 0;
  int64_t largest_alloc_size = 0;
  int64_t bytes_limit = 0;  // 0: no limit set
};

using CategoryBytes = std::array<int64_t, kNumMemoryCategories>;

class MemoryAccount : public std::enable_shared_from_this<MemoryAccount> {
 public:
  static std::shared_ptr<MemoryAccount> create() { return std::shared_ptr<MemoryAccount>(new MemoryAccount()); }

  // A kTensorAlignment-aligned block that gives its bytes back to this account when the last
  // holder goes. Fails with ResourceExhausted over the limit or when the system refuses.
  Result<std::shared_ptr<void>> allocate(int64_t bytes, MemoryCategory category);

  void set_limit(int64_t bytes_limit);  // 0: none
  int64_t limit() const;
  // Bytes in use plus the request at the latest refusal over the limit (0: none yet): a lower
  // bound of what the refused work needed.
  int64_t refused_need_bytes() const;
  // Starts a run: the run's peak starts at the bytes in use now, its counters at zero.
  void begin_run();
  AllocatorStats run_stats() const;
  AllocatorStats lifetime_stats() const;
  CategoryBytes bytes_in_use_by_category() const;
  CategoryBytes run_peak_by_category() const;

 private:
  MemoryAccount() = default;
  void release(int64_t bytes, MemoryCategory category);

  mutable std::mutex mutex_;
  int64_t limit_ = 0;
  int64_t refused_need_ = 0;
  AllocatorStats run_;
  AllocatorStats lifetime_;
  CategoryBytes in_use_by_category_{};
  CategoryBytes run_peak_by_category_{};
};

// Installs `account` and `category` for allocations made on this thread (Tensor::allocate and
// allocate_accounted) until the scope ends. Scopes nest.
class ScopedAccount {
 public:
  ScopedAccount(std::shared_ptr<MemoryAccount> account, MemoryCategory category);
  ~ScopedAccount();
  ScopedAccount(const ScopedAccount&) = delete;
  ScopedAccount& operator=(const ScopedAccount&) = delete;

 private:
  std::shared_ptr<MemoryAccount> previous_account_;
  MemoryCategory previous_category_;
};

// Allocates through the thread's current account (or untracked when none is installed).
Result<std::shared_ptr<void>> allocate_accounted(int64_t bytes);

}  // namespace pbmem

#include "memory/allocator.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include <sys/mman.h>
#include <unistd.h>

#include "core/tensor.h"

namespace pbmem {

namespace {

thread_local std::shared_ptr<MemoryAccount> t_account;
thread_local MemoryCategory t_category = MemoryCategory::kOther;

// Blocks at least this large get their own anonymous mapping, so freeing them gives the pages
// back to the system at once. Through malloc they could stay in the heap: a process whose
// glibc raised its mmap threshold (NumPy's large frees do, up to 32 MiB) would keep prepare's
// temporaries resident after they are freed, and RSS would no longer match the accounting.
constexpr size_t kOwnMappingBytes = 256 * 1024;

size_t aligned_size(int64_t bytes) {
  // aligned_alloc needs a non-zero multiple of the alignment.
  size_t n = static_cast<size_t>(std::max<int64_t>(bytes, 1));
  return (n + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

size_t page_rounded(size_t bytes) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

// Blocks of at least one huge page that prepare fills whole (weights_packed: packed weights,
// realigned and scaled copies of filters) are mapped on a huge-page boundary and advised
// MADV_HUGEPAGE. Faulting 4 KiB pages in is what preparing a large model mostly cost (one fault
// and one zeroed page per 4 KiB: ~60 ms per 100 MB here, ~6 ms with 2 MiB pages). Every byte
// of such a block is written at once, so huge pages make nothing resident that 4 KiB pages
// would not: RSS still matches the accounting. Other categories (the arena, I/O buffers) keep
// 4 KiB pages: parts of them may stay untouched. Where THP is off the advice is a no-op.
constexpr size_t kHugePageBytes = size_t{2} << 20;

// A raw block and how to free it (mmap for large blocks, aligned_alloc otherwise).
struct RawBlock {
  void* ptr = nullptr;
  size_t mapped_bytes = 0;  // 0: from aligned_alloc
};

// A mapping of `mapped` bytes starting on a huge-page boundary: over-map by one huge page and
// unmap the unaligned head and the tail.
void* map_huge_aligned(size_t mapped) {
  const size_t padded = mapped + kHugePageBytes;
  void* raw = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  if (aligned > begin) ::munmap(raw, aligned - begin);
  const size_t tail = begin + padded - (aligned + mapped);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + mapped), tail);
  ::madvise(reinterpret_cast<void*>(aligned), mapped, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

RawBlock raw_allocate(int64_t bytes, MemoryCategory category) {
  size_t size = aligned_size(bytes);
  if (size >= kOwnMappingBytes) {
    size_t mapped = page_rounded(size);
    if (category == MemoryCategory::kWeightsPacked && mapped >= kHugePageBytes) {
      void* p = map_huge_aligned(mapped);
      return p == nullptr ? RawBlock{} : RawBlock{p, mapped};
    }
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? RawBlock{} : RawBlock{p, mapped};
  }
  return RawBlock{std::aligned_alloc(kTensorAlignment, size), 0};
}

void raw_free(const RawBlock& block) {
  if (block.mapped_bytes > 0) {
    ::munmap(block.ptr, block.mapped_bytes);
  } else {
    std::free(block.ptr);
  }
}

Result<std::shared_ptr<void>> allocate_untracked(int64_t bytes) {
  RawBlock block = raw_allocate(bytes, MemoryCategory::kOther);
  if (block.ptr == nullptr) return resource_exhausted("cannot allocate ", bytes, " bytes");
  return std::shared_ptr<void>(block.ptr, [block](void*) { raw_free(block); });
}

void note_alloc(AllocatorStats& s, int64_t bytes) {
  ++s.num_allocs;
  s.bytes_in_use += bytes;
  s.peak_bytes_in_use = std::max(s.peak_bytes_in_use, s.bytes_in_use);
  s.largest_alloc_size = std::max(s.largest_alloc_size, bytes);
}

}  // namespace

const char* memory_category_name(MemoryCategory category) {
  switch (category) {
    case MemoryCategory::kWeightsPacked: return "weights_packed";
    case MemoryCategory::kActivations: return "activations";
    case MemoryCategory::kScratch: return "scratch";
    case MemoryCategory::kIo: return "io";
    case MemoryCategory::kOther: return "other";
  }
  return "other";
}

Result<std::shared_ptr<void>> MemoryAccount::allocate(int64_t bytes, MemoryCategory category) {
  if (bytes < 0) return invalid_argument("cannot allocate a negative size (", bytes, " bytes)");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (limit_ > 0 && bytes > limit_ - lifetime_.bytes_in_use) {
      refused_need_ = bytes > INT64_MAX - lifetime_.bytes_in_use ? INT64_MAX : lifetime_.bytes_in_use + bytes;
      return resource_exhausted("allocating ", bytes, " bytes (", memory_category_name(category),
                                ") would exceed the memory limit of ", limit_, " bytes (",
                                lifetime_.bytes_in_use, " in use)");
    }
    note_alloc(run_, bytes);
    note_alloc(lifetime_, bytes);
    int c = static_cast<int>(category);
    in_use_by_category_[c] += bytes;
    run_peak_by_category_[c] = std::max(run_peak_by_category_[c], in_use_by_category_[c]);
  }
  RawBlock block = raw_allocate(bytes, category);
  if (block.ptr == nullptr) {
    release(bytes, category);
    return resource_exhausted("cannot allocate ", bytes, " bytes (", memory_category_name(category), ")");
  }
  std::shared_ptr<MemoryAccount> self = shared_from_this();
  return std::shared_ptr<void>(block.ptr, [self, block, bytes, category](void*) {
    raw_free(block);
    self->release(bytes, category);
  });
}

void MemoryAccount::release(int64_t bytes, MemoryCategory category) {
  std::lock_guard<std::mutex> lock(mutex_);
  run_.bytes_in_use -= bytes;
  lifetime_.bytes_in_use -= bytes;
  in_use_by_category_[static_cast<int>(category)] -= bytes;
}

void MemoryAccount::set_limit(int64_t bytes_limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = std::max<int64_t>(bytes_limit, 0);
  run_.bytes_limit = lifetime_.bytes_limit = limit_;
}

int64_t MemoryAccount::refused_need_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refused_need_;
}

int64_t MemoryAccount::limit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return limit_;
}

void MemoryAccount::begin_run() {
  std::lock_guard<std::mutex> lock(mutex_);
  run_.num_allocs = 0;
  run_.largest_alloc_size = 0;
  run_.bytes_in_use = lifetime_.bytes_in_use;
  run_.peak_bytes_in_use = lifetime_.bytes_in_use;
  run_peak_by_category_ = in_use_by_category_;
}

AllocatorStats MemoryAccount::run_stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return run_;
}

AllocatorStats MemoryAccount::lifetime_stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lifetime_;
}

CategoryBytes MemoryAccount::bytes_in_use_by_category() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_use_by_category_;
}

CategoryBytes MemoryAccount::run_peak_by_category() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return run_peak_by_category_;
}

ScopedAccount::ScopedAccount(std::shared_ptr<MemoryAccount> account, MemoryCategory category)
    : previous_account_(std::move(t_account)), previous_category_(t_category) {
  t_account = std::move(account);
  t_category = category;
}

ScopedAccount::~ScopedAccount() {
  t_account = std::move(previous_account_);
  t_category = previous_category_;
}

Result<std::shared_ptr<void>> allocate_accounted(int64_t bytes) {
  if (t_account) return t_account->allocate(bytes, t_category);
  if (bytes < 0) return invalid_argument("cannot allocate a negative size (", bytes, " bytes)");
  return allocate_untracked(bytes);
}

}  // namespace pbmem

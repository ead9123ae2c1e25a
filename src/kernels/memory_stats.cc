// TensorFlow's memory-stats ops (tf.contrib.memory_stats): MaxBytesInUse, BytesInUse and
// BytesLimit. No inputs (usually ordered by control edges), one int64 scalar output: the value
// of the session's accounted allocator at the point in the schedule where the op runs, with
// the run's peak reset at the run's start. Never folded: the value depends on when it runs.
#include "kernels/kernel.h"
#include "memory/allocator.h"

namespace pbmem {

namespace {

enum class MemoryStat { kMaxBytesInUse, kBytesInUse, kBytesLimit };

template <MemoryStat kStat>
class MemoryStatKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(0, 0));
    ctx.set_output(0, DType::kInt64, Shape());
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    const MemoryAccount* account = ctx.memory_account();
    if (account == nullptr) return ctx.error("needs the session's allocator, which is not available here");
    AllocatorStats stats = account->run_stats();
    int64_t value = 0;
    switch (kStat) {
      case MemoryStat::kMaxBytesInUse: value = stats.peak_bytes_in_use; break;
      case MemoryStat::kBytesInUse: value = stats.bytes_in_use; break;
      case MemoryStat::kBytesLimit: value = stats.bytes_limit; break;
    }
    *ctx.output(0).data<int64_t>() = value;
    return ok_status();
  }
};

}  // namespace

Status register_memory_stats_ops(OpRegistry& registry) {
  return registry.add_all({
      {"MaxBytesInUse", op_record<MemoryStatKernel<MemoryStat::kMaxBytesInUse>>().not_foldable().pins_schedule()},
      {"BytesInUse", op_record<MemoryStatKernel<MemoryStat::kBytesInUse>>().not_foldable().pins_schedule()},
      {"BytesLimit", op_record<MemoryStatKernel<MemoryStat::kBytesLimit>>().not_foldable().pins_schedule()},
  });
}

}  // namespace pbmem

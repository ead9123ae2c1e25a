// Pad, PadV2 (constant padding) and MirrorPad (REFLECT / SYMMETRIC), plus the registration of
// the slice family (StridedSlice and Slice live in strided_slice.cc).
//
// MirrorPad splits each dim into three runs: the mirrored "before" run (read backwards), the
// input itself, and the mirrored "after" run. Every combination of runs across dims is one affine
// CopyPlan, so the whole op is at most 3^rank memcpy-friendly copies planned once in infer().
#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

enum class PadMode { kConstant, kReflect, kSymmetric };

class PadKernel : public Kernel {
 public:
  explicit PadKernel(PadMode mode, bool has_value) : mode_(mode), has_value_(has_value) {}

  Status infer(InferContext& ctx) override {
    const int inputs = has_value_ ? 3 : 2;
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(inputs, inputs));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "paddings"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "paddings", 2));
    if (mode_ != PadMode::kConstant) {
      PBMEM_ASSIGN_OR_RETURN(std::string mode, ctx.node().attr_string("mode"));
      if (mode == "REFLECT") {
        mode_ = PadMode::kReflect;
      } else if (mode == "SYMMETRIC") {
        mode_ = PadMode::kSymmetric;
      } else {
        return ctx.error("attribute 'mode' must be REFLECT or SYMMETRIC, got '", mode, "'");
      }
    }
    if (has_value_) {
      if (ctx.input_dtype(2) != dtype) {
        return ctx.error("input 2 'constant_values' is ", dtype_name(ctx.input_dtype(2)), " but input 0 is ",
                         dtype_name(dtype));
      }
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 2, "constant_values", 0));
    }
    const Shape& in = ctx.input_shape(0);
    const Shape& pad_shape = ctx.input_shape(1);
    int rank = in.known_rank() ? in.rank() : -1;
    if (rank < 0 && pad_shape.known_rank() && pad_shape.dim(0) != kUnknownDim) {
      rank = static_cast<int>(pad_shape.dim(0));
    }
    PBMEM_ASSIGN_OR_RETURN(const Tensor* pad_t, shape_input(ctx, 1, "paddings"));
    if (pad_t == nullptr) {
      ctx.set_output(0, dtype, rank < 0 ? Shape::unknown_rank()
                                        : Shape(std::vector<int64_t>(static_cast<size_t>(rank), kUnknownDim)));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> pads, read_int_input(ctx.node(), *pad_t, 1, "paddings"));
    const Shape& ps = pad_t->shape();
    if (ps.rank() != 2 || ps.dim(1) != 2 || (rank >= 0 && ps.dim(0) != rank)) {
      return ctx.error("input 1 'paddings' must have shape [", rank < 0 ? std::string("rank") : std::to_string(rank),
                       ", 2], got ", ps.str());
    }
    rank = static_cast<int>(ps.dim(0));
    std::vector<int64_t> dims(static_cast<size_t>(rank), kUnknownDim);
    for (int d = 0; d < rank; ++d) {
      const int64_t before = pads[static_cast<size_t>(2 * d)], after = pads[static_cast<size_t>(2 * d + 1)];
      if (before < 0 || after < 0) {
        return ctx.error("input 1 'paddings' must be non-negative, got ", before, " and ", after, " for dimension ", d);
      }
      const int64_t size = in.known_rank() ? in.dim(d) : kUnknownDim;
      if (size == kUnknownDim) continue;
      PBMEM_RETURN_IF_ERROR(check_mirror_limits(ctx, d, size, before, after));
      int64_t total = 0;
      if (!checked_add(size, before, &total) || !checked_add(total, after, &total)) {
        return ctx.error("padded dimension ", d, " overflows int64");
      }
      dims[static_cast<size_t>(d)] = total;
    }
    Shape out(dims);
    if (in.fully_defined()) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      make_plans(in, out, pads);
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const size_t elem = dtype_size(in.dtype());
    if (mode_ == PadMode::kConstant && out.num_elements() != in.num_elements()) {
      uint64_t zero = 0;
      const void* value = has_value_ ? ctx.input(2).raw_data() : &zero;
      fill_elements(out.raw_data(), out.num_elements(), value, elem);
    }
    for (const CopyPlan& plan : plans_) run_copy_plan(plan, in.raw_data(), out.raw_data(), elem);
    return ok_status();
  }

 private:
  // TF's limits: REFLECT pads at most size - 1 per side, SYMMETRIC at most size.
  Status check_mirror_limits(const InferContext& ctx, int d, int64_t size, int64_t before, int64_t after) const {
    if (mode_ == PadMode::kReflect && (before >= size || after >= size)) {
      return ctx.error("REFLECT paddings must be less than the dimension size: paddings ", before, ", ", after,
                       " for dimension ", d, " of size ", size);
    }
    if (mode_ == PadMode::kSymmetric && (before > size || after > size)) {
      return ctx.error("SYMMETRIC paddings must be no greater than the dimension size: paddings ", before, ", ",
                       after, " for dimension ", d, " of size ", size);
    }
    return ok_status();
  }

  // One run along one dim: `count` output positions from out_start, read from in_start with step.
  struct Run {
    int64_t count, out_start, in_start, step;
  };

  void make_plans(const Shape& in, const Shape& out, const std::vector<int64_t>& pads) {
    const int rank = in.rank();
    const std::vector<int64_t> in_strides = row_major_strides(in.dims());
    const std::vector<int64_t> out_strides = row_major_strides(out.dims());
    std::vector<std::vector<Run>> runs(static_cast<size_t>(rank));
    const int64_t skip = mode_ == PadMode::kReflect ? 1 : 0;  // REFLECT does not repeat the edge
    for (int d = 0; d < rank; ++d) {
      const int64_t n = in.dim(d), before = pads[static_cast<size_t>(2 * d)];
      const int64_t after = pads[static_cast<size_t>(2 * d + 1)];
      auto& r = runs[static_cast<size_t>(d)];
      r.push_back({n, before, 0, 1});
      if (mode_ == PadMode::kConstant) continue;
      if (before > 0) r.push_back({before, 0, before - 1 + skip, -1});
      if (after > 0) r.push_back({after, before + n, n - 1 - skip, -1});
    }
    plans_.clear();
    // Odometer over one run per dim.
    std::vector<size_t> pick(static_cast<size_t>(rank), 0);
    while (true) {
      CopyPlan plan;
      for (int d = 0; d < rank; ++d) {
        const size_t i = static_cast<size_t>(d);
        const Run& run = runs[i][pick[i]];
        plan.count.push_back(run.count);
        plan.in_base += run.in_start * in_strides[i];
        plan.in_stride.push_back(run.step * in_strides[i]);
        plan.out_base += run.out_start * out_strides[i];
        plan.out_stride.push_back(out_strides[i]);
      }
      plans_.push_back(make_copy_plan(plan));
      int d = rank - 1;
      while (d >= 0 && ++pick[static_cast<size_t>(d)] == runs[static_cast<size_t>(d)].size()) {
        pick[static_cast<size_t>(d)] = 0;
        --d;
      }
      if (d < 0) break;
    }
    planned_ = in;
  }

  PadMode mode_;
  bool has_value_;
  std::vector<CopyPlan> plans_;
  Shape planned_ = Shape::unknown_rank();
};

std::unique_ptr<Kernel> make_pad() { return std::make_unique<PadKernel>(PadMode::kConstant, false); }
std::unique_ptr<Kernel> make_pad_v2() { return std::make_unique<PadKernel>(PadMode::kConstant, true); }
std::unique_ptr<Kernel> make_mirror_pad() { return std::make_unique<PadKernel>(PadMode::kReflect, false); }

}  // namespace
}  // namespace array_detail

Status register_slice_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"Pad", op_record(array_detail::make_pad)},
      {"PadV2", op_record(array_detail::make_pad_v2)},
      {"MirrorPad", op_record(array_detail::make_mirror_pad)},
  }));
  PBMEM_RETURN_IF_ERROR(array_detail::register_strided_slice_ops(registry));
  return ok_status();
}

}  // namespace pbmem

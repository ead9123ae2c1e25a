// BroadcastTo (repeat an input along its size-1 dims, NumPy rules) and Roll (rotate along
// axes). Both move elements by size only: one instantiation per element width.
#include <cstring>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {

namespace {

// ---------------------------------------------------------------------------------------------
// BroadcastTo(input, shape): the output has `shape`; input dims align to its trailing dims and
// must equal them or be 1. One CopyPlan with input stride 0 along the repeated dims.
class BroadcastToKernel : public CopyPlanKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "shape"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "shape", 1));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    const Shape& in = ctx.input_shape(0);
    PBMEM_ASSIGN_OR_RETURN(const Tensor* shape_t, shape_input(ctx, 1, "shape"));
    if (shape_t == nullptr) {
      ctx.set_output(0, dtype, unknown_dims(vector_length(ctx, 1)));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                           read_int_input(ctx.node(), *shape_t, 1, "shape"));
    const int rank = static_cast<int>(dims.size());
    for (int d = 0; d < rank; ++d) {
      if (dims[static_cast<size_t>(d)] < 0) {
        return ctx.error("input 1 'shape' ", Shape(dims).str(), " must be non-negative");
      }
    }
    if (in.known_rank()) PBMEM_RETURN_IF_ERROR(check_broadcastable(ctx, in, dims));
    Shape out(dims);
    auto bytes = out.num_bytes(dtype);
    if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
    if (in.fully_defined()) {
      const int lead = rank - in.rank();
      std::vector<int64_t> in_strides = row_major_strides(in.dims());
      CopyPlan plan;
      plan.count = dims;
      plan.out_stride = row_major_strides(dims);
      plan.in_stride.assign(static_cast<size_t>(rank), 0);
      for (int d = lead; d < rank; ++d) {
        if (in.dim(d - lead) != 1) {
          plan.in_stride[static_cast<size_t>(d)] = in_strides[static_cast<size_t>(d - lead)];
        }
      }
      set_plan(make_copy_plan(plan), in);
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

 private:
  static Status check_broadcastable(const InferContext& ctx, const Shape& in,
                                    const std::vector<int64_t>& dims) {
    const int rank = static_cast<int>(dims.size());
    bool ok = in.rank() <= rank;
    for (int d = 0; ok && d < in.rank(); ++d) {
      const int64_t have = in.dim(d);
      const int64_t want = dims[static_cast<size_t>(rank - in.rank() + d)];
      ok = have == kUnknownDim || have == 1 || have == want;
    }
    if (!ok) {
      return ctx.error("cannot broadcast input 0 of shape ", in.str(), " to input 1 'shape' ",
                       Shape(dims).str(), " (each input dim must be 1 or equal the target's)");
    }
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
// Roll(input, shift, axis): out[..., (i + shift) mod n, ...] = in[..., i, ...] along each axis;
// shifts of a repeated axis add up. shift and axis may be computed at run time, so they are read
// in run() into buffers sized at prepare. Each output row of the innermost dim comes from one
// input row, rotated: two memcpy calls.
class RollKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "shift"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 2, "axis"));
    const Shape& in = ctx.input_shape(0);
    if (in.known_rank() && in.rank() == 0) {
      return ctx.error("input 0 must be at least 1-D, got a scalar");
    }
    const Shape& shift = ctx.input_shape(1);
    const Shape& axis = ctx.input_shape(2);
    if ((shift.known_rank() && shift.rank() > 1) || (axis.known_rank() && axis.rank() > 1)) {
      return ctx.error("inputs 1 'shift' and 2 'axis' must be scalars or vectors, got ",
                       shift.str(), " and ", axis.str());
    }
    if (ctx.concrete() && shift != axis) {
      return ctx.error("inputs 1 'shift' ", shift.str(), " and 2 'axis' ", axis.str(),
                       " must have the same shape");
    }
    if (ctx.concrete()) {
      dims_ = in.dims();
      strides_ = row_major_strides(dims_);
      shifts_.assign(dims_.size(), 0);
    }
    ctx.set_output(0, dtype, in);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(read_shifts(ctx));
    const Tensor& in = ctx.input(0);
    const size_t elem = dtype_size(in.dtype());
    const int rank = static_cast<int>(dims_.size());
    const int64_t inner = dims_.back();
    const int64_t rows = inner == 0 ? 0 : in.num_elements() / inner;
    const int64_t inner_shift = shifts_.back();
    const auto* src = static_cast<const char*>(in.raw_data());
    auto* dst = static_cast<char*>(ctx.output(0).raw_data());
    parallel_for(rows, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        // The input row that lands on this output row: index (i - shift) mod n in each dim.
        int64_t rest = row;
        int64_t src_offset = 0;
        for (int d = rank - 2; d >= 0; --d) {
          const size_t k = static_cast<size_t>(d);
          const int64_t i = rest % dims_[k];
          rest /= dims_[k];
          const int64_t j = i >= shifts_[k] ? i - shifts_[k] : i - shifts_[k] + dims_[k];
          src_offset += j * strides_[k];
        }
        const char* in_row = src + static_cast<size_t>(src_offset) * elem;
        char* out_row = dst + static_cast<size_t>(row * inner) * elem;
        const size_t head = static_cast<size_t>(inner - inner_shift) * elem;
        std::memcpy(out_row + static_cast<size_t>(inner_shift) * elem, in_row, head);
        std::memcpy(out_row, in_row + head, static_cast<size_t>(inner_shift) * elem);
      }
    });
    return ok_status();
  }

 private:
  // Sums each axis's shifts into shifts_, normalised into [0, dim).
  Status read_shifts(const RunContext& ctx) {
    const Tensor& shift = ctx.input(1);
    const Tensor& axis = ctx.input(2);
    const int rank = static_cast<int>(dims_.size());
    if (rank == 0 || shift.num_elements() != axis.num_elements()) {
      return internal_error(ctx.node().describe(), ": run() without a matching prepare()");
    }
    std::fill(shifts_.begin(), shifts_.end(), 0);
    for (int64_t i = 0; i < axis.num_elements(); ++i) {
      int64_t a = int_element(axis, i);
      if (a < -rank || a >= rank) {
        return ctx.error("input 2 'axis'[", i, "] = ", a, " is out of range for rank ", rank);
      }
      const size_t k = static_cast<size_t>(a < 0 ? a + rank : a);
      if (dims_[k] == 0) continue;
      const int64_t s = int_element(shift, i) % dims_[k];
      shifts_[k] = (shifts_[k] + s + dims_[k]) % dims_[k];
    }
    return ok_status();
  }

  std::vector<int64_t> dims_;
  std::vector<int64_t> strides_;
  std::vector<int64_t> shifts_;
};

}  // namespace

Status register_array_broadcast_ops(OpRegistry& registry) {
  return registry.add_all({
      {"BroadcastTo", op_record<BroadcastToKernel>()},
      {"Roll", op_record<RollKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

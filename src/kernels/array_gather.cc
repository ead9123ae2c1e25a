// GatherV2(params, indices, axis) and the older Gather(params, indices) (axis 0):
//   out[outer, j..., inner] = params[outer, indices[j...], inner]
// An index outside [0, params.shape[axis]) is an error naming the index, as on TF's CPU.
#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// Copies below this many bytes run on one thread.
constexpr int64_t kParallelGatherBytes = 256 * 1024;

class GatherKernel : public Kernel {
 public:
  explicit GatherKernel(bool has_axis) : has_axis_(has_axis) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(has_axis_ ? 3 : 2, has_axis_ ? 3 : 2));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0 'params'"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "indices"));
    PBMEM_ASSIGN_OR_RETURN(int64_t batch_dims, ctx.node().attr_int_or("batch_dims", 0));
    if (batch_dims != 0) {
      return ctx.unsupported("attribute 'batch_dims' = ", batch_dims, " is not supported (only 0)");
    }
    int64_t raw_axis = 0;
    if (has_axis_) {
      PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 2, "axis"));
      PBMEM_ASSIGN_OR_RETURN(const Tensor* axis_t, shape_input(ctx, 2, "axis"));
      if (axis_t == nullptr) {
        ctx.set_output(0, dtype, Shape::unknown_rank());
        return ok_status();
      }
      PBMEM_ASSIGN_OR_RETURN(raw_axis, read_int_scalar(ctx.node(), *axis_t, 2, "axis"));
    }
    const Shape& params = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    if (!params.known_rank() || !indices.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    if (params.rank() == 0) return ctx.error("input 0 'params' must be at least 1-D, got a scalar");
    auto axis = normalize_axis(raw_axis, params.rank(), "input 'axis'");
    if (!axis.ok()) return on_node(ctx.node(), axis.status());
    std::vector<int64_t> dims(params.dims().begin(), params.dims().begin() + *axis);
    dims.insert(dims.end(), indices.dims().begin(), indices.dims().end());
    dims.insert(dims.end(), params.dims().begin() + *axis + 1, params.dims().end());
    Shape out(dims);
    if (out.fully_defined() && params.fully_defined()) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      outer_ = dims_product(params.dims(), 0, *axis);
      axis_size_ = params.dim(*axis);
      inner_ = dims_product(params.dims(), *axis + 1, params.rank());
      planned_ = params;
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    const Tensor& indices = ctx.input(1);
    if (indices.dtype() == DType::kInt32) return gather(ctx, indices.data<int32_t>());
    return gather(ctx, indices.data<int64_t>());
  }

 private:
  template <typename Index>
  Status gather(RunContext& ctx, const Index* idx) {
    const Tensor& indices = ctx.input(1);
    const int64_t count = indices.num_elements();
    for (int64_t j = 0; j < count; ++j) {
      if (idx[j] < 0 || idx[j] >= axis_size_) return index_error(ctx, j, static_cast<int64_t>(idx[j]));
    }
    const size_t row_bytes = static_cast<size_t>(inner_) * dtype_size(ctx.input(0).dtype());
    const auto* src = static_cast<const uint8_t*>(ctx.input(0).raw_data());
    auto* dst = static_cast<uint8_t*>(ctx.output(0).raw_data());
    const int64_t rows = outer_ * count;
    const int64_t min_chunk = std::max<int64_t>(1, kParallelGatherBytes / std::max<int64_t>(1, static_cast<int64_t>(row_bytes)));
    parallel_for(rows, min_chunk, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r / count, j = r % count;
        const int64_t from = o * axis_size_ + static_cast<int64_t>(idx[j]);
        if (row_bytes > 0) {
          std::memcpy(dst + static_cast<size_t>(r) * row_bytes, src + static_cast<size_t>(from) * row_bytes, row_bytes);
        }
      }
    });
    return ok_status();
  }

  // "indices[1,2] = 7 is not in [0, 5)", with the position written as a multi-index.
  Status index_error(const RunContext& ctx, int64_t flat, int64_t value) const {
    const Shape& shape = ctx.input(1).shape();
    std::vector<int64_t> position(static_cast<size_t>(shape.rank()));
    for (int d = shape.rank() - 1; d >= 0; --d) {
      position[static_cast<size_t>(d)] = flat % shape.dim(d);
      flat /= shape.dim(d);
    }
    std::string where;
    for (size_t d = 0; d < position.size(); ++d) where += (d ? "," : "") + std::to_string(position[d]);
    return out_of_range(ctx.node().describe(), ": indices[", where, "] = ", value, " is not in [0, ",
                        axis_size_, ")");
  }

  bool has_axis_;
  int64_t outer_ = 0;
  int64_t axis_size_ = 0;
  int64_t inner_ = 0;
  Shape planned_ = Shape::unknown_rank();
};

template <bool kHasAxis>
std::unique_ptr<Kernel> make_gather() {
  return std::make_unique<GatherKernel>(kHasAxis);
}

}  // namespace

Status register_array_gather_ops(OpRegistry& registry) {
  return registry.add_all({
      {"GatherV2", op_record(make_gather<true>)},
      {"Gather", op_record(make_gather<false>)},
  });
}

}  // namespace array_detail
}  // namespace pbmem

// GatherV2(params, indices, axis) and the older Gather(params, indices) (axis 0):
//   out[outer, j..., inner] = params[outer, indices[j...], inner]
// An index outside [0, params.shape[axis]) is an error naming the index, as on TF's CPU.
// OneHot(indices, depth, on_value, off_value), the inverse lookup:
//   out[prefix, d, suffix] = indices[prefix, suffix] == d ? on_value : off_value
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

// ---------------------------------------------------------------------------------------------
// OneHot: depth is inserted at `axis` (-1: last). An index outside [0, depth), negative ones
// included, gives a row of off_value, as in TF. depth decides the shape, so it must be constant.
class OneHotKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(4, 4));
    const DType index_dtype = ctx.input_dtype(0);
    if (index_dtype != DType::kInt32 && index_dtype != DType::kInt64 &&
        index_dtype != DType::kUInt8 && index_dtype != DType::kInt8) {
      return ctx.error("input 0 'indices' must be uint8, int8, int32 or int64, got ",
                       dtype_name(index_dtype));
    }
    const DType dtype = ctx.input_dtype(2);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 2 'on_value'"));
    if (ctx.input_dtype(3) != dtype) {
      return ctx.error("input 3 'off_value' must have the dtype of input 2 'on_value' (",
                       dtype_name(dtype), "), got ", dtype_name(ctx.input_dtype(3)));
    }
    for (int i = 2; i < 4; ++i)
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, i, i == 2 ? "on_value" : "off_value", 0));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "depth"));
    const Shape& indices = ctx.input_shape(0);
    PBMEM_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int_or("axis", -1));
    if (indices.known_rank() && (axis < -1 || axis > indices.rank())) {
      return ctx.error("attribute 'axis' = ", axis, " must be -1 or in [0, ", indices.rank(),
                       "] for indices of shape ", indices.str());
    }
    PBMEM_ASSIGN_OR_RETURN(const Tensor* depth_t, shape_input(ctx, 1, "depth"));
    int64_t depth = kUnknownDim;
    if (depth_t != nullptr) {
      PBMEM_ASSIGN_OR_RETURN(depth, read_int_scalar(ctx.node(), *depth_t, 1, "depth"));
      if (depth < 0) return ctx.error("input 1 'depth' must be non-negative, got ", depth);
    }
    if (!indices.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    const int position = axis == -1 ? indices.rank() : static_cast<int>(axis);
    std::vector<int64_t> dims = indices.dims();
    dims.insert(dims.begin() + position, depth);
    Shape out(dims);
    if (out.fully_defined()) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      depth_ = depth;
      suffix_ = dims_product(indices.dims(), position, indices.rank());
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& indices = ctx.input(0);
    switch (indices.dtype()) {
      case DType::kInt32:
        return one_hot(ctx, indices.data<int32_t>());
      case DType::kInt64:
        return one_hot(ctx, indices.data<int64_t>());
      case DType::kUInt8:
        return one_hot(ctx, indices.data<uint8_t>());
      default:
        return one_hot(ctx, indices.data<int8_t>());
    }
  }

 private:
  template <typename Index>
  Status one_hot(RunContext& ctx, const Index* idx) {
    Tensor& out = ctx.output(0);
    const int64_t total = out.num_elements();
    const int64_t inner = depth_ * suffix_;  // output elements per prefix
    if (total == 0) return ok_status();
    bool known = with_element_type(dtype_size(out.dtype()), [&](auto tag) {
      using T = decltype(tag);
      const T on = *static_cast<const T*>(ctx.input(2).raw_data());
      const T off = *static_cast<const T*>(ctx.input(3).raw_data());
      T* o = static_cast<T*>(out.raw_data());
      parallel_for(total, 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t prefix = i / inner;
          const int64_t d = (i % inner) / suffix_;
          const int64_t s = i % suffix_;
          o[i] = static_cast<int64_t>(idx[prefix * suffix_ + s]) == d ? on : off;
        }
      });
    });
    if (!known) return internal_error(ctx.node().describe(), ": unexpected element size");
    return ok_status();
  }

  int64_t depth_ = 0;
  int64_t suffix_ = 1;
};

}  // namespace

Status register_array_gather_ops(OpRegistry& registry) {
  return registry.add_all({
      {"GatherV2", op_record(make_gather<true>)},
      {"Gather", op_record(make_gather<false>)},
      {"OneHot", op_record<OneHotKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

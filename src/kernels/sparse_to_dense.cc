// SparseToDense(sparse_indices, output_shape, sparse_values, default_value): a dense tensor of
// output_shape holding default_value, with sparse_values (one per index, or one scalar for all)
// written at sparse_indices ([N, R] tuples; a vector holds N indices of a 1-D output, a scalar one
// index). output_shape decides the shape, so it must be constant.
// validate_indices (default true) checks, as TF does, that each index is in bounds and that the
// indices are strictly increasing in row-major order; without it only the bounds are checked,
// and a repeated index keeps its last value.
#include <string>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {

namespace {

class SparseToDenseKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(4, 4));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 0, "sparse_indices"));
    if (ctx.input_dtype(1) != ctx.input_dtype(0)) {
      return ctx.error("input 1 'output_shape' must have the dtype of input 0 'sparse_indices' (",
                       dtype_name(ctx.input_dtype(0)), "), got ", dtype_name(ctx.input_dtype(1)));
    }
    const DType dtype = ctx.input_dtype(2);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 2 'sparse_values'"));
    if (ctx.input_dtype(3) != dtype) {
      return ctx.error("input 3 'default_value' must have the dtype of input 2 'sparse_values' (",
                       dtype_name(dtype), "), got ", dtype_name(ctx.input_dtype(3)));
    }
    PBMEM_ASSIGN_OR_RETURN(validate_, ctx.node().attr_bool_or("validate_indices", true));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "output_shape", 1));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 3, "default_value", 0));
    const Shape& indices = ctx.input_shape(0);
    if (indices.known_rank() && indices.rank() > 2) {
      return ctx.error("input 0 'sparse_indices' must be a scalar, vector or matrix, got shape ",
                       indices.str());
    }
    PBMEM_ASSIGN_OR_RETURN(const Tensor* shape_t, shape_input(ctx, 1, "output_shape"));
    if (shape_t == nullptr) {
      ctx.set_output(0, dtype, unknown_dims(vector_length(ctx, 1)));
      return ok_status();
    }
    std::vector<int64_t> dims(static_cast<size_t>(shape_t->num_elements()));
    for (size_t d = 0; d < dims.size(); ++d) {
      dims[d] = nd_index_element(*shape_t, static_cast<int64_t>(d));
      if (dims[d] < 0) return ctx.error("input 1 'output_shape' has a negative dim ", dims[d]);
    }
    Shape out(dims);
    if (ctx.concrete()) PBMEM_RETURN_IF_ERROR(check_concrete(ctx, out));
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const size_t elem = dtype_size(out.dtype());
    fill_elements(out.raw_data(), out.num_elements(), ctx.input(3).raw_data(), elem);
    const Tensor& indices = ctx.input(0);
    const Tensor& values = ctx.input(2);
    const auto* src = static_cast<const uint8_t*>(values.raw_data());
    auto* dst = static_cast<uint8_t*>(out.raw_data());
    const bool one_value = values.shape().rank() == 0;
    for (int64_t n = 0; n < count_; ++n) PBMEM_RETURN_IF_ERROR(check_index(ctx, n));
    for (int64_t n = 0; n < count_; ++n) {
      int64_t flat = 0;
      for (int d = 0; d < rank_; ++d)
        flat = flat * out.shape().dim(d) + nd_index_element(indices, n * rank_ + d);
      std::memcpy(dst + static_cast<size_t>(flat) * elem,
                  src + (one_value ? 0 : static_cast<size_t>(n) * elem), elem);
    }
    return ok_status();
  }

 private:
  // TF's shape rules, once the shapes are concrete: indices [N, R] (or [N], or a scalar),
  // values [N] or a scalar.
  Status check_concrete(const InferContext& ctx, const Shape& out) {
    const Shape& indices = ctx.input_shape(0);
    const Shape& values = ctx.input_shape(2);
    count_ = indices.rank() > 0 ? indices.dim(0) : 1;
    rank_ = indices.rank() > 1 ? static_cast<int>(indices.dim(1)) : 1;
    if (rank_ != out.rank()) {
      return ctx.error("input 1 'output_shape' has ", out.rank(),
                       " elements, but the indices have ", rank_,
                       " coordinates (input 0 'sparse_indices' of shape ", indices.str(), ")");
    }
    if (values.rank() != 0 && !(values.rank() == 1 && values.dim(0) == count_)) {
      return ctx.error("input 2 'sparse_values' has shape ", values.str(), ", but must be [] or [",
                       count_, "]");
    }
    return on_node(ctx.node(), out.num_bytes(ctx.input_dtype(2)).status());
  }

  // TF's SparseTensor::IndicesValid: in bounds, then (validating) strictly increasing.
  Status check_index(const RunContext& ctx, int64_t n) const {
    const Tensor& indices = ctx.input(0);
    const Shape& shape = ctx.output(0).shape();
    bool valid = true, different = n == 0, increasing = true;
    for (int d = 0; d < rank_; ++d) {
      const int64_t v = nd_index_element(indices, n * rank_ + d);
      if (v < 0 || v >= shape.dim(d)) valid = false;
      if (n == 0) continue;
      const int64_t diff = v - nd_index_element(indices, (n - 1) * rank_ + d);
      if (diff > 0) different = true;
      if (!different && diff < 0) increasing = false;
    }
    if (valid && (!validate_ || (increasing && different))) return ok_status();
    if (!validate_) {
      return invalid_argument(ctx.node().describe(),
                              ": indices are not valid (out of bounds); shape ", shape.str());
    }
    std::string tuple;
    for (int d = 0; d < rank_; ++d) {
      tuple += (d ? "," : "") + std::to_string(nd_index_element(indices, n * rank_ + d));
    }
    const std::string what = !valid        ? "is out of bounds: need 0 <= index < " + shape.str()
                             : !increasing ? std::string("is out of order (indices must be sorted)")
                                           : std::string("is repeated");
    return invalid_argument(ctx.node().describe(), ": indices[", n, "] = [", tuple, "] ", what);
  }

  bool validate_ = true;
  int64_t count_ = 0;
  int rank_ = 1;
};

}  // namespace

Status register_sparse_to_dense_ops(OpRegistry& registry) {
  return registry.add_all({
      {"SparseToDense", op_record<SparseToDenseKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

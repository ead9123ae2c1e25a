#include "kernels/reduce_util.h"

namespace pbmem {

Status make_reduce_plan(const Node& node, const Shape& shape, const std::vector<bool>& reduced,
                        ReducePlan* plan) {
  if (static_cast<int>(reduced.size()) != shape.rank()) {
    return internal_error(node.describe(), ": reduction plan for ", shape.str(), " has ",
                          reduced.size(), " axis flags");
  }
  int64_t group_dims[kMaxReduceGroups];
  bool group_reduced[kMaxReduceGroups];
  int groups = 0;
  ReducePlan p;
  p.out_elems = 1;
  p.reduce_count = 1;
  for (int i = 0; i < shape.rank(); ++i) {
    const int64_t d = shape.dim(i);
    const bool is_reduced = reduced[static_cast<size_t>(i)];
    // Bounded by the input's element count, which the runtime has validated.
    (is_reduced ? p.reduce_count : p.out_elems) *= d;
    if (d == 1) continue;  // moves nothing
    if (groups > 0 && group_reduced[groups - 1] == is_reduced) {
      group_dims[groups - 1] *= d;
      continue;
    }
    if (groups == kMaxReduceGroups) {
      return node.unsupported("reducing ", shape.str(), " needs more than ", kMaxReduceGroups,
                              " groups of adjacent kept/reduced dims");
    }
    group_dims[groups] = d;
    group_reduced[groups] = is_reduced;
    ++groups;
  }
  int64_t strides[kMaxReduceGroups];
  int64_t running = 1;
  for (int g = groups - 1; g >= 0; --g) {
    strides[g] = running;
    running *= group_dims[g];
  }
  if (groups > 0) {
    p.inner = group_dims[groups - 1];
    p.inner_reduced = group_reduced[groups - 1];
  }
  for (int g = 0; g < groups - 1; ++g) {
    OdometerSpec& spec = group_reduced[g] ? p.reduced : p.kept;
    spec.dims[spec.rank] = group_dims[g];
    spec.strides[spec.rank] = strides[g];
    ++spec.rank;
  }
  *plan = p;
  return ok_status();
}

Result<Shape> reduced_shape(const InferContext& ctx, int axes_input, bool keep_dims,
                            std::vector<bool>* reduced) {
  const Shape& in = ctx.input_shape(0);
  const DType axes_dtype = ctx.input_dtype(axes_input);
  if (axes_dtype != DType::kInt32 && axes_dtype != DType::kInt64) {
    return ctx.error("reduction axes (input ", axes_input, ") must be int32 or int64, got ",
                     dtype_name(axes_dtype));
  }
  const Tensor* axes = ctx.const_input(axes_input);
  if (axes == nullptr) {
    if (ctx.concrete()) {
      return ctx.unsupported("reduction axes (input ", axes_input,
                             ") must be a constant (or computable from shapes)");
    }
    if (!in.known_rank() || !keep_dims) return Shape::unknown_rank();
    return Shape(std::vector<int64_t>(static_cast<size_t>(in.rank()), kUnknownDim));
  }
  if (axes->shape().rank() > 1) {
    return ctx.error("reduction axes (input ", axes_input, ") must be a scalar or a vector, got ",
                     axes->shape().str());
  }
  if (!in.known_rank()) return Shape::unknown_rank();
  PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> values, read_int_tensor(*axes, "reduction axes"));
  const int rank = in.rank();
  reduced->assign(static_cast<size_t>(rank), false);
  for (int64_t value : values) {
    auto axis = normalize_axis(value, rank, "reduction axis");
    if (!axis.ok()) return ctx.error(axis.status().message());
    if ((*reduced)[static_cast<size_t>(*axis)]) {
      return ctx.error("reduction axes contain dimension ", *axis, " twice");
    }
    (*reduced)[static_cast<size_t>(*axis)] = true;
  }
  std::vector<int64_t> dims;
  for (int i = 0; i < rank; ++i) {
    if (!(*reduced)[static_cast<size_t>(i)]) {
      dims.push_back(in.dim(i));
    } else if (keep_dims) {
      dims.push_back(1);
    }
  }
  return Shape(std::move(dims));
}

}  // namespace pbmem

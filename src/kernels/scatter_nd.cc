// The N-d index ops, where the last dim of `indices` (K) addresses the first K dims of a tensor
// and each index tuple selects a slice of the remaining dims:
//   GatherNd(params, indices):          out[i...] = params[indices[i..., :], ...]
//   ScatterNd(indices, updates, shape): zeros(shape), then updates added at their tuples
//   TensorScatter{Update,Add,Sub,Max,Min}(tensor, indices, updates): a copy of tensor with the
//     updates combined in
// Tuples are applied in order, so duplicates combine as on TF's CPU (the last Update wins, Adds
// sum in index order). A tuple outside the shape is TF's InvalidArgument error naming it, unless
// the node's bad_indices_policy is "IGNORE": GatherNd then writes zeros, the scatters skip it.
#include <algorithm>
#include <string>

#include "kernels/array_helpers.h"
#include "kernels/elementwise_util.h"

namespace pbmem {
namespace array_detail {

namespace {

// TF attribute bad_indices_policy: IGNORE skips (or zero-fills) tuples outside the shape.
Result<bool> ignore_bad_indices(const Node& node) {
  PBMEM_ASSIGN_OR_RETURN(std::string policy, node.attr_string_or("bad_indices_policy", ""));
  if (policy == "IGNORE") return true;
  if (policy.empty() || policy == "DEFAULT" || policy == "ERROR") return false;
  return node.error("attribute 'bad_indices_policy' = '", policy,
                    "' must be '', 'DEFAULT', 'ERROR' or 'IGNORE'");
}

// int32/int64 indices, and (allow_16) the int16/uint16 some of the ops also take.
Status expect_nd_index_dtype(const InferContext& ctx, int index, bool allow_16) {
  const DType dtype = ctx.input_dtype(index);
  if (dtype == DType::kInt32 || dtype == DType::kInt64) return ok_status();
  if (allow_16 && (dtype == DType::kInt16 || dtype == DType::kUInt16)) return ok_status();
  return ctx.error("input ", index, " 'indices' must be ", allow_16 ? "int16, uint16, " : "",
                   "int32 or int64, got ", dtype_name(dtype));
}

// Where the index tuples of a concrete `indices` land in a concrete `target` shape.
struct NdPlan {
  int64_t count = 0;             // number of tuples: product of indices.shape[:-1]
  int depth = 0;                 // K
  int64_t slice = 1;             // elements per tuple: product of target.shape[K:]
  std::vector<int64_t> dims;     // target.shape[:K]
  std::vector<int64_t> strides;  // in slices
};

NdPlan make_nd_plan(const Shape& indices, const Shape& target) {
  NdPlan plan;
  plan.depth = static_cast<int>(indices.dim(indices.rank() - 1));
  plan.count = dims_product(indices.dims(), 0, indices.rank() - 1);
  plan.slice = dims_product(target.dims(), plan.depth, target.rank());
  plan.dims.assign(target.dims().begin(), target.dims().begin() + plan.depth);
  plan.strides.assign(static_cast<size_t>(plan.depth), 1);
  for (int d = plan.depth - 2; d >= 0; --d) {
    plan.strides[static_cast<size_t>(d)] =
        plan.strides[static_cast<size_t>(d) + 1] * plan.dims[static_cast<size_t>(d) + 1];
  }
  return plan;
}

// The slice number tuple i selects, or -1 when a coordinate is outside the shape.
int64_t nd_slice_of(const Tensor& indices, const NdPlan& plan, int64_t i) {
  int64_t slice = 0;
  for (int d = 0; d < plan.depth; ++d) {
    const int64_t v = nd_index_element(indices, i * plan.depth + d);
    if (v < 0 || v >= plan.dims[static_cast<size_t>(d)]) return -1;
    slice += v * plan.strides[static_cast<size_t>(d)];
  }
  return slice;
}

// TF's message: "indices[1] = [2, 0] does not index into param shape [2,3]".
Status bad_tuple_error(const Node& node, const Tensor& indices, const NdPlan& plan, int64_t i,
                       const char* what, const Shape& shape) {
  std::string tuple;
  for (int d = 0; d < plan.depth; ++d) {
    tuple += (d ? ", " : "") + std::to_string(nd_index_element(indices, i * plan.depth + d));
  }
  return invalid_argument(node.describe(), ": indices[", i, "] = [", tuple,
                          "] does not index into ", what, " ", shape.str());
}

// Checks `indices` is at least 1-D with a known last dim K <= rank of `target`; returns K, or
// -1 when the ranks are not known yet.
Result<int> nd_depth(const InferContext& ctx, int index_input, const Shape& target,
                     const char* target_name) {
  const Shape& indices = ctx.input_shape(index_input);
  if (!indices.known_rank()) return -1;
  if (indices.rank() < 1) {
    return ctx.error("input ", index_input, " 'indices' must be at least 1-D, got a scalar");
  }
  const int64_t depth = indices.dim(indices.rank() - 1);
  if (depth == kUnknownDim || !target.known_rank()) return -1;
  if (depth > target.rank()) {
    return ctx.error("the last dim of 'indices' (", depth, ") must be <= the rank of ", target_name,
                     " ", target.str());
  }
  return static_cast<int>(depth);
}

// updates.shape must be indices.shape[:-1] + target.shape[K:] (dims may be unknown at load).
Status check_updates_shape(const InferContext& ctx, int index_input, int updates_input,
                           const Shape& target, int depth) {
  const Shape& indices = ctx.input_shape(index_input);
  const Shape& updates = ctx.input_shape(updates_input);
  if (depth < 0 || !updates.known_rank()) return ok_status();
  std::vector<int64_t> want(indices.dims().begin(), indices.dims().end() - 1);
  want.insert(want.end(), target.dims().begin() + depth, target.dims().end());
  bool same = updates.rank() == static_cast<int>(want.size());
  for (size_t d = 0; same && d < want.size(); ++d) {
    int64_t merged = 0;
    same = merge_dim(updates.dim(static_cast<int>(d)), want[d], &merged);
  }
  if (!same) {
    return ctx.error("input ", updates_input, " 'updates' has shape ", updates.str(),
                     ", but must be indices.shape[:-1] + shape[", depth,
                     ":] = ", Shape(want).str());
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
class GatherNdKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0 'params'"));
    PBMEM_RETURN_IF_ERROR(expect_nd_index_dtype(ctx, 1, true));
    PBMEM_ASSIGN_OR_RETURN(ignore_, ignore_bad_indices(ctx.node()));
    const Shape& params = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    PBMEM_ASSIGN_OR_RETURN(int depth, nd_depth(ctx, 1, params, "input 0 'params'"));
    if (depth < 0) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    std::vector<int64_t> dims(indices.dims().begin(), indices.dims().end() - 1);
    dims.insert(dims.end(), params.dims().begin() + depth, params.dims().end());
    Shape out(dims);
    if (ctx.concrete()) {
      PBMEM_RETURN_IF_ERROR(on_node(ctx.node(), out.num_bytes(dtype).status()));
      plan_ = make_nd_plan(indices, params);
      if (plan_.count > 0 && params.num_elements_unchecked() == 0) {
        return ctx.error("requested ", plan_.count,
                         " entries, but input 0 'params' is empty (shape ", params.str(), ")");
      }
      planned_ = params;
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    const Tensor& indices = ctx.input(1);
    const size_t bytes = static_cast<size_t>(plan_.slice) * dtype_size(ctx.input(0).dtype());
    const auto* src = static_cast<const uint8_t*>(ctx.input(0).raw_data());
    auto* dst = static_cast<uint8_t*>(ctx.output(0).raw_data());
    for (int64_t i = 0; i < plan_.count; ++i) {
      const int64_t slice = nd_slice_of(indices, plan_, i);
      uint8_t* to = dst + static_cast<size_t>(i) * bytes;
      if (slice < 0) {
        if (!ignore_)
          return bad_tuple_error(ctx.node(), indices, plan_, i, "param shape", planned_);
        if (bytes > 0) std::memset(to, 0, bytes);
      } else if (bytes > 0) {
        std::memcpy(to, src + static_cast<size_t>(slice) * bytes, bytes);
      }
    }
    return ok_status();
  }

 private:
  bool ignore_ = false;
  NdPlan plan_;
  Shape planned_ = Shape::unknown_rank();
};

// ---------------------------------------------------------------------------------------------
// How a scatter combines an update u into the output element o.
enum class Combine { kUpdate, kAdd, kSub, kMax, kMin };

template <typename T>
T combine(Combine how, T o, T u) {
  switch (how) {
    case Combine::kUpdate:
      return u;
    case Combine::kAdd:
      return wrap_add(o, u);
    case Combine::kSub:
      return wrap_sub(o, u);
    case Combine::kMax:
      return std::max(o, u);
    default:
      return std::min(o, u);
  }
}

// ScatterNd (inputs indices, updates, shape; output starts as zeros) and TensorScatter* (inputs
// tensor, indices, updates; output starts as a copy of tensor).
class ScatterNdKernel : public Kernel {
 public:
  ScatterNdKernel(bool from_tensor, Combine how) : from_tensor_(from_tensor), how_(how) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    const int index_input = from_tensor_ ? 1 : 0;
    const DType dtype = ctx.input_dtype(from_tensor_ ? 2 : 1);
    if (how_ == Combine::kUpdate) {
      PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 2 'updates'"));
    } else if (type_bit(dtype) == 0 || (type_bit(dtype) & kTypesNumeric) == 0) {
      return unsupported_dtype(ctx.node(), dtype, kTypesNumeric, "'updates'");
    }
    if (from_tensor_ && ctx.input_dtype(0) != dtype) {
      return ctx.error("input 2 'updates' must have the dtype of input 0 'tensor' (",
                       dtype_name(ctx.input_dtype(0)), "), got ", dtype_name(dtype));
    }
    PBMEM_RETURN_IF_ERROR(
        expect_nd_index_dtype(ctx, index_input, !from_tensor_ || how_ == Combine::kUpdate));
    PBMEM_ASSIGN_OR_RETURN(ignore_, ignore_bad_indices(ctx.node()));
    PBMEM_ASSIGN_OR_RETURN(Shape target, target_shape(ctx));
    PBMEM_ASSIGN_OR_RETURN(int depth, nd_depth(ctx, index_input, target, "the output shape"));
    PBMEM_RETURN_IF_ERROR(
        check_updates_shape(ctx, index_input, from_tensor_ ? 2 : 1, target, depth));
    if (ctx.concrete()) {
      PBMEM_RETURN_IF_ERROR(on_node(ctx.node(), target.num_bytes(dtype).status()));
      plan_ = make_nd_plan(ctx.input_shape(index_input), target);
      planned_ = target;
    }
    ctx.set_output(0, dtype, target);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const size_t elem = dtype_size(out.dtype());
    const size_t total = static_cast<size_t>(out.num_elements()) * elem;
    if (!from_tensor_) {
      std::memset(out.raw_data(), 0, total);
    } else if (out.raw_data() != ctx.input(0).raw_data() && total > 0) {
      std::memcpy(out.raw_data(), ctx.input(0).raw_data(), total);
    }
    const Tensor& indices = ctx.input(from_tensor_ ? 1 : 0);
    const Tensor& updates = ctx.input(from_tensor_ ? 2 : 1);
    if (how_ == Combine::kUpdate) {
      const size_t bytes = static_cast<size_t>(plan_.slice) * elem;
      const auto* src = static_cast<const uint8_t*>(updates.raw_data());
      auto* dst = static_cast<uint8_t*>(out.raw_data());
      for (int64_t i = 0; i < plan_.count; ++i) {
        const int64_t slice = nd_slice_of(indices, plan_, i);
        if (slice < 0) {
          if (ignore_) continue;
          return bad_tuple_error(ctx.node(), indices, plan_, i, "shape", planned_);
        }
        if (bytes > 0) {
          std::memcpy(dst + static_cast<size_t>(slice) * bytes,
                      src + static_cast<size_t>(i) * bytes, bytes);
        }
      }
      return ok_status();
    }
    Status status = ok_status();
    visit_dtype<kTypesNumeric>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      status = accumulate(ctx, indices, updates.data<T>(), out.data<T>());
    });
    return status;
  }

 private:
  template <typename T>
  Status accumulate(const RunContext& ctx, const Tensor& indices, const T* src, T* dst) const {
    for (int64_t i = 0; i < plan_.count; ++i) {
      const int64_t slice = nd_slice_of(indices, plan_, i);
      if (slice < 0) {
        if (ignore_) continue;
        return bad_tuple_error(ctx.node(), indices, plan_, i, "shape", planned_);
      }
      T* o = dst + slice * plan_.slice;
      const T* u = src + i * plan_.slice;
      for (int64_t j = 0; j < plan_.slice; ++j) o[j] = combine(how_, o[j], u[j]);
    }
    return ok_status();
  }

  // The output shape: input 0's for TensorScatter*, the constant 'shape' input for ScatterNd.
  Result<Shape> target_shape(const InferContext& ctx) const {
    if (from_tensor_) return ctx.input_shape(0);
    if (ctx.input_dtype(2) != ctx.input_dtype(0)) {
      return ctx.error("input 2 'shape' must have the dtype of input 0 'indices' (",
                       dtype_name(ctx.input_dtype(0)), "), got ", dtype_name(ctx.input_dtype(2)));
    }
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 2, "shape", 1));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* shape_t, shape_input(ctx, 2, "shape"));
    if (shape_t == nullptr) return unknown_dims(vector_length(ctx, 2));
    std::vector<int64_t> dims(static_cast<size_t>(shape_t->num_elements()));
    for (size_t d = 0; d < dims.size(); ++d) {
      dims[d] = nd_index_element(*shape_t, static_cast<int64_t>(d));
      if (dims[d] < 0) {
        return ctx.error("input 2 'shape' must be non-negative, got ", dims[d], " at ", d);
      }
    }
    return Shape(dims);
  }

  bool from_tensor_;
  Combine how_;
  bool ignore_ = false;
  NdPlan plan_;
  Shape planned_ = Shape::unknown_rank();
};

template <bool kFromTensor, Combine kHow>
std::unique_ptr<Kernel> make_scatter() {
  return std::make_unique<ScatterNdKernel>(kFromTensor, kHow);
}

}  // namespace

int64_t nd_index_element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt16:
      return t.data<int16_t>()[i];
    case DType::kUInt16:
      return t.data<uint16_t>()[i];
    case DType::kInt32:
      return t.data<int32_t>()[i];
    default:
      return t.data<int64_t>()[i];
  }
}

Status register_scatter_nd_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"GatherNd", op_record<GatherNdKernel>()},
      {"ScatterNd", op_record(make_scatter<false, Combine::kAdd>)},
      {"TensorScatterUpdate", op_record(make_scatter<true, Combine::kUpdate>)},
      {"TensorScatterAdd", op_record(make_scatter<true, Combine::kAdd>)},
      {"TensorScatterSub", op_record(make_scatter<true, Combine::kSub>)},
      {"TensorScatterMax", op_record(make_scatter<true, Combine::kMax>)},
      {"TensorScatterMin", op_record(make_scatter<true, Combine::kMin>)},
  }));
  PBMEM_RETURN_IF_ERROR(register_sparse_to_dense_ops(registry));
  return ok_status();
}

}  // namespace array_detail
}  // namespace pbmem

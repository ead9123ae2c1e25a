// Ops that change only the shape (Reshape, Squeeze, ExpandDims: the executor aliases their
// input bytes) and Transpose, which moves elements through a CopyPlan.
#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// Publishes a constant input under the new shape (a view: no copy), so shape subgraphs keep
// folding through reshapes; otherwise declares the output.
void set_reshaped_output(InferContext& ctx, const Shape& shape) {
  const Tensor* value = ctx.const_input(0);
  if (value != nullptr && shape.fully_defined()) {
    ctx.set_output_value(0, value->reshaped(shape));
  } else {
    ctx.set_output(0, ctx.input_dtype(0), shape);
  }
}

// Copies input 0 into output 0 when the executor did not alias them (e.g. when folding).
Status copy_alias(RunContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.num_bytes() != in.num_bytes()) {
    return internal_error(ctx.node().describe(), ": output has ", out.num_bytes(),
                          " bytes but input 0 has ", in.num_bytes());
  }
  if (!out.shares_buffer_with(in) && in.num_bytes() > 0) {
    std::memcpy(out.raw_data(), in.raw_data(), in.num_bytes());
  }
  return ok_status();
}

class AliasingKernel : public Kernel {
 public:
  Status run(RunContext& ctx) override { return copy_alias(ctx); }
  bool aliases_input0() const override { return true; }
};

// ---------------------------------------------------------------------------------------------
class ReshapeKernel : public AliasingKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "shape"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "shape", 1));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* shape_t, shape_input(ctx, 1, "shape"));
    if (shape_t == nullptr) {
      ctx.set_output(0, ctx.input_dtype(0), unknown_dims(vector_length(ctx, 1)));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> dims, read_int_input(ctx.node(), *shape_t, 1, "shape"));
    int inferred = -1;
    int64_t product = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == -1) {
        if (inferred >= 0) {
          return ctx.error("input 1 'shape' may contain -1 only once, got -1 at ", inferred, " and ", i);
        }
        inferred = static_cast<int>(i);
      } else if (dims[i] < 0) {
        return ctx.error("input 1 'shape'[", i, "] must be non-negative or -1, got ", dims[i]);
      } else if (!checked_mul(product, dims[i], &product)) {
        return ctx.error("input 1 'shape' has more elements than fit in int64");
      }
    }
    const Shape& in = ctx.input_shape(0);
    if (in.fully_defined()) {
      const int64_t n = in.num_elements_unchecked();
      if (inferred >= 0) {
        if (product == 0) {
          return ctx.error("cannot infer the -1 dimension of input 1 'shape' for an empty tensor unless "
                           "every other size is non-zero");
        }
        if (n % product != 0) {
          return ctx.error("input 0 has ", n, " values (shape ", in.str(),
                           "), which is not a multiple of ", product, " as input 1 'shape' requires");
        }
        dims[static_cast<size_t>(inferred)] = n / product;
      } else if (n != product) {
        return ctx.error("input 0 has ", n, " values (shape ", in.str(), ") but input 1 'shape' ",
                         Shape(dims).str(), " has ", product);
      }
    } else if (inferred >= 0) {
      dims[static_cast<size_t>(inferred)] = kUnknownDim;
    }
    set_reshaped_output(ctx, Shape(dims));
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
class SqueezeKernel : public AliasingKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.node().attr_ints_or("squeeze_dims", {}));
    const Shape& in = ctx.input_shape(0);
    if (!in.known_rank()) {
      ctx.set_output(0, ctx.input_dtype(0), Shape::unknown_rank());
      return ok_status();
    }
    const int rank = in.rank();
    std::vector<bool> squeeze(static_cast<size_t>(rank), false);
    for (size_t k = 0; k < axes.size(); ++k) {
      auto axis = normalize_axis(axes[k], rank, "attribute 'squeeze_dims' entry");
      if (!axis.ok()) return on_node(ctx.node(), axis.status());
      int64_t size = in.dim(*axis);
      if (size != 1 && size != kUnknownDim) {
        return ctx.error("cannot squeeze dimension ", *axis, " of shape ", in.str(),
                         ": its size is ", size, ", not 1");
      }
      squeeze[static_cast<size_t>(*axis)] = true;
    }
    if (axes.empty()) {
      for (int i = 0; i < rank; ++i) {
        if (in.dim(i) == kUnknownDim) {  // might be 1: the rank is unknown until it is known
          ctx.set_output(0, ctx.input_dtype(0), Shape::unknown_rank());
          return ok_status();
        }
        squeeze[static_cast<size_t>(i)] = in.dim(i) == 1;
      }
    }
    std::vector<int64_t> dims;
    for (int i = 0; i < rank; ++i) {
      if (!squeeze[static_cast<size_t>(i)]) dims.push_back(in.dim(i));
    }
    set_reshaped_output(ctx, Shape(dims));
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
class ExpandDimsKernel : public AliasingKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "axis"));
    const Shape& in = ctx.input_shape(0);
    PBMEM_ASSIGN_OR_RETURN(const Tensor* axis_t, shape_input(ctx, 1, "axis"));
    if (axis_t == nullptr || !in.known_rank()) {
      ctx.set_output(0, ctx.input_dtype(0), unknown_dims(in.known_rank() ? in.rank() + 1 : -1));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(int64_t axis, read_int_scalar(ctx.node(), *axis_t, 1, "axis"));
    auto position = normalize_axis(axis, in.rank() + 1, "input 1 'axis'");
    if (!position.ok()) return on_node(ctx.node(), position.status());
    std::vector<int64_t> dims = in.dims();
    dims.insert(dims.begin() + *position, 1);
    set_reshaped_output(ctx, Shape(dims));
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
class TransposeKernel : public CopyPlanKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "perm"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "perm", 1));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    const Shape& in = ctx.input_shape(0);
    PBMEM_ASSIGN_OR_RETURN(const Tensor* perm_t, shape_input(ctx, 1, "perm"));
    if (perm_t == nullptr) {
      ctx.set_output(0, dtype, unknown_dims(in.known_rank() ? in.rank() : vector_length(ctx, 1)));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> perm, read_int_input(ctx.node(), *perm_t, 1, "perm"));
    const int rank = static_cast<int>(perm.size());
    if (in.known_rank() && in.rank() != rank) {
      return ctx.error("input 1 'perm' has ", rank, " entries but input 0 has rank ", in.rank(),
                       " (shape ", in.str(), ")");
    }
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int i = 0; i < rank; ++i) {
      int64_t p = perm[static_cast<size_t>(i)];
      if (p < 0 || p >= rank || seen[static_cast<size_t>(p)]) {
        return ctx.error("input 1 'perm' ", Shape(perm).str(), " is not a permutation of 0..", rank - 1);
      }
      seen[static_cast<size_t>(p)] = true;
    }
    std::vector<int64_t> dims(static_cast<size_t>(rank), kUnknownDim);
    if (in.known_rank()) {
      for (int i = 0; i < rank; ++i) dims[static_cast<size_t>(i)] = in.dim(static_cast<int>(perm[static_cast<size_t>(i)]));
    }
    Shape out(dims);
    if (in.fully_defined()) {
      std::vector<int64_t> in_strides = row_major_strides(in.dims());
      CopyPlan plan;
      plan.count = dims;
      plan.out_stride = row_major_strides(dims);
      for (int i = 0; i < rank; ++i) plan.in_stride.push_back(in_strides[static_cast<size_t>(perm[static_cast<size_t>(i)])]);
      set_plan(make_copy_plan(plan), in);
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }
};

}  // namespace

Status register_array_shape_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Reshape", op_record<ReshapeKernel>()},
      {"Squeeze", op_record<SqueezeKernel>()},
      {"ExpandDims", op_record<ExpandDimsKernel>()},
      {"Transpose", op_record<TransposeKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

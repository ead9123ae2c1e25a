// Graph sources and pass-throughs (Const, Placeholder, Identity, ...), shape queries (Shape,
// ShapeN, Size, Rank) and value generators (Fill, ZerosLike, OnesLike, Range).
//
// Shape queries publish their result as a constant whenever the input shape is known, which is
// what lets Keras shape subgraphs (Shape -> StridedSlice -> Pack -> Reshape) fold away.
#include <cmath>
#include <limits>

#include "graph/graphdef.h"
#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// Larger Const values are only declared (dtype, shape) at load time, so that loading and
// `pbmem inspect` never touch the pages that hold the weights.
constexpr int64_t kMaxLoadTimeConstBytes = 64 * 1024;

// ---------------------------------------------------------------------------------------------
class ConstKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(0, 0));
    const Node& node = ctx.node();
    const AttrValue* value = node.attr("value");
    if (value == nullptr || value->kind != AttrValue::Kind::kTensor) {
      return ctx.error("attribute 'value' must be a tensor");
    }
    const TensorProtoView& proto = value->tensor;
    PBMEM_ASSIGN_OR_RETURN(DType declared, node.attr_type_or("dtype", proto.dtype));
    if (declared != proto.dtype) {
      return ctx.error("attribute 'dtype' is ", dtype_name(declared), " but attribute 'value' holds ",
                       dtype_name(proto.dtype));
    }
    if (!proto.shape.fully_defined()) {
      return ctx.error("attribute 'value' has shape ", proto.shape.str(), ", which is not concrete");
    }
    if (dtype_size(declared) == 0) {
      // Strings and resources appear in graphs' bookkeeping nodes; only computing with them fails.
      if (ctx.concrete()) return ctx.unsupported("Const of dtype ", dtype_name(declared), " is not supported");
      ctx.set_output(0, declared, proto.shape);
      return ok_status();
    }
    auto bytes = proto.shape.num_bytes(declared);
    if (!bytes.ok()) return on_node(node, bytes.status());
    if (!ctx.concrete() && *bytes > kMaxLoadTimeConstBytes) {
      if (!proto.content.empty() && static_cast<int64_t>(proto.content.size()) != *bytes) {
        return ctx.error("attribute 'value' holds ", proto.content.size(), " bytes but shape ",
                         proto.shape.str(), " of ", dtype_name(declared), " needs ", *bytes);
      }
      ctx.set_output(0, declared, proto.shape);
      return ok_status();
    }
    auto tensor = tensor_from_proto(proto, node.file);
    if (!tensor.ok()) return on_node(node, tensor.status());
    ctx.set_output_value(0, std::move(tensor).value());
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    return internal_error(ctx.node().describe(), ": Const is never run (its value is published)");
  }
};

// ---------------------------------------------------------------------------------------------
class PlaceholderKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(0, 0));
    PBMEM_ASSIGN_OR_RETURN(DType dtype, ctx.node().attr_type("dtype"));
    Shape shape = Shape::unknown_rank();
    if (ctx.node().has_attr("shape")) {
      PBMEM_ASSIGN_OR_RETURN(shape, ctx.node().attr_shape("shape"));
    }
    if (ctx.concrete()) return ctx.error("is a graph input and must be fed");
    ctx.set_output(0, dtype, shape);
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    return internal_error(ctx.node().describe(), ": a Placeholder is bound to its fed value, never run");
  }
};

// Copies input 0 to output 0 unless the executor already made them share bytes.
Status copy_through(RunContext& ctx, int index) {
  const Tensor& in = ctx.input(index);
  Tensor& out = ctx.output(index);
  if (out.num_bytes() != in.num_bytes()) {
    return internal_error(ctx.node().describe(), ": output ", index, " has ", out.num_bytes(),
                          " bytes but input ", index, " has ", in.num_bytes());
  }
  if (!out.shares_buffer_with(in) && in.num_bytes() > 0) {
    std::memcpy(out.raw_data(), in.raw_data(), in.num_bytes());
  }
  return ok_status();
}

// The input when fed, else its default. The executor binds a fed value; otherwise output 0
// aliases input 0. Never folded: a later run may feed it.
class PlaceholderWithDefaultKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(DType dtype, node.attr_type("dtype"));
    Shape declared = Shape::unknown_rank();
    if (node.has_attr("shape")) {
      PBMEM_ASSIGN_OR_RETURN(declared, node.attr_shape("shape"));
    }
    if (ctx.input_dtype(0) != dtype) {
      return ctx.error("the default (input 0) is ", dtype_name(ctx.input_dtype(0)),
                       " but attribute 'dtype' is ", dtype_name(dtype));
    }
    const Shape& given = ctx.input_shape(0);
    if (declared.known_rank() && given.known_rank()) {
      bool compatible = declared.rank() == given.rank();
      for (int i = 0; compatible && i < declared.rank(); ++i) {
        int64_t merged;
        compatible = merge_dim(declared.dim(i), given.dim(i), &merged);
      }
      if (!compatible) {
        return ctx.error("the default has shape ", given.str(), ", which does not fit attribute 'shape' ",
                         declared.str());
      }
    }
    ctx.set_output(0, dtype, ctx.concrete() ? given : declared);
    return ok_status();
  }
  Status run(RunContext& ctx) override { return copy_through(ctx, 0); }
  bool aliases_input0() const override { return true; }
};

// Identity, StopGradient, Snapshot, PreventGradient and CheckNumerics: output 0 is input 0.
// CheckNumerics does not check for NaN/Inf here: it is a training-time assertion, and an
// inference runtime passes values through as TF's grappler does when it strips it.
class IdentityKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    if (ctx.const_input(0) != nullptr) {
      ctx.set_output_value(0, *ctx.const_input(0));
    } else {
      ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
    }
    return ok_status();
  }
  Status run(RunContext& ctx) override { return copy_through(ctx, 0); }
  bool aliases_input0() const override { return true; }
};

// n outputs, each the matching input: the executor makes each a view of its input (Keras wraps
// every swish in one, so copies here would cost a pass over each activation). run() copies, for
// callers that evaluate it directly (constant folding).
class IdentityNKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    if (ctx.num_inputs() == 0) return ctx.error("expects at least 1 input");
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.const_input(i) != nullptr) {
        ctx.set_output_value(i, *ctx.const_input(i));
      } else {
        ctx.set_output(i, ctx.input_dtype(i), ctx.input_shape(i));
      }
    }
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    for (int i = 0; i < ctx.num_inputs(); ++i) PBMEM_RETURN_IF_ERROR(copy_through(ctx, i));
    return ok_status();
  }
  bool forwards_inputs() const override { return true; }
};

class NoOpKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override { return ctx.expect_inputs(0, 0); }
  Status run(RunContext&) override { return ok_status(); }
};

// ---------------------------------------------------------------------------------------------
Result<DType> out_type_attr(const Node& node) {
  PBMEM_ASSIGN_OR_RETURN(DType out_type, node.attr_type_or("out_type", DType::kInt32));
  if (out_type != DType::kInt32 && out_type != DType::kInt64) {
    return node.error("attribute 'out_type' must be int32 or int64, got ", dtype_name(out_type));
  }
  return out_type;
}

// Writes values into an int32/int64 tensor; int32 fails for values that do not fit.
Status write_ints(const Node& node, const std::vector<int64_t>& values, Tensor* out) {
  if (out->dtype() == DType::kInt64) {
    for (size_t i = 0; i < values.size(); ++i) out->data<int64_t>()[i] = values[i];
    return ok_status();
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] > std::numeric_limits<int32_t>::max()) {
      return node.error("value ", values[i], " does not fit attribute 'out_type' int32; use int64");
    }
    out->data<int32_t>()[i] = static_cast<int32_t>(values[i]);
  }
  return ok_status();
}

Result<Tensor> int_tensor(const Node& node, DType dtype, const Shape& shape,
                          const std::vector<int64_t>& values) {
  PBMEM_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  PBMEM_RETURN_IF_ERROR(write_ints(node, values, &t));
  return t;
}

// Shape and ShapeN: one 1-D output per input.
class ShapeKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    if (ctx.num_inputs() == 0) return ctx.error("expects at least 1 input");
    if (ctx.node().op == "Shape") PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_ASSIGN_OR_RETURN(DType out_type, out_type_attr(ctx.node()));
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Shape& shape = ctx.input_shape(i);
      if (shape.fully_defined()) {
        PBMEM_ASSIGN_OR_RETURN(Tensor value, int_tensor(ctx.node(), out_type, Shape({shape.rank()}),
                                                        shape.dims()));
        ctx.set_output_value(i, std::move(value));
      } else {
        ctx.set_output(i, out_type, Shape({shape.known_rank() ? shape.rank() : kUnknownDim}));
      }
    }
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      PBMEM_RETURN_IF_ERROR(write_ints(ctx.node(), ctx.input(i).shape().dims(), &ctx.output(i)));
    }
    return ok_status();
  }
};

class SizeKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_ASSIGN_OR_RETURN(DType out_type, out_type_attr(ctx.node()));
    const Shape& shape = ctx.input_shape(0);
    if (shape.fully_defined()) {
      auto n = shape.num_elements();
      if (!n.ok()) return on_node(ctx.node(), n.status());
      PBMEM_ASSIGN_OR_RETURN(Tensor value, int_tensor(ctx.node(), out_type, Shape(), {*n}));
      ctx.set_output_value(0, std::move(value));
    } else {
      ctx.set_output(0, out_type, Shape());
    }
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    return write_ints(ctx.node(), {ctx.input(0).num_elements()}, &ctx.output(0));
  }
};

class RankKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    const Shape& shape = ctx.input_shape(0);
    if (shape.known_rank()) {
      PBMEM_ASSIGN_OR_RETURN(Tensor value, Tensor::scalar<int32_t>(shape.rank()));
      ctx.set_output_value(0, std::move(value));
    } else {
      ctx.set_output(0, DType::kInt32, Shape());
    }
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    *ctx.output(0).data<int32_t>() = ctx.input(0).shape().rank();
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
// ZerosLike and OnesLike.
class FillLikeKernel : public Kernel {
 public:
  explicit FillLikeKernel(bool ones) : ones_(ones) {}
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    if (ones_ && !one_of(dtype, &one_)) {
      return ctx.unsupported("OnesLike of dtype ", dtype_name(dtype), " is not supported");
    }
    ctx.set_output(0, dtype, ctx.input_shape(0));
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    if (ones_) {
      fill_elements(out.raw_data(), out.num_elements(), &one_, dtype_size(out.dtype()));
    } else if (out.num_bytes() > 0) {
      std::memset(out.raw_data(), 0, out.num_bytes());
    }
    return ok_status();
  }

 private:
  bool ones_;
  uint64_t one_ = 0;
};

class FillKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 0, "dims"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "dims", 1));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "value", 0));
    DType dtype = ctx.input_dtype(1);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 1 'value'"));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* dims_t, shape_input(ctx, 0, "dims"));
    if (dims_t == nullptr) {
      const Shape& ds = ctx.input_shape(0);
      ctx.set_output(0, dtype, ds.known_rank() && ds.dim(0) != kUnknownDim
                                   ? Shape(std::vector<int64_t>(static_cast<size_t>(ds.dim(0)), kUnknownDim))
                                   : Shape::unknown_rank());
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> dims, read_int_input(ctx.node(), *dims_t, 0, "dims"));
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] < 0) return ctx.error("input 0 'dims'[", i, "] must be non-negative, got ", dims[i]);
    }
    Shape shape(dims);
    auto bytes = shape.num_bytes(dtype);
    if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
    ctx.set_output(0, dtype, shape);
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    fill_elements(out.raw_data(), out.num_elements(), ctx.input(1).raw_data(), dtype_size(out.dtype()));
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
// Range(start, limit, delta): start + i * delta for i < ceil((limit - start) / delta).
class RangeKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    static const char* const kNames[] = {"start", "limit", "delta"};
    PBMEM_ASSIGN_OR_RETURN(DType dtype, common_dtype(ctx, 0, 3, "start, limit and delta"));
    if (dtype != DType::kInt32 && dtype != DType::kInt64 && dtype != DType::kFloat &&
        dtype != DType::kDouble) {
      return ctx.unsupported("Range of dtype ", dtype_name(dtype), " is not supported");
    }
    const Tensor* values[3];
    bool all_const = true;
    for (int i = 0; i < 3; ++i) {
      const Shape& s = ctx.input_shape(i);
      if (s.known_rank() && (s.rank() > 1 || (s.fully_defined() && s.num_elements_unchecked() != 1))) {
        return ctx.error("input ", i, " '", kNames[i], "' must be a scalar, got shape ", s.str());
      }
      PBMEM_ASSIGN_OR_RETURN(values[i], shape_input(ctx, i, kNames[i]));
      all_const &= values[i] != nullptr;
    }
    if (!all_const) {
      ctx.set_output(0, dtype, Shape({kUnknownDim}));
      return ok_status();
    }
    int64_t size = 0;
    if (dtype == DType::kInt32 || dtype == DType::kInt64) {
      PBMEM_ASSIGN_OR_RETURN(size, int_size(ctx, values));
    } else {
      double start = read_real(*values[0]), limit = read_real(*values[1]), delta = read_real(*values[2]);
      PBMEM_RETURN_IF_ERROR(check_direction(ctx, start, limit, delta));
      // TF computes the count in the element type.
      double count = dtype == DType::kFloat
                         ? std::ceil(std::fabs(static_cast<float>(limit - start) / static_cast<float>(delta)))
                         : std::ceil(std::fabs((limit - start) / delta));
      if (!(count < static_cast<double>(std::numeric_limits<int64_t>::max()))) {
        return ctx.error("(limit - start) / delta is too large: ", count, " elements");
      }
      size = static_cast<int64_t>(count);
    }
    Shape shape({size});
    auto bytes = shape.num_bytes(dtype);
    if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
    ctx.set_output(0, dtype, shape);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    const int64_t n = out.num_elements();
    switch (out.dtype()) {
      case DType::kInt32: fill_range<int32_t>(ctx, n); break;
      case DType::kInt64: fill_range<int64_t>(ctx, n); break;
      case DType::kFloat: fill_range<float>(ctx, n); break;
      case DType::kDouble: fill_range<double>(ctx, n); break;
      default: return internal_error(ctx.node().describe(), ": unexpected Range dtype");
    }
    return ok_status();
  }

 private:
  static double read_real(const Tensor& t) {
    return t.dtype() == DType::kFloat ? static_cast<double>(*t.data<float>()) : *t.data<double>();
  }
  template <typename T>
  static Status check_direction(const InferContext& ctx, T start, T limit, T delta) {
    if (delta == 0) return ctx.error("requires delta != 0");
    if (delta > 0 && start > limit) {
      return ctx.error("requires start <= limit when delta > 0: ", start, "/", limit);
    }
    if (delta < 0 && start < limit) {
      return ctx.error("requires start >= limit when delta < 0: ", start, "/", limit);
    }
    return ok_status();
  }
  static Result<int64_t> int_size(const InferContext& ctx, const Tensor* const* values) {
    static const char* const kNames[] = {"start", "limit", "delta"};
    int64_t v[3];
    for (int i = 0; i < 3; ++i) {
      PBMEM_ASSIGN_OR_RETURN(v[i], read_int_scalar(ctx.node(), *values[i], i, kNames[i]));
    }
    PBMEM_RETURN_IF_ERROR(check_direction<int64_t>(ctx, v[0], v[1], v[2]));
    // 128-bit so that extreme int64 bounds cannot overflow.
    __int128 span = static_cast<__int128>(v[1]) - v[0];
    __int128 step = v[2];
    if (span < 0) span = -span;
    if (step < 0) step = -step;
    __int128 count = (span + step - 1) / step;
    if (count > std::numeric_limits<int64_t>::max()) return ctx.error("the range has too many elements");
    return static_cast<int64_t>(count);
  }
  template <typename T>
  static void fill_range(RunContext& ctx, int64_t n) {
    T start = *ctx.input(0).data<T>();
    T delta = *ctx.input(2).data<T>();
    T* out = ctx.output(0).data<T>();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  }
};

template <bool kOnes>
std::unique_ptr<Kernel> make_fill_like() {
  return std::make_unique<FillLikeKernel>(kOnes);
}

}  // namespace

Status register_array_basic_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Const", op_record<ConstKernel>()},
      {"Placeholder", op_record<PlaceholderKernel>().not_foldable()},
      {"PlaceholderWithDefault", op_record<PlaceholderWithDefaultKernel>().not_foldable()},
      {"Identity", op_record<IdentityKernel>()},
      {"StopGradient", op_record<IdentityKernel>()},
      {"Snapshot", op_record<IdentityKernel>()},
      {"PreventGradient", op_record<IdentityKernel>()},
      {"CheckNumerics", op_record<IdentityKernel>()},
      {"IdentityN", op_record<IdentityNKernel>()},
      {"NoOp", op_record<NoOpKernel>()},
      {"Shape", op_record<ShapeKernel>()},
      {"ShapeN", op_record<ShapeKernel>()},
      {"Size", op_record<SizeKernel>()},
      {"Rank", op_record<RankKernel>()},
      {"ZerosLike", op_record(make_fill_like<false>)},
      {"OnesLike", op_record(make_fill_like<true>)},
      {"Fill", op_record<FillKernel>()},
      {"Range", op_record<RangeKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

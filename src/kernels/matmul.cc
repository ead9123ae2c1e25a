// MatMul (rank 2, transpose_a/transpose_b) and BatchMatMul / V2 / V3 (adj_x/adj_y; V2+ broadcast
// batch dims like NumPy) on oneDNN's matmul through dnnl_adapter. A constant right-hand side
// (weights) is reordered once at prepare into oneDNN's preferred layout; a computed one is used in
// place. Batch dims are simplified first: size-1 dims dropped, neighbours with the same broadcast
// pattern merged, and when only A has batch dims (a shared weight matrix) they fold into M, so
// the common "activations x weights" case is a single 2-D GEMM.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dnnl_adapter.h"
#include "kernels/epilogue.h"
#include "kernels/kernel.h"
#include "graph/mapped_file.h"
#include "kernels/util.h"

namespace pbmem {
namespace {

namespace dnnl = dnnl_adapter;

constexpr int kMatrixRank = 2;

enum class MatMulOp { kMatMul, kBatchMatMul, kBatchMatMulV2 };  // V3 behaves as V2

bool known(int64_t d) { return d != kUnknownDim; }

// The batch dims of `shape` (all but the last two), left-padded with 1s to `rank`.
std::vector<int64_t> padded_batch(const Shape& shape, int rank) {
  std::vector<int64_t> batch(static_cast<size_t>(rank), 1);
  const int own = shape.rank() - kMatrixRank;
  for (int i = 0; i < own; ++i) batch[static_cast<size_t>(rank - own + i)] = shape.dim(i);
  return batch;
}

// Batch dims after dropping size-1 output dims and merging neighbours that broadcast alike.
struct BatchLayout {
  std::vector<int64_t> a;
  std::vector<int64_t> b;
};

BatchLayout simplify_batch(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  BatchLayout out;
  int last_pattern = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const int64_t o = a[i] == 1 ? b[i] : a[i];
    if (o == 1) continue;
    const int pattern = (a[i] == 1 ? 1 : 0) | (b[i] == 1 ? 2 : 0);
    if (pattern == last_pattern) {
      out.a.back() *= a[i];
      out.b.back() *= b[i];
    } else {
      out.a.push_back(a[i]);
      out.b.push_back(b[i]);
      last_pattern = pattern;
    }
  }
  return out;
}

class MatMulKernel : public Kernel {
 public:
  explicit MatMulKernel(MatMulOp op) : op_(op) {}

  Status infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(read_attrs(node));
    for (int i = 0; i < 2; ++i) {
      const DType dtype = ctx.input_dtype(i);
      if (dtype != DType::kFloat && dtype != DType::kInvalid) {
        return ctx.unsupported("input ", i, " must be float, got ", dtype_name(dtype));
      }
    }
    const Shape& a = ctx.input_shape(0);
    const Shape& b = ctx.input_shape(1);
    for (int i = 0; i < 2; ++i) {
      const Shape& s = i == 0 ? a : b;
      if (!s.known_rank()) continue;
      if (op_ == MatMulOp::kMatMul ? s.rank() != kMatrixRank : s.rank() < kMatrixRank) {
        return ctx.error("input ", i, " must be ", op_ == MatMulOp::kMatMul ? "rank " : "rank >= ",
                         kMatrixRank, ", got shape ", s.str());
      }
    }
    if (!a.known_rank() || !b.known_rank()) {
      ctx.set_output(0, DType::kFloat, Shape::unknown_rank());
      return ok_status();
    }
    const int ra = a.rank(), rb = b.rank();
    const int64_t m = a.dim(transpose_a_ ? ra - 1 : ra - 2);
    const int64_t ka = a.dim(transpose_a_ ? ra - 2 : ra - 1);
    const int64_t kb = b.dim(transpose_b_ ? rb - 1 : rb - 2);
    const int64_t n = b.dim(transpose_b_ ? rb - 2 : rb - 1);
    if (known(ka) && known(kb) && ka != kb) {
      return ctx.error("inner dimensions differ: ", a.str(), (transpose_a_ ? "^T" : ""), " x ",
                       b.str(), (transpose_b_ ? "^T" : ""), " (", ka, " vs ", kb, ")");
    }
    std::vector<int64_t> out;
    if (op_ == MatMulOp::kBatchMatMul) {
      if (ra != rb) return ctx.error("inputs must have the same rank, got ", a.str(), " and ", b.str());
      for (int i = 0; i < ra - kMatrixRank; ++i) {
        if (known(a.dim(i)) && known(b.dim(i)) && a.dim(i) != b.dim(i)) {
          return ctx.error("batch dimension ", i, " differs: ", a.str(), " vs ", b.str());
        }
        out.push_back(known(a.dim(i)) ? a.dim(i) : b.dim(i));
      }
    } else if (op_ == MatMulOp::kBatchMatMulV2) {
      std::vector<int64_t> batch_a(a.dims().begin(), a.dims().end() - kMatrixRank);
      std::vector<int64_t> batch_b(b.dims().begin(), b.dims().end() - kMatrixRank);
      Result<Shape> batch = broadcast_shapes(Shape(batch_a), Shape(batch_b));
      if (!batch.ok()) return ctx.error("batch dims: ", batch.status().message());
      out = batch->dims();
    }
    out.push_back(m);
    out.push_back(n);
    ctx.set_output(0, DType::kFloat, Shape(std::move(out)));
    return ok_status();
  }

  // A fused shift becomes the bias and activations post-ops (a scale is not folded here).
  bool accepts_epilogue(const Epilogue& epilogue) const override {
    std::vector<dnnl::EltwisePostOp> post_ops;
    return op_ == MatMulOp::kMatMul && epilogue.scale.empty() && !epilogue.residual &&
           activations_to_post_ops(epilogue.activations, &post_ops);
  }
  void set_epilogue(Epilogue epilogue) override { epilogue_ = std::move(epilogue); }

  Status prepare(const InferContext& ctx) override {
    const Shape& a = ctx.input_shape(0);
    const Shape& b = ctx.input_shape(1);
    const Shape& out = ctx.outputs()[0].shape;
    prepared_a_ = a;
    prepared_b_ = b;
    // Kept until the new op is built: its packed weights are reused when their layout holds.
    std::unique_ptr<dnnl::DnnlOp> replaced = std::move(dnnl_);
    b_constant_ = false;
    b_packed_ = false;
    zero_fill_ = false;
    if (out.num_elements_unchecked() == 0) return ok_status();
    if (a.num_elements_unchecked() == 0 || b.num_elements_unchecked() == 0) {
      zero_fill_ = true;  // K == 0: every output is an empty sum
      return ok_status();
    }
    const int rank = out.rank();
    dnnl::MatMulParams params;
    params.m = out.dim(rank - 2);
    params.n = out.dim(rank - 1);
    params.k = a.dim(transpose_a_ ? a.rank() - 2 : a.rank() - 1);
    params.transpose_a = transpose_a_;
    params.transpose_b = transpose_b_;
    BatchLayout batch = simplify_batch(padded_batch(a, rank), padded_batch(b, rank));
    bool b_has_batch = false;
    for (int64_t d : batch.b) b_has_batch = b_has_batch || d != 1;
    if (!b_has_batch && !transpose_a_) {
      // A's rows of every batch are contiguous and share B: one [batch*M, K] x [K, N] GEMM.
      for (int64_t d : batch.a) params.m *= d;
      batch.a.clear();
      batch.b.clear();
    }
    if (static_cast<int>(batch.a.size()) + kMatrixRank > dnnl::max_matmul_rank()) {
      return ctx.unsupported("more than ", dnnl::max_matmul_rank() - kMatrixRank,
                             " independent batch dims (", a.str(), " x ", b.str(), ")");
    }
    params.batch_a = batch.a;
    params.batch_b = batch.b;
    const std::shared_ptr<const Tensor>& const_b = ctx.input(1).value;
    b_constant_ = const_b != nullptr;
    b_packed_ = false;
    params.constant_weights = b_constant_;
    if (!activations_to_post_ops(epilogue_.activations, &params.post_ops)) {
      return internal_error(ctx.node().describe(), ": fused activation oneDNN cannot apply");
    }
    if (!epilogue_.shift.empty()) {
      if (static_cast<int64_t>(epilogue_.shift.size()) != params.n) {
        return internal_error(ctx.node().describe(), ": fused shift has ", epilogue_.shift.size(),
                              " columns, the output ", params.n);
      }
      // Kept across re-prepares (the shift is fixed), so a new batch size allocates nothing.
      if (!bias_.valid()) {
        PBMEM_ASSIGN_OR_RETURN(bias_, make_bias_tensor(epilogue_.shift));
      }
      params.has_bias = true;
    }
    params.replaces = replaced.get();
    // Mapped weights: B in place in the model file (folded or realigned B is our own copy
    // already, see conv.cc's should_map), unless oneDNN has only a reference kernel for it.
    params.plain_weights = weights_mode_ == WeightsMode::kMapped && b_constant_ && const_b->valid() &&
                           ctx.node().file != nullptr && ctx.node().file->contains(const_b->raw_data());
    Result<std::unique_ptr<dnnl::DnnlOp>> op = dnnl::make_matmul(params);
    if (params.plain_weights && op.status().code() == StatusCode::kUnimplemented) {
      params.plain_weights = false;
      op = dnnl::make_matmul(params);
    }
    if (!op.ok()) return op.status().with_context(ctx.node().describe());
    dnnl_ = std::move(op).value();
    if (b_constant_ && dnnl_->weights_adopted()) {
      b_packed_ = true;  // taken over, already packed, from the replaced op (see conv.cc)
    } else if (b_constant_ && !const_b->valid()) {
      return internal_error(ctx.node().describe(),
                            ": B's packed layout changed but its bytes were released");
    } else if (b_constant_) {
      Status bound = dnnl_->bind_weights(const_b->raw_data());
      if (!bound.ok()) return bound.with_context(ctx.node().describe());
      b_packed_ = dnnl_->packed_weights_bytes() > 0;  // else B is read in place every run
    }
    return ok_status();
  }

  bool needs_input_at_run(int input) const override { return !(input == 1 && b_packed_); }

  Status run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.shape() != prepared_a_ || b.shape() != prepared_b_) {
      return ctx.error("input shapes ", a.shape().str(), " and ", b.shape().str(),
                       " differ from the prepared ", prepared_a_.str(), " and ",
                       prepared_b_.str());
    }
    Tensor& out = ctx.output(0);
    if (zero_fill_) {
      fill_with_epilogue_of_zero(epilogue_, nullptr, &out);
      return ok_status();
    }
    if (!dnnl_) return ok_status();  // empty output
    if (!b_constant_) PBMEM_RETURN_IF_ERROR(dnnl_->bind_weights(b.raw_data()));
    if (ctx.scratch_bytes() < dnnl_->scratch_bytes()) {
      return internal_error(ctx.node().describe(), ": got ", ctx.scratch_bytes(),
                            " scratch bytes, needs ", dnnl_->scratch_bytes());
    }
    dnnl::RunBuffers buffers;
    buffers.src = a.raw_data();
    buffers.dst = out.raw_data();
    buffers.bias = bias_.valid() ? bias_.raw_data() : nullptr;
    buffers.scratch = ctx.scratch();
    Status status = dnnl_->run(buffers);
    return status.ok() ? status : status.with_context(ctx.node().describe());
  }

  size_t scratch_bytes() const override { return dnnl_ ? dnnl_->scratch_bytes() : 0; }
  void set_weights_mode(WeightsMode mode) override { weights_mode_ = mode; }

 private:
  Status read_attrs(const Node& node) {
    const bool plain = op_ == MatMulOp::kMatMul;
    PBMEM_ASSIGN_OR_RETURN(transpose_a_, node.attr_bool_or(plain ? "transpose_a" : "adj_x", false));
    PBMEM_ASSIGN_OR_RETURN(transpose_b_, node.attr_bool_or(plain ? "transpose_b" : "adj_y", false));
    // BatchMatMulV3 types its operands separately (Ta, Tb, Tout).
    for (const char* name : {"T", "Ta", "Tb", "Tout"}) {
      PBMEM_ASSIGN_OR_RETURN(DType dtype, node.attr_type_or(name, DType::kFloat));
      if (dtype != DType::kFloat) {
        return node.unsupported("attribute '", name, "' is ", dtype_name(dtype),
                                "; only float is supported");
      }
    }
    return ok_status();
  }

  MatMulOp op_;
  bool transpose_a_ = false;
  bool transpose_b_ = false;
  Shape prepared_a_;
  Shape prepared_b_;
  std::unique_ptr<dnnl::DnnlOp> dnnl_;
  bool b_constant_ = false;  // bound once at prepare
  bool b_packed_ = false;    // and reordered into dnnl_'s own copy
  WeightsMode weights_mode_ = WeightsMode::kPacked;
  bool zero_fill_ = false;
  Epilogue epilogue_;
  Tensor bias_;  // the fused shift
};

class PlainMatMulKernel : public MatMulKernel {
 public:
  PlainMatMulKernel() : MatMulKernel(MatMulOp::kMatMul) {}
};
class BatchMatMulKernel : public MatMulKernel {
 public:
  BatchMatMulKernel() : MatMulKernel(MatMulOp::kBatchMatMul) {}
};
class BatchMatMulV2Kernel : public MatMulKernel {
 public:
  BatchMatMulV2Kernel() : MatMulKernel(MatMulOp::kBatchMatMulV2) {}
};

}  // namespace

// Each output element of [..., M, N] sums K products; K is the dim of input 0 that is not M.
double matmul_multiply_adds(const Node& node, const TensorInfo& out,
                            const std::vector<const TensorInfo*>& in) {
  const Shape* a = known_shape(in.empty() ? nullptr : in[0]);
  if (a == nullptr || a->rank() < 2) return 0;
  bool transposed = false;
  for (const char* key : {"transpose_a", "adj_x"}) {
    const AttrValue* attr = node.attr(key);
    if (attr != nullptr && attr->kind == AttrValue::Kind::kB) transposed |= attr->b;
  }
  const double k = static_cast<double>(a->dim(transposed ? a->rank() - 2 : a->rank() - 1));
  return element_count(out.shape) * k;
}

Status register_einsum_ops(OpRegistry& registry);  // einsum.cc

Status register_matmul_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"MatMul", op_record<PlainMatMulKernel>().fusion_producer().flops(matmul_multiply_adds)},
      {"BatchMatMul", op_record<BatchMatMulKernel>().flops(matmul_multiply_adds)},
      {"BatchMatMulV2", op_record<BatchMatMulV2Kernel>().flops(matmul_multiply_adds)},
      {"BatchMatMulV3", op_record<BatchMatMulV2Kernel>().flops(matmul_multiply_adds)},
  }));
  return register_einsum_ops(registry);
}

}  // namespace pbmem

// Block rearrangements between space, depth and batch, in TF's element order:
//   DepthToSpace (NHWC): out[b, h*bs + i, w*bs + j, c] = in[b, h, w, (i*bs + j)*C + c]
//   SpaceToDepth (NHWC): the inverse.
//   SpaceToBatchND(x, block_shape, paddings): zero-pad the M spatial dims after the batch, then
//     out[(i_1*block_2 + i_2 ...)*B + b, h_1, ..., h_M, rest] = padded[b, h_1*block_1 + i_1, ...]
//   BatchToSpaceND(x, block_shape, crops): the inverse, cropping instead of padding.
//   SpaceToBatch / BatchToSpace (v1): the same for a 4-D input and a square block_size.
// All are pure element moves: CopyPlans (one per block offset for the ND ops).
#include <algorithm>
#include <cstring>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

constexpr int kRank4 = 4;

// DepthToSpace and SpaceToDepth. Both are one CopyPlan over dims [B, H, bs, W, bs, C] of the
// space side, read from (or written to) the depth side's [B, H, W, bs, bs, C].
class DepthSpaceKernel : public CopyPlanKernel {
 public:
  explicit DepthSpaceKernel(bool to_space) : to_space_(to_space) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "input", kRank4));
    PBMEM_ASSIGN_OR_RETURN(std::string format, ctx.node().attr_string_or("data_format", "NHWC"));
    if (format != "NHWC") {
      return ctx.unsupported("attribute 'data_format' = '", format,
                             "' is not supported (only NHWC)");
    }
    PBMEM_ASSIGN_OR_RETURN(int64_t bs, ctx.node().attr_int("block_size"));
    if (bs < 2 || bs > (int64_t{1} << 30)) {
      return ctx.error("attribute 'block_size' must be in [2, 2^30], got ", bs);
    }
    const Shape& in = ctx.input_shape(0);
    if (!in.known_rank()) {
      ctx.set_output(0, dtype, unknown_dims(kRank4));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(Shape out, output_shape(ctx, in, bs));
    if (out.fully_defined()) {
      set_plan(make_plan(to_space_ ? out : in, bs), in);
    }
    ctx.set_output(0, dtype, std::move(out));
    return ok_status();
  }

 private:
  Result<Shape> output_shape(const InferContext& ctx, const Shape& in, int64_t bs) const {
    std::vector<int64_t> dims = in.dims();
    const int64_t area = bs * bs;
    if (to_space_) {
      const int64_t c = in.dim(3);
      if (c != kUnknownDim && c % area != 0) {
        return ctx.error("input depth ", c,
                         " must be divisible by block_size * block_size = ", area);
      }
      for (int d = 1; d <= 2; ++d) {
        if (dims[static_cast<size_t>(d)] != kUnknownDim &&
            !checked_mul(dims[static_cast<size_t>(d)], bs, &dims[static_cast<size_t>(d)])) {
          return ctx.error("output dimension ", d, " overflows int64");
        }
      }
      if (c != kUnknownDim) dims[3] = c / area;
    } else {
      for (int d = 1; d <= 2; ++d) {
        const int64_t size = in.dim(d);
        if (size != kUnknownDim && size % bs != 0) {
          return ctx.error("input dimension ", d, " (", size, ") must be divisible by block_size ",
                           bs);
        }
        if (size != kUnknownDim) dims[static_cast<size_t>(d)] = size / bs;
      }
      if (in.dim(3) != kUnknownDim && !checked_mul(in.dim(3), area, &dims[3])) {
        return ctx.error("output depth overflows int64");
      }
    }
    return Shape(std::move(dims));
  }

  // space: the [B, H*bs, W*bs, C] side.
  CopyPlan make_plan(const Shape& space, int64_t bs) const {
    const int64_t b = space.dim(0), h = space.dim(1) / bs, w = space.dim(2) / bs, c = space.dim(3);
    const std::vector<int64_t> space_dims = {b, h, bs, w, bs, c};
    const std::vector<int64_t> space_strides = row_major_strides(space_dims);
    // Strides of [B, H, W, bs_i, bs_j, C] reordered to [B, H, bs_i, W, bs_j, C].
    const std::vector<int64_t> depth = row_major_strides({b, h, w, bs, bs, c});
    const std::vector<int64_t> depth_strides = {depth[0], depth[1], depth[3],
                                                depth[2], depth[4], depth[5]};
    CopyPlan plan;
    plan.count = space_dims;
    plan.in_stride = to_space_ ? depth_strides : space_strides;
    plan.out_stride = to_space_ ? space_strides : depth_strides;
    return make_copy_plan(plan);
  }

  bool to_space_;
};

template <bool kToSpace>
std::unique_ptr<Kernel> make_depth_space() {
  return std::make_unique<DepthSpaceKernel>(kToSpace);
}

// ---------------------------------------------------------------------------------------------
// SpaceToBatchND and BatchToSpaceND. The space side is [B, s_1..s_M, rest...], the batch side
// [B*P, t_1..t_M, rest...] with P = prod(block); batch row (q*B + b) with block offsets
// (i_1..i_M) = q holds space positions h_k*block_k + i_k - before_k (before: the padding or the
// crop at the start). One CopyPlan per block offset covers the positions inside the space side.

// Block offsets beyond this many plans are refused: they could only come from a corrupt graph
// (a real block is a dilation rate or a pyramid step), and each costs a plan.
constexpr int64_t kMaxBlockProduct = int64_t{1} << 20;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

struct BlockGeometry {
  std::vector<int64_t> space;  // dims of the space side
  std::vector<int64_t> batch;  // dims of the batch side
  std::vector<int64_t> block;
  std::vector<int64_t> before;
};

// The plan of block offset q copying space -> batch (to_batch) or batch -> space; false when no
// position of this offset lies inside the space side.
bool block_offset_plan(const BlockGeometry& g, int64_t q, bool to_batch, CopyPlan* plan) {
  const int m = static_cast<int>(g.block.size());
  const std::vector<int64_t> ss = row_major_strides(g.space);
  const std::vector<int64_t> bs = row_major_strides(g.batch);
  const int64_t b = g.space[0];
  const int64_t rest = dims_product(g.space, 1 + m, static_cast<int>(g.space.size()));
  std::vector<int64_t> count = {b}, s_stride = {ss[0]}, b_stride = {bs[0]};
  int64_t s_base = 0, b_base = q * b * bs[0];
  int64_t offsets = q;
  for (int k = m - 1; k >= 0; --k) {
    const size_t i = static_cast<size_t>(k);
    const int64_t off = offsets % g.block[i];
    offsets /= g.block[i];
    const int64_t lo = std::max<int64_t>(0, ceil_div(g.before[i] - off, g.block[i]));
    const int64_t hi =
        std::min(g.batch[i + 1], ceil_div(g.space[i + 1] + g.before[i] - off, g.block[i]));
    if (hi <= lo) return false;
    count.insert(count.begin() + 1, hi - lo);
    s_stride.insert(s_stride.begin() + 1, g.block[i] * ss[i + 1]);
    b_stride.insert(b_stride.begin() + 1, bs[i + 1]);
    s_base += (lo * g.block[i] + off - g.before[i]) * ss[i + 1];
    b_base += lo * bs[i + 1];
  }
  count.push_back(rest);
  s_stride.push_back(1);
  b_stride.push_back(1);
  plan->count = count;
  plan->in_base = to_batch ? s_base : b_base;
  plan->out_base = to_batch ? b_base : s_base;
  plan->in_stride = to_batch ? s_stride : b_stride;
  plan->out_stride = to_batch ? b_stride : s_stride;
  *plan = make_copy_plan(*plan);
  return true;
}

class SpaceBatchKernel : public Kernel {
 public:
  // v1: SpaceToBatch / BatchToSpace (input, paddings/crops) of a 4-D input with a square
  // block_size attribute; otherwise the ND ops (input, block_shape, paddings/crops).
  SpaceBatchKernel(bool to_batch, bool v1)
      : to_batch_(to_batch), v1_(v1), pads_index_(v1 ? 1 : 2) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(pads_index_ + 1, pads_index_ + 1));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, pads_index_, pads_name()));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, pads_index_, pads_name(), 2));
    const Shape& in = ctx.input_shape(0);
    BlockGeometry g;
    PBMEM_ASSIGN_OR_RETURN(bool block_known, read_block_shape(ctx, &g.block));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* pads_t, shape_input(ctx, pads_index_, pads_name()));
    if (!block_known || pads_t == nullptr) {
      ctx.set_output(0, dtype, unknown_dims(in.known_rank() ? in.rank() : -1));
      return ok_status();
    }
    std::vector<int64_t> after;
    PBMEM_RETURN_IF_ERROR(read_block(ctx, *pads_t, &g, &after));
    if (!in.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(Shape out, output_shape(ctx, in, g, after));
    plans_.clear();
    if (in.fully_defined() && out.fully_defined()) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      g.space = to_batch_ ? in.dims() : out.dims();
      g.batch = to_batch_ ? out.dims() : in.dims();
      const int64_t p = dims_product(g.block, 0, static_cast<int>(g.block.size()));
      for (int64_t q = 0; q < p; ++q) {
        CopyPlan plan;
        if (block_offset_plan(g, q, to_batch_, &plan)) plans_.push_back(std::move(plan));
      }
      // Padding positions are the only ones no plan writes.
      auto nonzero = [](int64_t v) { return v != 0; };
      zero_fill_ = to_batch_ && (std::any_of(g.before.begin(), g.before.end(), nonzero) ||
                                 std::any_of(after.begin(), after.end(), nonzero));
      planned_ = in;
    }
    ctx.set_output(0, dtype, std::move(out));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    Tensor& out = ctx.output(0);
    if (zero_fill_ && out.num_bytes() > 0) std::memset(out.raw_data(), 0, out.num_bytes());
    const size_t elem = dtype_size(out.dtype());
    for (const CopyPlan& plan : plans_)
      run_copy_plan(plan, ctx.input(0).raw_data(), out.raw_data(), elem);
    return ok_status();
  }

 private:
  const char* pads_name() const { return to_batch_ ? "paddings" : "crops"; }

  // The block: v1's block_size attribute on both spatial dims of its 4-D input, or the ND ops'
  // constant input 1. False when that input is not constant yet.
  Result<bool> read_block_shape(const InferContext& ctx, std::vector<int64_t>* block) const {
    if (v1_) {
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "input", 4));
      PBMEM_ASSIGN_OR_RETURN(int64_t size, ctx.node().attr_int("block_size"));
      if (size < 2) return ctx.error("attribute 'block_size' must be at least 2, got ", size);
      *block = {size, size};
      return true;
    }
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "block_shape"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "block_shape", 1));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* block_t, shape_input(ctx, 1, "block_shape"));
    if (block_t == nullptr) return false;
    PBMEM_ASSIGN_OR_RETURN(*block, read_int_input(ctx.node(), *block_t, 1, "block_shape"));
    return true;
  }

  Status read_block(const InferContext& ctx, const Tensor& pads_t, BlockGeometry* g,
                    std::vector<int64_t>* after) const {
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                           read_int_input(ctx.node(), pads_t, pads_index_, pads_name()));
    const int64_t m = static_cast<int64_t>(g->block.size());
    if (pads_t.shape() != Shape({m, 2})) {
      return ctx.error("input ", pads_index_, " '", pads_name(), "' must have shape [", m,
                       ", 2] for ", m, " block dims, got ", pads_t.shape().str());
    }
    int64_t product = 1;
    for (int64_t k = 0; k < m; ++k) {
      const int64_t block = g->block[static_cast<size_t>(k)];
      if (block < 1)
        return ctx.error("input 1 'block_shape'[", k, "] must be at least 1, got ", block);
      if (!checked_mul(product, block, &product) || product > kMaxBlockProduct) {
        return ctx.error("input 1 'block_shape' ", Shape(g->block).str(), " has more than ",
                         kMaxBlockProduct, " block offsets");
      }
      const int64_t start = pads[static_cast<size_t>(2 * k)],
                    end = pads[static_cast<size_t>(2 * k + 1)];
      if (start < 0 || end < 0) {
        return ctx.error("input ", pads_index_, " '", pads_name(), "'[", k,
                         "] must be non-negative, got [", start, ", ", end, "]");
      }
      g->before.push_back(start);
      after->push_back(end);
    }
    return ok_status();
  }

  Result<Shape> output_shape(const InferContext& ctx, const Shape& in, const BlockGeometry& g,
                             const std::vector<int64_t>& after) const {
    const int m = static_cast<int>(g.block.size());
    if (in.rank() < 1 + m) {
      return ctx.error("input 0 of shape ", in.str(), " must have rank at least ", 1 + m,
                       " (batch + ", m, " block dims)");
    }
    std::vector<int64_t> dims = in.dims();
    const int64_t p = dims_product(g.block, 0, m);
    if (dims[0] != kUnknownDim) {
      if (!to_batch_ && dims[0] % p != 0) {
        return ctx.error("input batch ", dims[0], " must be divisible by prod(block_shape) = ", p);
      }
      if (to_batch_ && !checked_mul(dims[0], p, &dims[0]))
        return ctx.error("output batch overflows int64");
      if (!to_batch_) dims[0] /= p;
    }
    for (int k = 0; k < m; ++k) {
      const size_t i = static_cast<size_t>(k);
      int64_t& d = dims[i + 1];
      if (d == kUnknownDim) continue;
      int64_t edge = 0, padded = 0;
      if (!checked_add(g.before[i], after[i], &edge) || !checked_add(d, edge, &padded)) {
        return ctx.error("input ", pads_index_, " '", pads_name(), "'[", k, "] overflows int64");
      }
      if (to_batch_) {
        if (padded % g.block[i] != 0) {
          return ctx.error("padded dimension ", k + 1, " (", d, " + ", edge,
                           ") must be divisible by block_shape[", k, "] = ", g.block[i]);
        }
        d = padded / g.block[i];
      } else {
        int64_t full = 0;
        if (!checked_mul(d, g.block[i], &full) || full < edge) {
          return ctx.error("crops[", k, "] total ", edge, " exceeds the block-expanded dimension ",
                           k + 1);
        }
        d = full - edge;
      }
    }
    return Shape(std::move(dims));
  }

  bool to_batch_;
  bool v1_;
  int pads_index_;
  bool zero_fill_ = false;
  std::vector<CopyPlan> plans_;
  Shape planned_ = Shape::unknown_rank();
};

template <bool kToBatch, bool kV1>
std::unique_ptr<Kernel> make_space_batch() {
  return std::make_unique<SpaceBatchKernel>(kToBatch, kV1);
}

}  // namespace

Status register_space_depth_ops(OpRegistry& registry) {
  return registry.add_all({
      {"DepthToSpace", op_record(make_depth_space<true>)},
      {"SpaceToDepth", op_record(make_depth_space<false>)},
      {"SpaceToBatchND", op_record(make_space_batch<true, false>)},
      {"BatchToSpaceND", op_record(make_space_batch<false, false>)},
      {"SpaceToBatch", op_record(make_space_batch<true, true>)},
      {"BatchToSpace", op_record(make_space_batch<false, true>)},
  });
}

}  // namespace array_detail
}  // namespace pbmem

// Joining and cutting along one axis (ConcatV2, Concat, Pack, Split, SplitV, Unpack) and Tile.
// Each piece is one CopyPlan between the whole tensor and the piece, made in infer() once the
// shapes are concrete; run() only executes the plans.
#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// Upper bound on Split/Unpack outputs, so that a corrupt attribute cannot request billions.
constexpr int64_t kMaxOutputs = 1 << 20;

Status check_output_count(const InferContext& ctx, const char* attr, int64_t n) {
  if (n > kMaxOutputs) return ctx.error("attribute '", attr, "' = ", n, " exceeds the limit of ", kMaxOutputs, " outputs");
  return ok_status();
}

// Copy between a whole tensor and one piece of it: the piece has the whole's dims except along
// `axis`, where it covers [offset, offset + piece[axis]).
CopyPlan piece_plan(const std::vector<int64_t>& whole, const std::vector<int64_t>& piece, int axis,
                    int64_t offset, bool piece_to_whole) {
  std::vector<int64_t> whole_strides = row_major_strides(whole);
  std::vector<int64_t> piece_strides = row_major_strides(piece);
  CopyPlan plan;
  plan.count = piece;
  int64_t whole_base = offset * whole_strides[static_cast<size_t>(axis)];
  if (piece_to_whole) {
    plan.in_stride = piece_strides;
    plan.out_stride = whole_strides;
    plan.out_base = whole_base;
  } else {
    plan.in_stride = whole_strides;
    plan.out_stride = piece_strides;
    plan.in_base = whole_base;
  }
  return make_copy_plan(plan);
}

// Merges the shapes of inputs [first, first+count) that must agree except along `axis`
// (axis < 0: everywhere). Returns the merged dims; along `axis` the sum (or unknown).
Result<Shape> merge_pieces(const InferContext& ctx, int first, int count, int rank, int axis) {
  std::vector<int64_t> dims(static_cast<size_t>(rank), kUnknownDim);
  int64_t axis_sum = 0;
  bool axis_known = true;
  for (int k = first; k < first + count; ++k) {
    const Shape& s = ctx.input_shape(k);
    if (!s.known_rank()) {
      axis_known = false;
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      if (d == axis) {
        if (s.dim(d) == kUnknownDim) {
          axis_known = false;
        } else if (!checked_add(axis_sum, s.dim(d), &axis_sum)) {
          return ctx.error("the output size along axis ", axis, " overflows int64");
        }
      } else if (!merge_dim(dims[static_cast<size_t>(d)], s.dim(d), &dims[static_cast<size_t>(d)])) {
        return ctx.error("input ", k, " has shape ", s.str(), ", which does not match input ", first,
                         "'s shape ", ctx.input_shape(first).str(),
                         axis >= 0 ? str_cat(" outside axis ", axis) : std::string());
      }
    }
  }
  if (axis >= 0) dims[static_cast<size_t>(axis)] = axis_known ? axis_sum : kUnknownDim;
  return Shape(dims);
}

bool all_fully_defined(const InferContext& ctx, int first, int count) {
  for (int k = first; k < first + count; ++k) {
    if (!ctx.input_shape(k).fully_defined()) return false;
  }
  return true;
}

// The rank shared by inputs [first, first+count): -1 when none is known; error when they differ.
Result<int> common_rank(const InferContext& ctx, int first, int count) {
  int rank = -1;
  for (int k = first; k < first + count; ++k) {
    const Shape& s = ctx.input_shape(k);
    if (!s.known_rank()) continue;
    if (rank >= 0 && s.rank() != rank) {
      return ctx.error("input ", k, " has rank ", s.rank(), " (shape ", s.str(), ") but another has rank ", rank);
    }
    rank = s.rank();
  }
  return rank;
}

Status check_count_attr(const InferContext& ctx, const char* attr, int count) {
  PBMEM_ASSIGN_OR_RETURN(int64_t n, ctx.node().attr_int_or(attr, count));
  if (n != count) return ctx.error("attribute '", attr, "' is ", n, " but the node has ", count, " values");
  if (count < 1) return ctx.error("needs at least one value to join");
  return ok_status();
}

// Many pieces joined into output 0 (ConcatV2, Concat, Pack) or input 0 cut into many outputs
// (Split, SplitV, Unpack): one plan per piece.
class PiecesKernel : public Kernel {
 protected:
  void plan_join(const InferContext& ctx, int first, int count, const Shape& out, int axis, bool pack) {
    plans_.clear();
    int64_t offset = 0;
    for (int k = first; k < first + count; ++k) {
      std::vector<int64_t> piece = ctx.input_shape(k).dims();
      if (pack) piece.insert(piece.begin() + axis, 1);
      plans_.push_back(piece_plan(out.dims(), piece, axis, offset, /*piece_to_whole=*/true));
      offset += piece[static_cast<size_t>(axis)];
    }
    first_ = first;
    join_ = true;
    planned_ = ctx.input_shape(0);
  }
  void plan_cut(const InferContext& ctx, int input, const std::vector<Shape>& outs, int axis, bool unpack) {
    plans_.clear();
    int64_t offset = 0;
    for (const Shape& out : outs) {
      std::vector<int64_t> piece = out.dims();
      if (unpack) piece.insert(piece.begin() + axis, 1);
      plans_.push_back(piece_plan(ctx.input_shape(input).dims(), piece, axis, offset, false));
      offset += piece[static_cast<size_t>(axis)];
    }
    first_ = input;
    join_ = false;
    planned_ = ctx.input_shape(0);
  }

 public:
  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    if (join_) {
      const Tensor& out = ctx.output(0);
      for (size_t k = 0; k < plans_.size(); ++k) {
        const Tensor& in = ctx.input(first_ + static_cast<int>(k));
        run_copy_plan(plans_[k], in.raw_data(), out.raw_data(), dtype_size(out.dtype()));
      }
    } else {
      const Tensor& in = ctx.input(first_);
      for (size_t k = 0; k < plans_.size(); ++k) {
        run_copy_plan(plans_[k], in.raw_data(), ctx.output(static_cast<int>(k)).raw_data(),
                      dtype_size(in.dtype()));
      }
    }
    return ok_status();
  }

 private:
  std::vector<CopyPlan> plans_;
  int first_ = 0;
  bool join_ = true;
  Shape planned_ = Shape::unknown_rank();
};

// ---------------------------------------------------------------------------------------------
// ConcatV2(values..., axis) and Concat(axis, values...).
class ConcatKernel : public PiecesKernel {
 public:
  explicit ConcatKernel(bool axis_first) : axis_first_(axis_first) {}
  Status infer(InferContext& ctx) override {
    if (ctx.num_inputs() < 2) return ctx.error("expects at least 2 inputs (values and axis), got ", ctx.num_inputs());
    const int count = ctx.num_inputs() - 1;
    const int first = axis_first_ ? 1 : 0;
    const int axis_index = axis_first_ ? 0 : count;
    PBMEM_RETURN_IF_ERROR(check_count_attr(ctx, "N", count));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, axis_index, "axis"));
    PBMEM_ASSIGN_OR_RETURN(DType dtype, common_dtype(ctx, first, count, "the values"));
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "the values"));
    PBMEM_ASSIGN_OR_RETURN(int rank, common_rank(ctx, first, count));
    if (rank == 0) return ctx.error("cannot concatenate scalars (use Pack)");
    PBMEM_ASSIGN_OR_RETURN(const Tensor* axis_t, shape_input(ctx, axis_index, "axis"));
    if (rank < 0 || axis_t == nullptr) {
      ctx.set_output(0, dtype, rank < 0 ? Shape::unknown_rank() : unknown_dims(rank));
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(int64_t raw_axis, read_int_scalar(ctx.node(), *axis_t, axis_index, "axis"));
    auto axis = normalize_axis(raw_axis, rank, "input 'axis'");
    if (!axis.ok()) return on_node(ctx.node(), axis.status());
    PBMEM_ASSIGN_OR_RETURN(Shape out, merge_pieces(ctx, first, count, rank, *axis));
    if (all_fully_defined(ctx, first, count)) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      plan_join(ctx, first, count, out, *axis, /*pack=*/false);
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

 private:
  bool axis_first_;
};

class PackKernel : public PiecesKernel {
 public:
  Status infer(InferContext& ctx) override {
    const int count = ctx.num_inputs();
    PBMEM_RETURN_IF_ERROR(check_count_attr(ctx, "N", count));
    PBMEM_ASSIGN_OR_RETURN(DType dtype, common_dtype(ctx, 0, count, "the values"));
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "the values"));
    PBMEM_ASSIGN_OR_RETURN(int64_t raw_axis, ctx.node().attr_int_or("axis", 0));
    PBMEM_ASSIGN_OR_RETURN(int rank, common_rank(ctx, 0, count));
    if (rank < 0) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    auto axis = normalize_axis(raw_axis, rank + 1, "attribute 'axis'");
    if (!axis.ok()) return on_node(ctx.node(), axis.status());
    PBMEM_ASSIGN_OR_RETURN(Shape piece, merge_pieces(ctx, 0, count, rank, -1));
    std::vector<int64_t> dims = piece.dims();
    dims.insert(dims.begin() + *axis, count);
    Shape out(dims);
    if (all_fully_defined(ctx, 0, count)) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      plan_join(ctx, 0, count, out, *axis, /*pack=*/true);
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
class UnpackKernel : public PiecesKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    PBMEM_ASSIGN_OR_RETURN(int64_t num, ctx.node().attr_int("num"));
    PBMEM_ASSIGN_OR_RETURN(int64_t raw_axis, ctx.node().attr_int_or("axis", 0));
    if (num < 0) return ctx.error("attribute 'num' must be non-negative, got ", num);
    PBMEM_RETURN_IF_ERROR(check_output_count(ctx, "num", num));
    const Shape& in = ctx.input_shape(0);
    if (!in.known_rank()) {
      for (int k = 0; k < num; ++k) ctx.set_output(k, dtype, Shape::unknown_rank());
      return ok_status();
    }
    auto axis = normalize_axis(raw_axis, in.rank(), "attribute 'axis'");
    if (!axis.ok()) return on_node(ctx.node(), axis.status());
    const int64_t size = in.dim(*axis);
    if (size != kUnknownDim && size != num) {
      return ctx.error("attribute 'num' is ", num, " but dimension ", *axis, " of input 0 ", in.str(),
                       " has size ", size);
    }
    std::vector<int64_t> dims = in.dims();
    dims.erase(dims.begin() + *axis);
    std::vector<Shape> outs(static_cast<size_t>(num), Shape(dims));
    for (int k = 0; k < num; ++k) ctx.set_output(k, dtype, outs[static_cast<size_t>(k)]);
    if (in.fully_defined()) plan_cut(ctx, 0, outs, *axis, /*unpack=*/true);
    return ok_status();
  }
};

// Split(axis, value) into num_split equal parts; SplitV(value, size_splits, axis).
class SplitKernel : public PiecesKernel {
 public:
  explicit SplitKernel(bool sized) : sized_(sized) {}
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(sized_ ? 3 : 2, sized_ ? 3 : 2));
    const int value_index = sized_ ? 0 : 1;
    const int axis_index = sized_ ? 2 : 0;
    const DType dtype = ctx.input_dtype(value_index);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 'value'"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, axis_index, "axis"));
    PBMEM_ASSIGN_OR_RETURN(int64_t num, ctx.node().attr_int("num_split"));
    if (num < 1) return ctx.error("attribute 'num_split' must be at least 1, got ", num);
    PBMEM_RETURN_IF_ERROR(check_output_count(ctx, "num_split", num));
    const Shape& in = ctx.input_shape(value_index);
    PBMEM_ASSIGN_OR_RETURN(const Tensor* axis_t, shape_input(ctx, axis_index, "axis"));
    const Tensor* sizes_t = nullptr;
    if (sized_) {
      PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "size_splits"));
      PBMEM_ASSIGN_OR_RETURN(sizes_t, shape_input(ctx, 1, "size_splits"));
    }
    if (!in.known_rank() || axis_t == nullptr) {
      Shape unknown = in.known_rank() ? unknown_dims(in.rank()) : Shape::unknown_rank();
      for (int k = 0; k < num; ++k) ctx.set_output(k, dtype, unknown);
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(int64_t raw_axis, read_int_scalar(ctx.node(), *axis_t, axis_index, "axis"));
    auto axis = normalize_axis(raw_axis, in.rank(), "input 'axis'");
    if (!axis.ok()) return on_node(ctx.node(), axis.status());
    const int64_t size = in.dim(*axis);
    std::vector<int64_t> sizes;
    if (sized_) {
      if (sizes_t == nullptr) {
        sizes.assign(static_cast<size_t>(num), kUnknownDim);
      } else {
        PBMEM_ASSIGN_OR_RETURN(sizes, read_int_input(ctx.node(), *sizes_t, 1, "size_splits"));
        PBMEM_RETURN_IF_ERROR(resolve_sizes(ctx, num, size, &sizes));
      }
    } else {
      if (size != kUnknownDim && size % num != 0) {
        return ctx.error("attribute 'num_split' ", num, " does not evenly divide dimension ", *axis,
                         " of input 'value' ", in.str());
      }
      sizes.assign(static_cast<size_t>(num), size == kUnknownDim ? kUnknownDim : size / num);
    }
    std::vector<Shape> outs;
    for (int k = 0; k < num; ++k) {
      Shape piece = in;
      piece.dim(*axis) = sizes[static_cast<size_t>(k)];
      ctx.set_output(k, dtype, piece);
      outs.push_back(piece);
    }
    bool concrete = in.fully_defined();
    for (const Shape& s : outs) concrete &= s.fully_defined();
    if (concrete) plan_cut(ctx, value_index, outs, *axis, /*unpack=*/false);
    return ok_status();
  }

 private:
  // size_splits: num entries, at most one -1 (the rest), summing to the split dimension.
  static Status resolve_sizes(const InferContext& ctx, int64_t num, int64_t size, std::vector<int64_t>* sizes) {
    if (static_cast<int64_t>(sizes->size()) != num) {
      return ctx.error("input 1 'size_splits' has ", sizes->size(), " entries but attribute 'num_split' is ", num);
    }
    int inferred = -1;
    int64_t sum = 0;
    for (size_t k = 0; k < sizes->size(); ++k) {
      int64_t s = (*sizes)[k];
      if (s == -1) {
        if (inferred >= 0) return ctx.error("input 1 'size_splits' may contain -1 only once");
        inferred = static_cast<int>(k);
      } else if (s < 0) {
        return ctx.error("input 1 'size_splits'[", k, "] must be non-negative or -1, got ", s);
      } else if (!checked_add(sum, s, &sum)) {
        return ctx.error("input 1 'size_splits' sums past int64");
      }
    }
    if (size == kUnknownDim) {
      if (inferred >= 0) (*sizes)[static_cast<size_t>(inferred)] = kUnknownDim;
      return ok_status();
    }
    if (inferred >= 0) {
      if (sum > size) {
        return ctx.error("input 1 'size_splits' sums to ", sum, ", more than the split dimension's size ", size);
      }
      (*sizes)[static_cast<size_t>(inferred)] = size - sum;
    } else if (sum != size) {
      return ctx.error("input 1 'size_splits' sums to ", sum, " but the split dimension has size ", size);
    }
    return ok_status();
  }
  bool sized_;
};

// ---------------------------------------------------------------------------------------------
// Tile: output dim d is input dim d repeated multiples[d] times. Viewed as dims
// (m0, i0, m1, i1, ...) with input stride 0 along each m: a single CopyPlan.
class TileKernel : public CopyPlanKernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "multiples"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "multiples", 1));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    const Shape& in = ctx.input_shape(0);
    PBMEM_ASSIGN_OR_RETURN(const Tensor* mult_t, shape_input(ctx, 1, "multiples"));
    if (mult_t == nullptr) {
      ctx.set_output(0, dtype, in.known_rank() ? unknown_dims(in.rank()) : Shape::unknown_rank());
      return ok_status();
    }
    PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> mult, read_int_input(ctx.node(), *mult_t, 1, "multiples"));
    const int rank = static_cast<int>(mult.size());
    if (in.known_rank() && in.rank() != rank) {
      return ctx.error("input 1 'multiples' has ", rank, " entries but input 0 has rank ", in.rank());
    }
    std::vector<int64_t> dims(static_cast<size_t>(rank), kUnknownDim);
    for (int d = 0; d < rank; ++d) {
      int64_t m = mult[static_cast<size_t>(d)];
      if (m < 0) return ctx.error("input 1 'multiples'[", d, "] must be non-negative, got ", m);
      if (!in.known_rank() || in.dim(d) == kUnknownDim) continue;
      if (!checked_mul(in.dim(d), m, &dims[static_cast<size_t>(d)])) {
        return ctx.error("output dimension ", d, " overflows int64");
      }
    }
    Shape out(dims);
    if (out.fully_defined() && in.fully_defined()) {
      auto bytes = out.num_bytes(dtype);
      if (!bytes.ok()) return on_node(ctx.node(), bytes.status());
      std::vector<int64_t> in_strides = row_major_strides(in.dims());
      std::vector<int64_t> out_strides = row_major_strides(dims);
      CopyPlan plan;
      for (int d = 0; d < rank; ++d) {
        const size_t i = static_cast<size_t>(d);
        plan.count.insert(plan.count.end(), {mult[i], in.dim(d)});
        plan.in_stride.insert(plan.in_stride.end(), {0, in_strides[i]});
        plan.out_stride.insert(plan.out_stride.end(), {in.dim(d) * out_strides[i], out_strides[i]});
      }
      set_plan(make_copy_plan(plan), in);
    }
    ctx.set_output(0, dtype, out);
    return ok_status();
  }
};

template <bool kFlag>
std::unique_ptr<Kernel> make_concat() {
  return std::make_unique<ConcatKernel>(kFlag);
}
template <bool kFlag>
std::unique_ptr<Kernel> make_split() {
  return std::make_unique<SplitKernel>(kFlag);
}

}  // namespace

Status register_array_concat_ops(OpRegistry& registry) {
  return registry.add_all({
      {"ConcatV2", op_record(make_concat</*axis_first=*/false>)},
      {"Concat", op_record(make_concat</*axis_first=*/true>)},
      {"Pack", op_record<PackKernel>()},
      {"Unpack", op_record<UnpackKernel>()},
      {"Split", op_record(make_split</*sized=*/false>)},
      {"SplitV", op_record(make_split</*sized=*/true>)},
      {"Tile", op_record<TileKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

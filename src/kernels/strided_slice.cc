// StridedSlice (every mask, negative strides, TF's clamping) and Slice.
//
// StridedSlice follows TF's three steps (tensorflow/core/util/strided_slice_op.cc):
//   1. the sparse spec (one entry per begin/end/strides element, with an implicit ellipsis at
//      the end when none is given) is expanded into a dense spec with one entry per input dim;
//   2. each dense dim's begin/end are made explicit: masked ends take the whole range in the
//      stride's direction, negative indices count from the end, and the rest is clamped;
//      shrink_axis dims take exactly [begin, begin + 1) and must be in range;
//   3. the final shape drops shrunk dims and inserts new_axis dims of size 1.
// Both ops then copy through one CopyPlan.
#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// Masks are int attributes with one bit per sparse entry; the spec has at most this many.
constexpr int kMaxSliceDims = 62;

struct SliceMasks {
  uint64_t begin = 0, end = 0, ellipsis = 0, new_axis = 0, shrink = 0;
};

// Per input dim: first index, step and element count (kUnknownDim when not known yet).
struct DenseSlice {
  std::vector<int64_t> begin, stride, count;
  std::vector<int64_t> final_dims;
};

constexpr int kNewAxis = -1;
constexpr int kShrinkAxis = -2;

inline bool bit(uint64_t mask, int i) { return (mask >> i) & 1u; }

// values == nullptr when begin/end/strides are not known yet (load time): only the rank and the
// dims that do not depend on them come out.
struct SparseSpec {
  int dims = 0;
  const std::vector<int64_t>* begin = nullptr;
  const std::vector<int64_t>* end = nullptr;
  const std::vector<int64_t>* strides = nullptr;
  SliceMasks masks;
};

Result<DenseSlice> dense_slice(const Node& node, const Shape& in, SparseSpec sparse) {
  if (sparse.masks.ellipsis & (sparse.masks.ellipsis - 1)) {
    return node.error("attribute 'ellipsis_mask' has more than one bit set: only one ellipsis is allowed");
  }
  // Step 1: expand the sparse spec.
  int new_axis_after_ellipsis = 0;
  bool ellipsis_seen = false;
  for (int i = 0; i < sparse.dims; ++i) {
    if (ellipsis_seen && bit(sparse.masks.new_axis, i)) ++new_axis_after_ellipsis;
    if (bit(sparse.masks.ellipsis, i)) ellipsis_seen = true;
  }
  if (!ellipsis_seen) {
    sparse.masks.ellipsis |= uint64_t{1} << sparse.dims;
    ++sparse.dims;
  }
  const int rank = in.rank();
  const bool known = sparse.begin != nullptr;
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
  std::vector<int64_t> stride(static_cast<size_t>(rank), 1);
  uint64_t begin_mask = 0, end_mask = 0, shrink = 0;
  std::vector<int> gather;  // per final dim: dense dim, kNewAxis or kShrinkAxis
  int full = 0;
  for (int i = 0; i < sparse.dims; ++i) {
    if (bit(sparse.masks.ellipsis, i)) {
      int next = std::min(rank - (sparse.dims - i) + 1 + new_axis_after_ellipsis, rank);
      for (; full < next; ++full) {
        begin_mask |= uint64_t{1} << full;
        end_mask |= uint64_t{1} << full;
        gather.push_back(full);
      }
    } else if (bit(sparse.masks.new_axis, i)) {
      gather.push_back(kNewAxis);
    } else {
      if (full == rank) {
        return node.error("the slice spec indexes more dimensions than input 0 has (rank ", rank, ")");
      }
      const size_t f = static_cast<size_t>(full), s = static_cast<size_t>(i);
      if (known) {
        begin[f] = (*sparse.begin)[s];
        end[f] = (*sparse.end)[s];
        stride[f] = (*sparse.strides)[s];
      }
      if (bit(sparse.masks.begin, i)) begin_mask |= uint64_t{1} << full;
      if (bit(sparse.masks.end, i)) end_mask |= uint64_t{1} << full;
      if (bit(sparse.masks.shrink, i)) {
        gather.push_back(kShrinkAxis);
        shrink |= uint64_t{1} << full;
      } else {
        gather.push_back(full);
      }
      ++full;
    }
  }
  // Step 2: explicit ranges, bounds and counts per dense dim.
  DenseSlice out;
  out.count.assign(static_cast<size_t>(rank), kUnknownDim);
  for (int i = 0; i < rank; ++i) {
    const size_t d = static_cast<size_t>(i);
    const bool shrink_i = bit(shrink, i);
    const int64_t dim = in.dim(i);
    if (known && stride[d] == 0) return node.error("strides[", i, "] (dense) must be non-zero");
    if (known && shrink_i && stride[d] <= 0) {
      return node.error("only stride 1 is allowed on an index that shrinks an axis (dimension ", i, ")");
    }
    if (dim == kUnknownDim || !known) {
      out.count[d] = shrink_i ? 1 : kUnknownDim;
      continue;
    }
    const int64_t s = stride[d];
    if (shrink_i) {
      int64_t x = begin[d] < 0 ? dim + begin[d] : begin[d];
      if (x < 0 || x >= dim) {
        return node.error("slice index ", begin[d], " of dimension ", i, " is out of bounds (size ", dim, ")");
      }
      begin[d] = x;
      end[d] = x + 1;
    } else {
      const int64_t lo = s > 0 ? 0 : -1, hi = s > 0 ? dim : dim - 1;
      auto canonical = [&](int64_t x, bool masked, bool is_end) {
        if (masked) return (s > 0) != is_end ? lo : hi;
        int64_t fwd = x < 0 ? dim + x : x;
        return fwd < lo ? lo : fwd > hi ? hi : fwd;
      };
      begin[d] = canonical(begin[d], bit(begin_mask, i), false);
      end[d] = canonical(end[d], bit(end_mask, i), true);
    }
    const int64_t length = end[d] - begin[d];
    if (length == 0 || (length < 0) != (s < 0)) {
      out.count[d] = 0;
    } else {
      out.count[d] = length / s + (length % s != 0 ? 1 : 0);
    }
  }
  // Step 3: the final shape.
  for (int g : gather) {
    if (g >= 0) {
      out.final_dims.push_back(out.count[static_cast<size_t>(g)]);
    } else if (g == kNewAxis) {
      out.final_dims.push_back(1);
    }
  }
  out.begin = std::move(begin);
  out.stride = std::move(stride);
  return out;
}

CopyPlan slice_plan(const Shape& in, const DenseSlice& slice) {
  std::vector<int64_t> strides = row_major_strides(in.dims());
  CopyPlan plan;
  plan.count = slice.count;
  plan.out_stride = row_major_strides(slice.count);
  for (size_t d = 0; d < strides.size(); ++d) {
    plan.in_base += slice.begin[d] * strides[d];
    // A dim that yields at most one element never steps (and a huge stride must not overflow).
    plan.in_stride.push_back((slice.count[d] <= 1 ? 1 : slice.stride[d]) * strides[d]);
  }
  return make_copy_plan(plan);
}

class SliceKernelBase : public CopyPlanKernel {
 protected:
  void set_slice_plan(const Shape& in, const DenseSlice& slice) {
    set_plan(slice_plan(in, slice), in);
  }
};

// ---------------------------------------------------------------------------------------------
class StridedSliceKernel : public SliceKernelBase {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(4, 4));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    static const char* const kNames[] = {"begin", "end", "strides"};
    const Tensor* values[3];
    std::vector<int64_t> spec[3];
    int64_t length = kUnknownDim;
    bool known = true;
    for (int k = 0; k < 3; ++k) {
      PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, k + 1, kNames[k]));
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, k + 1, kNames[k], 1));
      const Shape& s = ctx.input_shape(k + 1);
      if (s.known_rank() && s.dim(0) != kUnknownDim) {
        if (length != kUnknownDim && length != s.dim(0)) {
          return ctx.error("inputs 'begin', 'end' and 'strides' must have the same length, got ",
                           ctx.input_shape(1).str(), ", ", ctx.input_shape(2).str(), " and ",
                           ctx.input_shape(3).str());
        }
        length = s.dim(0);
      }
      PBMEM_ASSIGN_OR_RETURN(values[k], shape_input(ctx, k + 1, kNames[k]));
      if (values[k] == nullptr) {
        known = false;
      } else {
        PBMEM_ASSIGN_OR_RETURN(spec[k], read_int_input(ctx.node(), *values[k], k + 1, kNames[k]));
      }
    }
    SparseSpec sparse;
    PBMEM_RETURN_IF_ERROR(read_masks(ctx, &sparse.masks));
    const Shape& in = ctx.input_shape(0);
    if (!in.known_rank() || length == kUnknownDim) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    if (length > kMaxSliceDims || in.rank() > kMaxSliceDims) {
      return ctx.unsupported("slices of more than ", kMaxSliceDims, " dimensions are not supported");
    }
    sparse.dims = static_cast<int>(length);
    if (known) {
      sparse.begin = &spec[0];
      sparse.end = &spec[1];
      sparse.strides = &spec[2];
    }
    auto slice = dense_slice(ctx.node(), in, sparse);
    if (!slice.ok()) return slice.status();
    Shape out(slice->final_dims);
    if (known && in.fully_defined()) set_slice_plan(in, *slice);
    ctx.set_output(0, dtype, out);
    return ok_status();
  }

 private:
  static Status read_masks(const InferContext& ctx, SliceMasks* masks) {
    static const char* const kAttrs[] = {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                         "shrink_axis_mask"};
    uint64_t* fields[] = {&masks->begin, &masks->end, &masks->ellipsis, &masks->new_axis, &masks->shrink};
    for (int k = 0; k < 5; ++k) {
      PBMEM_ASSIGN_OR_RETURN(int64_t value, ctx.node().attr_int_or(kAttrs[k], 0));
      if (value < 0 || value >= (int64_t{1} << kMaxSliceDims)) {
        return ctx.error("attribute '", kAttrs[k], "' = ", value, " is not a valid bit mask");
      }
      *fields[k] = static_cast<uint64_t>(value);
    }
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------------
// Slice(input, begin, size): size -1 means "to the end".
class SliceKernel : public SliceKernelBase {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(expect_movable(ctx, dtype, "input 0"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 1, "begin"));
    PBMEM_RETURN_IF_ERROR(expect_index_dtype(ctx, 2, "size"));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "begin", 1));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 2, "size", 1));
    const Shape& in = ctx.input_shape(0);
    PBMEM_ASSIGN_OR_RETURN(const Tensor* begin_t, shape_input(ctx, 1, "begin"));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* size_tensor, shape_input(ctx, 2, "size"));
    std::vector<int64_t> begin, size;
    if (begin_t != nullptr) {
      PBMEM_ASSIGN_OR_RETURN(begin, read_int_input(ctx.node(), *begin_t, 1, "begin"));
    }
    if (size_tensor != nullptr) {
      PBMEM_ASSIGN_OR_RETURN(size, read_int_input(ctx.node(), *size_tensor, 2, "size"));
    }
    int rank = in.known_rank() ? in.rank() : -1;
    for (const std::vector<int64_t>* v : {&begin, &size}) {
      const Tensor* t = v == &begin ? begin_t : size_tensor;
      if (t == nullptr) continue;
      if (rank >= 0 && static_cast<int>(v->size()) != rank) {
        return ctx.error("input '", v == &begin ? "begin" : "size", "' has ", v->size(),
                         " entries but input 0 has rank ", rank, " (shape ", in.str(), ")");
      }
      rank = static_cast<int>(v->size());
    }
    if (rank < 0) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      return ok_status();
    }
    DenseSlice slice;
    slice.begin.assign(static_cast<size_t>(rank), 0);
    slice.stride.assign(static_cast<size_t>(rank), 1);
    slice.count.assign(static_cast<size_t>(rank), kUnknownDim);
    for (int i = 0; i < rank; ++i) {
      const size_t d = static_cast<size_t>(i);
      const int64_t dim = in.known_rank() ? in.dim(i) : kUnknownDim;
      if (!size.empty()) {
        if (size[d] < -1) return ctx.error("input 'size'[", i, "] must be -1 or non-negative, got ", size[d]);
        if (size[d] >= 0) slice.count[d] = size[d];
      }
      if (begin.empty()) continue;
      slice.begin[d] = begin[d];
      if (begin[d] < 0 || (dim != kUnknownDim && begin[d] > dim)) {
        return ctx.error("input 'begin'[", i, "] = ", begin[d], " is not in [0, ", dim, "] (shape ", in.str(), ")");
      }
      if (dim == kUnknownDim || size.empty()) continue;
      if (size[d] == -1) {
        slice.count[d] = dim - begin[d];
      } else if (size[d] > dim - begin[d]) {
        return ctx.error("input 'size'[", i, "] = ", size[d], " is not in [0, ", dim - begin[d],
                         "] for begin ", begin[d], " (shape ", in.str(), ")");
      }
    }
    Shape out(slice.count);
    if (in.fully_defined() && out.fully_defined()) set_slice_plan(in, slice);
    ctx.set_output(0, dtype, out);
    return ok_status();
  }
};

}  // namespace

Status register_strided_slice_ops(OpRegistry& registry) {
  return registry.add_all({
      {"StridedSlice", op_record<StridedSliceKernel>()},
      {"Slice", op_record<SliceKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

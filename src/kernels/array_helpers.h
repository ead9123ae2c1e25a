// Helpers shared by the array, slice/pad and resize kernels (array_*.cc, strided_slice.cc,
// slice_pad.cc, resize.cc): reading the constant inputs that decide an output shape, moving
// elements by size only (these ops never look at values), and half/bfloat16 conversions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util.h"

namespace pbmem {
namespace array_detail {

// Prefixes a helper's Status (which names no node) with the node: "node 'x' (Op): <message>".
Status on_node(const Node& node, const Status& status);

// The value of a constant input that decides the output shape (shape, axis, perm, paddings...).
// At load time a non-constant input gives nullptr: the caller leaves the output shape partial.
// At prepare time it is an error, since the runtime folds shape subgraphs into constants.
Result<const Tensor*> shape_input(const InferContext& ctx, int index, const char* name);

// Reads an int32/int64 input as int64 values; errors name the node and the input.
Result<std::vector<int64_t>> read_int_input(const Node& node, const Tensor& t, int index,
                                            const char* name);
// Reads an int32/int64 input that must be a scalar (or, as TF accepts, a 1-element vector).
Result<int64_t> read_int_scalar(const Node& node, const Tensor& t, int index, const char* name);
// Element i of an int32/int64 tensor (the caller checked the dtype); allocation-free for run().
int64_t int_element(const Tensor& t, int64_t i);
// The same for the index dtypes of the N-d index ops: int16, uint16, int32 or int64 (scatter_nd.cc).
int64_t nd_index_element(const Tensor& t, int64_t i);
// Checks an input's dtype is int32 or int64.
Status expect_index_dtype(const InferContext& ctx, int index, const char* name);
// Checks that an input, when its rank is known, has the given rank.
Status expect_rank(const InferContext& ctx, int index, const char* name, int rank);

// run() uses what infer() computed for concrete shapes; this checks input 0 still has the shape
// that plan was made for (the executor re-infers whenever input shapes change).
Status check_planned(const RunContext& ctx, const Shape& planned);

// Elements these byte-moving kernels can handle: any dtype of 1, 2, 4 or 8 bytes.
bool is_movable(DType dtype);
Status expect_movable(const InferContext& ctx, DType dtype, const char* what);

// All of input 0's inputs share one dtype (ConcatV2, Pack...); returns it.
Result<DType> common_dtype(const InferContext& ctx, int first, int count, const char* what);

// Row-major strides (in elements) of dims.
std::vector<int64_t> row_major_strides(const std::vector<int64_t>& dims);

// Product of dims[begin, end) of a concrete shape (no overflow check: the shape was validated).
int64_t dims_product(const std::vector<int64_t>& dims, int begin, int end);

// Partial shape with `rank` unknown dims, or unknown rank when rank < 0.
Shape unknown_dims(int64_t rank);
// Length of a 1-D input from its static shape, or -1 when unknown.
int64_t vector_length(const InferContext& ctx, int index);

// Merges two partial dims that must agree; false when both are known and differ.
bool merge_dim(int64_t a, int64_t b, int64_t* out);

// Calls fn(T{}) with T an unsigned integer of `bytes` bytes (1, 2, 4 or 8), so element loops
// are instantiated once per size rather than once per dtype. Returns false for other sizes.
template <typename Fn>
bool with_element_type(size_t bytes, Fn&& fn) {
  switch (bytes) {
    case 1: fn(uint8_t{}); return true;
    case 2: fn(uint16_t{}); return true;
    case 4: fn(uint32_t{}); return true;
    case 8: fn(uint64_t{}); return true;
    default: return false;
  }
}

// Fills n elements of `bytes` bytes each with the element at `value`.
void fill_elements(void* dst, int64_t n, const void* value, size_t bytes);

// An affine element copy between two buffers, the common core of Slice, StridedSlice, Pad,
// MirrorPad, Concat, Split, Pack, Unpack, Transpose and Tile:
//   for every index (i0, i1, ...) with i_d < count[d]:
//     out[out_base + sum(i_d * out_stride[d])] = in[in_base + sum(i_d * in_stride[d])]
// Strides are in elements and may be negative (reversed slices) or 0 (Tile's repeats).
struct CopyPlan {
  int64_t in_base = 0;
  int64_t out_base = 0;
  std::vector<int64_t> count;
  std::vector<int64_t> in_stride;
  std::vector<int64_t> out_stride;
  int64_t total = 0;  // product of count; set by make_copy_plan
};
// Builds a plan, dropping extent-1 dims and merging dims that stay contiguous on both sides, so
// that whole-row copies become single memcpy calls. Callers validate every index is in range.
CopyPlan make_copy_plan(CopyPlan plan);
// Executes a plan (allocation-free; parallel over the outer dim for large copies).
void run_copy_plan(const CopyPlan& plan, const void* in, void* out, size_t elem_bytes);

// A kernel whose run() is one CopyPlan from input 0 to output 0, made by infer() once input 0's
// shape is concrete (Tile, Transpose, StridedSlice, BroadcastTo, DepthToSpace, ...).
class CopyPlanKernel : public Kernel {
 public:
  Status run(RunContext& ctx) override;

 protected:
  // `plan` is already made (make_copy_plan); `in` is the input shape it was made for.
  void set_plan(CopyPlan plan, const Shape& in) {
    plan_ = std::move(plan);
    planned_ = in;
  }

 private:
  CopyPlan plan_;
  Shape planned_ = Shape::unknown_rank();
};

// ---- half / bfloat16 (IEEE binary16 and the top half of a binary32), round to nearest even ----
float half_to_float(uint16_t bits);
uint16_t float_to_half(float value);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float value);

// The bytes of the value 1 in dtype (for OnesLike); false for non-numeric dtypes.
bool one_of(DType dtype, uint64_t* bytes);

// Registration of the array family, one function per file (array.cc calls them all).
Status register_array_basic_ops(OpRegistry& registry);    // array_basic.cc
Status register_array_shape_ops(OpRegistry& registry);    // array_shape.cc
Status register_array_concat_ops(OpRegistry& registry);   // array_concat.cc
Status register_array_gather_ops(OpRegistry& registry);   // array_gather.cc
Status register_array_cast_ops(OpRegistry& registry);     // array_cast.cc
Status register_strided_slice_ops(OpRegistry& registry);  // strided_slice.cc
Status register_array_broadcast_ops(OpRegistry& registry);  // array_broadcast.cc
Status register_space_depth_ops(OpRegistry& registry);      // space_depth.cc
Status register_matrix_ops(OpRegistry& registry);           // matrix.cc
Status register_matrix_diag_ops(OpRegistry& registry);      // matrix_diag.cc
Status register_scatter_nd_ops(OpRegistry& registry);       // scatter_nd.cc
Status register_sparse_to_dense_ops(OpRegistry& registry);  // sparse_to_dense.cc
Status register_topk_ops(OpRegistry& registry);             // topk.cc

}  // namespace array_detail
}  // namespace pbmem

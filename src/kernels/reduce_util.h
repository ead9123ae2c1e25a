// Shared by the reduction kernels (reduce.cc, argminmax.cc): constant-axes parsing, the
// collapsed iteration plan, and an allocation-free odometer for run().
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/elementwise_util.h"

namespace pbmem {

// Most collapsed dim groups a plan may have (groups alternate kept/reduced, so this needs an
// input of rank above 16 with alternating axes to exceed).
inline constexpr int kMaxReduceGroups = 16;

struct OdometerSpec {
  int rank = 0;
  int64_t dims[kMaxReduceGroups] = {};
  int64_t strides[kMaxReduceGroups] = {};  // input element strides
  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= dims[d];
    return n;
  }
};

// Walks a multi-index over spec.dims in row-major order, tracking the input offset.
class Odometer {
 public:
  explicit Odometer(const OdometerSpec& spec) : spec_(spec) {}
  void seek(int64_t linear) {
    offset = 0;
    for (int d = spec_.rank - 1; d >= 0; --d) {
      index_[d] = linear % spec_.dims[d];
      linear /= spec_.dims[d];
      offset += index_[d] * spec_.strides[d];
    }
  }
  void next() {
    for (int d = spec_.rank - 1; d >= 0; --d) {
      offset += spec_.strides[d];
      if (++index_[d] < spec_.dims[d]) return;
      offset -= spec_.strides[d] * spec_.dims[d];
      index_[d] = 0;
    }
  }
  int64_t offset = 0;

 private:
  const OdometerSpec& spec_;
  int64_t index_[kMaxReduceGroups] = {};
};

struct ReducePlan {
  OdometerSpec kept;     // kept groups, without the inner group when it is kept
  OdometerSpec reduced;  // reduced groups, without the inner group when it is reduced
  int64_t inner = 1;     // size of the innermost group (contiguous)
  bool inner_reduced = false;
  int64_t out_elems = 0;
  int64_t reduce_count = 0;  // input elements per output element
};

// Collapses `shape` (concrete) with reduced[i] telling whether dim i is reduced.
Status make_reduce_plan(const Node& node, const Shape& shape, const std::vector<bool>& reduced,
                        ReducePlan* plan);

// Reads the constant axes input `axes_input` (int32/int64 scalar or vector; negative axes
// allowed, duplicates rejected as TF does) and returns the output shape of reducing input 0.
// Fills *reduced (one flag per input dim) once the axes and the rank are known. Without a
// constant at load time the result is partial; at prepare time a missing constant is an error.
Result<Shape> reduced_shape(const InferContext& ctx, int axes_input, bool keep_dims,
                            std::vector<bool>* reduced);

// ArgMax/ArgMin (argminmax.cc); register_reduce_ops calls it.
Status register_arg_reduce_ops(OpRegistry& registry);
// Cumsum and Cumprod (scan.cc); register_reduce_ops calls it.
Status register_scan_ops(OpRegistry& registry);

}  // namespace pbmem

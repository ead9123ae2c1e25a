// TopKV2(input, k): the k largest entries of each row
// (the last dim) and their indices,
//   values[..., j] = input[..., indices[..., j]], in descending order, equal values by lower
//   index first, as TF documents. k decides the output shape, so it must be constant.
// With sorted = false TF's order is unspecified (its CPU kernel returns heap order); we return
// the same k entries in the sorted order.
// NaN ranks above every number (std::sort needs a strict weak order; TF leaves NaN unspecified).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {

namespace {

// Calls fn(T{}, to_key) with T the storage type of `dtype` and to_key(T) a value that orders
// like the element (half and bfloat16 compare as float).
template <typename Fn>
bool visit_topk_dtype(DType dtype, Fn&& fn) {
  auto same = [](auto v) { return v; };
  switch (dtype) {
    case DType::kFloat:
      fn(float{}, same);
      return true;
    case DType::kDouble:
      fn(double{}, same);
      return true;
    case DType::kInt8:
      fn(int8_t{}, same);
      return true;
    case DType::kUInt8:
      fn(uint8_t{}, same);
      return true;
    case DType::kInt16:
      fn(int16_t{}, same);
      return true;
    case DType::kUInt16:
      fn(uint16_t{}, same);
      return true;
    case DType::kInt32:
      fn(int32_t{}, same);
      return true;
    case DType::kUInt32:
      fn(uint32_t{}, same);
      return true;
    case DType::kInt64:
      fn(int64_t{}, same);
      return true;
    case DType::kUInt64:
      fn(uint64_t{}, same);
      return true;
    case DType::kHalf:
      fn(uint16_t{}, [](uint16_t v) { return half_to_float(v); });
      return true;
    case DType::kBFloat16:
      fn(uint16_t{}, [](uint16_t v) { return bfloat16_to_float(v); });
      return true;
    default:
      return false;
  }
}

template <typename K>
bool ranks_above(K a, K b) {
  if constexpr (std::is_floating_point_v<K>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && !std::isnan(b);
  }
  return a > b;
}

class TopKKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    const DType dtype = ctx.input_dtype(0);
    if (!visit_topk_dtype(dtype, [](auto, auto) {})) {
      return ctx.error("input 0 has dtype ", dtype_name(dtype),
                       "; TopKV2 takes float, double, half, bfloat16 and (u)int8/16/32/64");
    }
    PBMEM_ASSIGN_OR_RETURN(index_dtype_, ctx.node().attr_type_or("index_type", DType::kInt32));
    if (index_dtype_ != DType::kInt16 && index_dtype_ != DType::kInt32 &&
        index_dtype_ != DType::kInt64) {
      return ctx.error("attribute 'index_type' must be int16, int32 or int64, got ",
                       dtype_name(index_dtype_));
    }
    PBMEM_ASSIGN_OR_RETURN(bool sorted, ctx.node().attr_bool_or("sorted", true));
    (void)sorted;  // the sorted order is one of the orders sorted = false allows
    const Shape& in = ctx.input_shape(0);
    if (in.known_rank() && in.rank() == 0)
      return ctx.error("input 0 must be at least 1-D, got a scalar");
    PBMEM_ASSIGN_OR_RETURN(int64_t k, read_k(ctx));
    if (!in.known_rank()) {
      ctx.set_output(0, dtype, Shape::unknown_rank());
      ctx.set_output(1, index_dtype_, Shape::unknown_rank());
      return ok_status();
    }
    const int64_t cols = in.dim(in.rank() - 1);
    if (k != kUnknownDim && cols != kUnknownDim && cols < k) {
      return ctx.error("input 0 must have at least k = ", k, " entries in its last dim, got shape ",
                       in.str());
    }
    std::vector<int64_t> dims = in.dims();
    dims.back() = k;
    Shape out(dims);
    if (ctx.concrete()) {
      PBMEM_RETURN_IF_ERROR(on_node(ctx.node(), out.num_bytes(DType::kInt64).status()));
      k_ = k;
      cols_ = cols;
      rows_ = dims_product(in.dims(), 0, in.rank() - 1);
      chunks_ = std::max<int64_t>(1, std::min<int64_t>(rows_, pbmem_num_threads()));
      planned_ = in;
    }
    ctx.set_output(0, dtype, out);
    ctx.set_output(1, index_dtype_, out);
    return ok_status();
  }

  // k from input 1, or kUnknownDim while it is not constant (at load time).
  static Result<int64_t> read_k(const InferContext& ctx) {
    const DType k_dtype = ctx.input_dtype(1);
    if (k_dtype != DType::kInt16 && k_dtype != DType::kInt32 && k_dtype != DType::kInt64) {
      return ctx.error("input 1 'k' must be int16, int32 or int64, got ", dtype_name(k_dtype));
    }
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "k", 0));
    PBMEM_ASSIGN_OR_RETURN(const Tensor* k_t, shape_input(ctx, 1, "k"));
    if (k_t == nullptr) return kUnknownDim;
    const int64_t k = nd_index_element(*k_t, 0);
    if (k < 0) return ctx.error("input 1 'k' must be >= 0, got ", k);
    return k;
  }

  // One row order of `cols` positions per parallel chunk.
  size_t scratch_bytes() const override {
    return static_cast<size_t>(chunks_) * static_cast<size_t>(cols_) * sizeof(int64_t);
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    if (k_ == 0 || rows_ == 0) return ok_status();
    auto* order = static_cast<int64_t*>(ctx.scratch());
    visit_topk_dtype(ctx.input(0).dtype(), [&](auto tag, auto to_key) {
      using T = decltype(tag);
      const T* in = static_cast<const T*>(ctx.input(0).raw_data());
      T* values = static_cast<T*>(ctx.output(0).raw_data());
      parallel_for(chunks_, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          int64_t* slot = order + c * cols_;
          for (int64_t r = c * rows_ / chunks_; r < (c + 1) * rows_ / chunks_; ++r) {
            top_row(in + r * cols_, slot, to_key);
            for (int64_t j = 0; j < k_; ++j) {
              values[r * k_ + j] = in[r * cols_ + slot[j]];
              write_index(ctx.output(1), r * k_ + j, slot[j]);
            }
          }
        }
      });
    });
    return ok_status();
  }

 private:
  // The first k_ entries of `order` become the row's top positions, best first.
  template <typename T, typename ToKey>
  void top_row(const T* row, int64_t* order, ToKey to_key) const {
    for (int64_t i = 0; i < cols_; ++i) order[i] = i;
    auto better = [&](int64_t a, int64_t b) {
      const auto ka = to_key(row[a]);
      const auto kb = to_key(row[b]);
      if (ranks_above(ka, kb)) return true;
      if (ranks_above(kb, ka)) return false;
      return a < b;
    };
    std::partial_sort(order, order + k_, order + cols_, better);
  }

  void write_index(Tensor& t, int64_t i, int64_t v) const {
    switch (index_dtype_) {
      case DType::kInt16:
        t.data<int16_t>()[i] = static_cast<int16_t>(v);
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = static_cast<int32_t>(v);
        break;
      default:
        t.data<int64_t>()[i] = v;
        break;
    }
  }

  DType index_dtype_ = DType::kInt32;
  int64_t k_ = 0;
  int64_t cols_ = 0;
  int64_t rows_ = 0;
  int64_t chunks_ = 1;
  Shape planned_ = Shape::unknown_rank();
};

}  // namespace

Status register_topk_ops(OpRegistry& registry) {
  return registry.add_all({
      {"TopKV2", op_record<TopKKernel>().output_args({"values", "indices"})},
  });
}

}  // namespace array_detail
}  // namespace pbmem

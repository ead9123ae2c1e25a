#include "kernels/elementwise_util.h"

namespace pbmem {

unsigned type_bit(DType dtype) {
  switch (dtype) {
    case DType::kFloat: return kTypeFloat;
    case DType::kDouble: return kTypeDouble;
    case DType::kInt32: return kTypeInt32;
    case DType::kInt64: return kTypeInt64;
    case DType::kBool: return kTypeBool;
    default: return 0;
  }
}

std::string type_set_names(unsigned set) {
  static const struct {
    unsigned bit;
    const char* name;
  } kNames[] = {{kTypeFloat, "float"},
                {kTypeDouble, "double"},
                {kTypeInt32, "int32"},
                {kTypeInt64, "int64"},
                {kTypeBool, "bool"}};
  std::string names;
  for (const auto& entry : kNames) {
    if ((set & entry.bit) == 0) continue;
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names;
}

Status unsupported_dtype(const Node& node, DType dtype, unsigned set, const char* what) {
  return node.unsupported(what, " dtype ", dtype_name(dtype), " is not supported (supported: ",
                          type_set_names(set), ")");
}

Status check_input_dtypes(const InferContext& ctx, int first, int last, unsigned set) {
  const DType dtype = ctx.input_dtype(first);
  for (int i = first + 1; i < last; ++i) {
    if (ctx.input_dtype(i) != dtype) {
      return ctx.error("inputs must share a dtype, but input ", first, " is ", dtype_name(dtype),
                       " and input ", i, " is ", dtype_name(ctx.input_dtype(i)));
    }
  }
  if ((type_bit(dtype) & set) == 0) {
    return unsupported_dtype(ctx.node(), dtype, set, first == last - 1 ? "input" : "inputs'");
  }
  return ok_status();
}

Status make_broadcast_plan(const Shape* const* shapes, int num_operands, const Shape& out,
                           BroadcastPlan* plan) {
  if (num_operands < 1 || num_operands > kMaxBroadcastOperands) {
    return internal_error("broadcast of ", num_operands, " operands is not supported");
  }
  const int out_rank = out.rank();
  for (int k = 0; k < num_operands; ++k) {
    if (shapes[k]->rank() > out_rank) {
      return invalid_argument("operand ", k, " of shape ", shapes[k]->str(),
                              " has a higher rank than the output ", out.str());
    }
  }
  BroadcastPlan p;
  p.num_operands = num_operands;
  p.rank = 0;
  unsigned patterns[kMaxBroadcastRank] = {};  // bit k: operand k spans the dim (not repeated)
  for (int i = 0; i < out_rank; ++i) {
    const int64_t size = out.dim(i);
    if (size == 1) continue;  // a size-1 dim never moves any operand
    unsigned full = 0;
    for (int k = 0; k < num_operands; ++k) {
      const int j = i - (out_rank - shapes[k]->rank());
      const int64_t d = j >= 0 ? shapes[k]->dim(j) : 1;
      if (d == size) {
        full |= 1u << k;
      } else if (d != 1) {
        return invalid_argument("shape ", shapes[k]->str(), " does not broadcast to ", out.str(),
                                " (dimension ", i, ": ", d, " vs ", size, ")");
      }
    }
    if (p.rank > 0 && patterns[p.rank - 1] == full) {
      p.dims[p.rank - 1] *= size;  // bounded by the output's element count
      continue;
    }
    if (p.rank == kMaxBroadcastRank) {
      return unimplemented("broadcasting ", out.str(), " needs more than ", kMaxBroadcastRank,
                           " dims after merging adjacent ones");
    }
    patterns[p.rank] = full;
    p.dims[p.rank] = size;
    ++p.rank;
  }
  if (p.rank == 0) {  // every dim is 1: a single element
    p.rank = 1;
    p.dims[0] = 1;
  }
  p.total = 1;
  for (int d = 0; d < p.rank; ++d) p.total *= p.dims[d];
  for (int k = 0; k < num_operands; ++k) {
    int64_t running = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
      const bool spans = (patterns[d] >> k) & 1u;
      p.strides[k][d] = spans ? running : 0;
      if (spans) running *= p.dims[d];
    }
  }
  *plan = p;
  return ok_status();
}

}  // namespace pbmem

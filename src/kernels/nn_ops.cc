#include "kernels/nn_ops.h"

#include <string>

namespace pbmem {

namespace {
constexpr int kExplicitPaddingEntries = 2 * kNhwcRank;  // (before, after) per NHWC dim
const char* const kSpatialName[] = {"height", "width", "depth"};
}  // namespace

Status require_nhwc(const Node& node) {
  PBMEM_ASSIGN_OR_RETURN(std::string format, node.attr_string_or("data_format", "NHWC"));
  if (format == "NHWC") return ok_status();
  if (format == "NCHW" || format == "NCHW_VECT_C") {
    return node.unsupported("data_format '", format, "' is not supported (only NHWC)");
  }
  return node.error("attribute 'data_format' must be NHWC or NCHW, got '", format, "'");
}

Result<HW> read_nhwc_window_attr(const Node& node, const char* name,
                                 const std::vector<int64_t>& fallback) {
  std::vector<int64_t> values;
  if (fallback.empty()) {
    PBMEM_ASSIGN_OR_RETURN(values, node.attr_ints(name));
  } else {
    PBMEM_ASSIGN_OR_RETURN(values, node.attr_ints_or(name, fallback));
  }
  if (values.size() != static_cast<size_t>(kNhwcRank)) {
    return node.error("attribute '", name, "' must have ", kNhwcRank, " entries, got ",
                      values.size());
  }
  for (int64_t v : values) {
    if (v < 1) return node.error("attribute '", name, "' entries must be >= 1, got ", v);
  }
  if (values[kNhwcBatch] != 1 || values[kNhwcChannel] != 1) {
    return node.unsupported("attribute '", name, "' must be 1 in the batch and channel dims, got [",
                            values[0], ",", values[1], ",", values[2], ",", values[3], "]");
  }
  return HW{values[kNhwcHeight], values[kNhwcWidth]};
}

Result<Padding2D> read_padding(const Node& node) {
  Padding2D result;
  PBMEM_ASSIGN_OR_RETURN(std::string text, node.attr_string("padding"));
  Result<Padding> parsed = parse_padding(text);
  if (!parsed.ok()) return node.error("attribute 'padding': ", parsed.status().message());
  result.padding = *parsed;
  PBMEM_ASSIGN_OR_RETURN(std::vector<int64_t> pads, node.attr_ints_or("explicit_paddings", {}));
  if (result.padding != Padding::kExplicit) {
    if (!pads.empty()) {
      return node.error("attribute 'explicit_paddings' must be empty unless padding is EXPLICIT");
    }
    return result;
  }
  if (pads.size() != static_cast<size_t>(kExplicitPaddingEntries)) {
    return node.error("attribute 'explicit_paddings' must have ", kExplicitPaddingEntries,
                      " entries with EXPLICIT padding, got ", pads.size());
  }
  for (int64_t p : pads) {
    if (p < 0) return node.error("attribute 'explicit_paddings' entries must be >= 0, got ", p);
  }
  if (pads[2 * kNhwcBatch] != 0 || pads[2 * kNhwcBatch + 1] != 0 ||
      pads[2 * kNhwcChannel] != 0 || pads[2 * kNhwcChannel + 1] != 0) {
    return node.error("attribute 'explicit_paddings' must be 0 in the batch and channel dims");
  }
  result.before = {pads[2 * kNhwcHeight], pads[2 * kNhwcWidth]};
  result.after = {pads[2 * kNhwcHeight + 1], pads[2 * kNhwcWidth + 1]};
  return result;
}

Result<WindowDim> spatial_window(const Node& node, int64_t input, int64_t filter, int64_t stride,
                                 int64_t dilation, const Padding2D& padding, int axis) {
  const char* dim_name = kSpatialName[axis];
  if (filter < 0 || stride < 1 || dilation < 1) {
    return node.error("invalid window in the ", dim_name, " dim: filter ", filter, ", stride ",
                      stride, ", dilation ", dilation);
  }
  int64_t effective = 0;
  if (!checked_mul(filter > 0 ? filter - 1 : 0, dilation, &effective) ||
      !checked_add(effective, 1, &effective)) {
    return node.error("dilated filter size overflows in the ", dim_name, " dim");
  }
  if (input == kUnknownDim) return window_dim(input, filter, stride, dilation, padding.padding);
  if (input < 0) return node.error("negative input size ", input, " in the ", dim_name, " dim");
  if (padding.padding == Padding::kSame) {
    return window_dim(input, filter, stride, dilation, padding.padding);
  }
  WindowDim w;
  int64_t padded = input;
  if (padding.padding == Padding::kExplicit && axis == kDepthAxis) {
    return node.error("EXPLICIT padding is for the height and width dims only");
  }
  if (padding.padding == Padding::kExplicit) {
    w.pad_before = padding.before[static_cast<size_t>(axis)];
    w.pad_after = padding.after[static_cast<size_t>(axis)];
    if (!checked_add(padded, w.pad_before, &padded) || !checked_add(padded, w.pad_after, &padded)) {
      return node.error("padded size overflows in the ", dim_name, " dim");
    }
  }
  // TF: (padded - effective + stride) / stride, truncating; negative is an error.
  const int64_t numerator = padded - effective + stride;
  w.output = numerator / stride;
  if (w.output < 0) {
    return node.error("computed output size would be negative in the ", dim_name, " dim: input ",
                      input, ", effective filter ", effective, ", stride ", stride);
  }
  return w;
}

Status require_float_input(const InferContext& ctx, int i, const char* what) {
  DType dtype = ctx.input_dtype(i);
  if (dtype == DType::kFloat || dtype == DType::kInvalid) return ok_status();
  return ctx.unsupported("input ", i, " (", what, ") must be float, got ", dtype_name(dtype));
}

Status require_rank4_if_known(const InferContext& ctx, int i, const char* what) {
  const Shape& shape = ctx.input_shape(i);
  if (!shape.known_rank() || shape.rank() == kNhwcRank) return ok_status();
  return ctx.error("input ", i, " (", what, ") must be rank ", kNhwcRank, ", got shape ",
                   shape.str());
}

}  // namespace pbmem

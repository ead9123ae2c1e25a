// Dilation2D(input [B, H, W, C], filter [FH, FW, C]): greyscale morphological dilation, as TF's
// CPU kernel computes it:
//   out[b, y, x, c] = max over (i, j) of input[b, y*sh + i*rh - top, x*sw + j*rw - left, c]
//                                         + filter[i, j, c]
// over the taps inside the image only; a window with no tap inside gives the dtype's lowest
// value. strides and rates are 4-entry NHWC lists (batch and channel 1), padding SAME or VALID
// with the dilated filter's window arithmetic. Real dtypes (float, double, int32, int64).
#include <limits>

#include "kernels/array_helpers.h"
#include "kernels/elementwise_util.h"
#include "kernels/nn_ops.h"

namespace pbmem {
namespace {

class Dilation2DKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    PBMEM_RETURN_IF_ERROR(check_input_dtypes(ctx, 0, 2, kTypesNumeric));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(strides_, read_nhwc_window_attr(node, "strides", {}));
    PBMEM_ASSIGN_OR_RETURN(rates_, read_nhwc_window_attr(node, "rates", {}));
    PBMEM_ASSIGN_OR_RETURN(Padding2D padding, read_padding(node));
    if (padding.padding == Padding::kExplicit) return ctx.error("padding must be SAME or VALID");
    PBMEM_RETURN_IF_ERROR(require_rank4_if_known(ctx, 0, "input"));
    const Shape& x = ctx.input_shape(0);
    const Shape& f = ctx.input_shape(1);
    if (f.known_rank() && f.rank() != 3) {
      return ctx.error("input 1 (filter) must be rank 3 [height, width, depth], got shape ",
                       f.str());
    }
    const auto dim = [](const Shape& s, int i) { return s.known_rank() ? s.dim(i) : kUnknownDim; };
    int64_t channels = 0;
    if (!array_detail::merge_dim(dim(x, 3), dim(f, 2), &channels)) {
      return ctx.error("input depth ", dim(x, 3), " must equal the filter depth ", dim(f, 2));
    }
    Shape out({dim(x, 0), kUnknownDim, kUnknownDim, channels});
    for (int axis = 0; axis < 2; ++axis) {
      const size_t a = static_cast<size_t>(axis);
      PBMEM_ASSIGN_OR_RETURN(windows_[a], spatial_window(node, dim(x, axis + 1), dim(f, axis),
                                                         strides_[a], rates_[a], padding, axis));
      out.dim(axis + 1) = windows_[a].output;
    }
    ctx.set_output(0, ctx.input_dtype(0), out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    bool known = visit_dtype<kTypesNumeric>(ctx.input(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      dilate(ctx, ctx.input(0).data<T>(), ctx.input(1).data<T>(), ctx.output(0).data<T>());
    });
    if (!known) return unsupported_dtype(ctx.node(), ctx.input(0).dtype(), kTypesNumeric);
    return ok_status();
  }

 private:
  template <typename T>
  void dilate(const RunContext& ctx, const T* in, const T* filter, T* out) const {
    const Shape& x = ctx.input(0).shape();
    const Shape& f = ctx.input(1).shape();
    const Shape& o = ctx.output(0).shape();
    const int64_t h = x.dim(1), w = x.dim(2), c = x.dim(3), fh = f.dim(0), fw = f.dim(1);
    const int64_t oh = o.dim(1), ow = o.dim(2);
    parallel_for(o.dim(0) * oh, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / oh, y = row % oh;
        const int64_t y0 = y * strides_[0] - windows_[0].pad_before;
        for (int64_t xo = 0; xo < ow; ++xo) {
          const int64_t x0 = xo * strides_[1] - windows_[1].pad_before;
          T* dst = out + (row * ow + xo) * c;
          for (int64_t k = 0; k < c; ++k) dst[k] = std::numeric_limits<T>::lowest();
          for (int64_t i = 0; i < fh; ++i) {
            const int64_t yi = y0 + i * rates_[0];
            if (yi < 0 || yi >= h) continue;
            for (int64_t j = 0; j < fw; ++j) {
              const int64_t xi = x0 + j * rates_[1];
              if (xi < 0 || xi >= w) continue;
              const T* src = in + ((b * h + yi) * w + xi) * c;
              const T* tap = filter + (i * fw + j) * c;
              for (int64_t k = 0; k < c; ++k) {
                const T v = wrap_add(src[k], tap[k]);
                if (v > dst[k]) dst[k] = v;
              }
            }
          }
        }
      }
    });
  }

  HW strides_{1, 1};
  HW rates_{1, 1};
  WindowDim windows_[2];
};

}  // namespace

Status register_dilation_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Dilation2D", op_record<Dilation2DKernel>()},
  });
}

}  // namespace pbmem

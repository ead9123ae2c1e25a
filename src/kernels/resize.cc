// ResizeBilinear and ResizeNearestNeighbor on NHWC images, with TF's coordinate transforms:
//   scale           = align_corners && out > 1 ? (in - 1) / (out - 1) : in / out   (float)
//   bilinear source = half_pixel_centers ? (x + 0.5) * scale - 0.5 : x * scale
//                     lower = max(floor(src), 0), upper = min(ceil(src), in - 1),
//                     lerp = src - floor(src); interpolated in float, top row then bottom
//   nearest source  = half_pixel_centers ? (x + 0.5) * scale : x * scale, then
//                     align_corners ? round (half away from zero) : floor, clamped to in - 1
//                     (and to 0 with half_pixel_centers)
// half_pixel_centers together with align_corners is an error, as in TF. Bilinear always
// outputs float; nearest keeps the input dtype (it only moves elements).
#include <cmath>
#include <limits>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// Rows (batch x output height) per parallel chunk are sized so a chunk moves about this much.
constexpr int64_t kParallelResizeBytes = 64 * 1024;

struct Interpolation {
  int64_t lower = 0;
  int64_t upper = 0;
  float lerp = 0;
};

float resize_scale(int64_t in, int64_t out, bool align_corners) {
  return align_corners && out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                                  : static_cast<float>(in) / static_cast<float>(out);
}

// Element readers for bilinear (functors, so the per-element call inlines).
template <typename T>
struct ReadAsFloat {
  float operator()(const T* p) const { return static_cast<float>(*p); }
};
struct ReadHalf {
  float operator()(const uint16_t* p) const { return half_to_float(*p); }
};
struct ReadBFloat16 {
  float operator()(const uint16_t* p) const { return bfloat16_to_float(*p); }
};

class ResizeKernel : public Kernel {
 public:
  explicit ResizeKernel(bool bilinear) : bilinear_(bilinear) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(align_corners_, node.attr_bool_or("align_corners", false));
    PBMEM_ASSIGN_OR_RETURN(half_pixel_, node.attr_bool_or("half_pixel_centers", false));
    if (align_corners_ && half_pixel_) {
      return ctx.error("if attribute 'half_pixel_centers' is true, 'align_corners' must be false");
    }
    const DType dtype = ctx.input_dtype(0);
    PBMEM_RETURN_IF_ERROR(check_dtype(ctx, dtype));
    const DType out_dtype = bilinear_ ? DType::kFloat : dtype;
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "images", 4));
    if (ctx.input_dtype(1) != DType::kInt32) {
      return ctx.error("input 1 'size' must be int32, got ", dtype_name(ctx.input_dtype(1)));
    }
    const Shape& size_shape = ctx.input_shape(1);
    if (size_shape.known_rank() && (size_shape.rank() != 1 || (size_shape.dim(0) != 2 && size_shape.dim(0) != kUnknownDim))) {
      return ctx.error("input 1 'size' must be a 1-D tensor of 2 elements, got shape ", size_shape.str());
    }
    const Shape& in = ctx.input_shape(0);
    std::vector<int64_t> dims(4, kUnknownDim);
    if (in.known_rank()) {
      dims[0] = in.dim(0);
      dims[3] = in.dim(3);
      for (int d = 1; d <= 2; ++d) {
        if (in.dim(d) == 0) return ctx.error("input 0 'images' must have non-zero height and width, got ", in.str());
        if (in.dim(d) > std::numeric_limits<int32_t>::max()) {
          return ctx.error("input 0 'images' height and width must fit in int32, got ", in.str());
        }
      }
    }
    PBMEM_ASSIGN_OR_RETURN(const Tensor* size_t_value, shape_input(ctx, 1, "size"));
    if (size_t_value != nullptr) {
      if (size_t_value->num_elements() != 2) {
        return ctx.error("input 1 'size' must have 2 elements, got shape ", size_t_value->shape().str());
      }
      const int32_t* size = size_t_value->data<int32_t>();
      if (size[0] <= 0 || size[1] <= 0) {
        return ctx.error("input 1 'size' must be positive, got [", size[0], ",", size[1], "]");
      }
      dims[1] = size[0];
      dims[2] = size[1];
    }
    Shape out(dims);
    if (in.fully_defined() && out.fully_defined()) {
      auto bytes = out.num_bytes(out_dtype);
      if (!bytes.ok()) return on_node(node, bytes.status());
      plan(in, out);
    }
    ctx.set_output(0, out_dtype, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    if (!bilinear_) {
      run_nearest(ctx);
      return ok_status();
    }
    const Tensor& in = ctx.input(0);
    switch (in.dtype()) {
      case DType::kFloat: run_bilinear<float>(ctx, ReadAsFloat<float>()); break;
      case DType::kDouble: run_bilinear<double>(ctx, ReadAsFloat<double>()); break;
      case DType::kInt8: run_bilinear<int8_t>(ctx, ReadAsFloat<int8_t>()); break;
      case DType::kUInt8: run_bilinear<uint8_t>(ctx, ReadAsFloat<uint8_t>()); break;
      case DType::kInt16: run_bilinear<int16_t>(ctx, ReadAsFloat<int16_t>()); break;
      case DType::kUInt16: run_bilinear<uint16_t>(ctx, ReadAsFloat<uint16_t>()); break;
      case DType::kInt32: run_bilinear<int32_t>(ctx, ReadAsFloat<int32_t>()); break;
      case DType::kInt64: run_bilinear<int64_t>(ctx, ReadAsFloat<int64_t>()); break;
      case DType::kHalf: run_bilinear<uint16_t>(ctx, ReadHalf()); break;
      case DType::kBFloat16: run_bilinear<uint16_t>(ctx, ReadBFloat16()); break;
      default:
        return internal_error(ctx.node().describe(), ": unexpected dtype in run()");
    }
    return ok_status();
  }

 private:
  Status check_dtype(const InferContext& ctx, DType dtype) const {
    switch (dtype) {
      case DType::kFloat: case DType::kDouble: case DType::kHalf: case DType::kBFloat16:
      case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
      case DType::kInt32: case DType::kInt64:
        return ok_status();
      default:
        return ctx.unsupported("input 0 'images' of dtype ", dtype_name(dtype), " is not supported");
    }
  }

  void plan(const Shape& in, const Shape& out) {
    batch_ = in.dim(0);
    in_h_ = in.dim(1);
    in_w_ = in.dim(2);
    channels_ = in.dim(3);
    out_h_ = out.dim(1);
    out_w_ = out.dim(2);
    const float scale_y = resize_scale(in_h_, out_h_, align_corners_);
    const float scale_x = resize_scale(in_w_, out_w_, align_corners_);
    if (bilinear_) {
      ys_ = weights(out_h_, in_h_, scale_y);
      xs_ = weights(out_w_, in_w_, scale_x);
    } else {
      nearest_y_ = nearest(out_h_, in_h_, scale_y);
      nearest_x_ = nearest(out_w_, in_w_, scale_x);
    }
    planned_ = in;
  }

  std::vector<Interpolation> weights(int64_t out_size, int64_t in_size, float scale) const {
    std::vector<Interpolation> w(static_cast<size_t>(out_size));
    for (int64_t i = 0; i < out_size; ++i) {
      const float x = static_cast<float>(i);
      const float src = half_pixel_ ? (x + 0.5f) * scale - 0.5f : x * scale;
      const float src_floor = std::floor(src);
      Interpolation& p = w[static_cast<size_t>(i)];
      p.lower = std::max<int64_t>(static_cast<int64_t>(src_floor), 0);
      p.upper = std::min<int64_t>(static_cast<int64_t>(std::ceil(src)), in_size - 1);
      p.lerp = src - src_floor;
    }
    return w;
  }

  std::vector<int64_t> nearest(int64_t out_size, int64_t in_size, float scale) const {
    std::vector<int64_t> index(static_cast<size_t>(out_size));
    for (int64_t i = 0; i < out_size; ++i) {
      const float x = static_cast<float>(i);
      const float src = half_pixel_ ? (x + 0.5f) * scale : x * scale;
      int64_t j = static_cast<int64_t>(align_corners_ ? std::round(src) : std::floor(src));
      j = std::min<int64_t>(j, in_size - 1);
      if (half_pixel_) j = std::max<int64_t>(j, 0);
      index[static_cast<size_t>(i)] = j;
    }
    return index;
  }

  int64_t rows_per_chunk(int64_t row_bytes) const {
    return std::max<int64_t>(1, kParallelResizeBytes / std::max<int64_t>(1, row_bytes));
  }

  void run_nearest(RunContext& ctx) const {
    const size_t pixel = static_cast<size_t>(channels_) * dtype_size(ctx.input(0).dtype());
    const auto* in = static_cast<const uint8_t*>(ctx.input(0).raw_data());
    auto* out = static_cast<uint8_t*>(ctx.output(0).raw_data());
    const int64_t rows = batch_ * out_h_;
    parallel_for(rows, rows_per_chunk(out_w_ * static_cast<int64_t>(pixel)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / out_h_, y = r % out_h_;
        const uint8_t* src_row = in + static_cast<size_t>((b * in_h_ + nearest_y_[static_cast<size_t>(y)]) * in_w_) * pixel;
        uint8_t* dst = out + static_cast<size_t>(r * out_w_) * pixel;
        for (int64_t x = 0; x < out_w_; ++x) {
          std::memcpy(dst + static_cast<size_t>(x) * pixel,
                      src_row + static_cast<size_t>(nearest_x_[static_cast<size_t>(x)]) * pixel, pixel);
        }
      }
    });
  }

  template <typename Elem, typename Read>
  void run_bilinear(RunContext& ctx, Read read) const {
    const Elem* in = static_cast<const Elem*>(ctx.input(0).raw_data());
    float* out = ctx.output(0).data<float>();
    const int64_t c = channels_, rows = batch_ * out_h_;
    parallel_for(rows, rows_per_chunk(out_w_ * c * 4), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / out_h_, y = r % out_h_;
        const Interpolation& wy = ys_[static_cast<size_t>(y)];
        const Elem* top = in + (b * in_h_ + wy.lower) * in_w_ * c;
        const Elem* bottom = in + (b * in_h_ + wy.upper) * in_w_ * c;
        float* dst = out + r * out_w_ * c;
        for (int64_t x = 0; x < out_w_; ++x) {
          const Interpolation& wx = xs_[static_cast<size_t>(x)];
          const int64_t left = wx.lower * c, right = wx.upper * c;
          for (int64_t k = 0; k < c; ++k) {
            const float tl = read(top + left + k), tr = read(top + right + k);
            const float bl = read(bottom + left + k), br = read(bottom + right + k);
            const float t = tl + (tr - tl) * wx.lerp;
            const float btm = bl + (br - bl) * wx.lerp;
            dst[x * c + k] = t + (btm - t) * wy.lerp;
          }
        }
      }
    });
  }

  bool bilinear_;
  bool align_corners_ = false;
  bool half_pixel_ = false;
  int64_t batch_ = 0, in_h_ = 0, in_w_ = 0, channels_ = 0, out_h_ = 0, out_w_ = 0;
  std::vector<Interpolation> ys_, xs_;
  std::vector<int64_t> nearest_y_, nearest_x_;
  Shape planned_ = Shape::unknown_rank();
};

template <bool kBilinear>
std::unique_ptr<Kernel> make_resize() {
  return std::make_unique<ResizeKernel>(kBilinear);
}

}  // namespace
}  // namespace array_detail

Status register_image_ops(OpRegistry& registry) {
  return registry.add_all({
      {"ResizeBilinear", op_record(array_detail::make_resize<true>)},
      {"ResizeNearestNeighbor", op_record(array_detail::make_resize<false>)},
  });
}

}  // namespace pbmem

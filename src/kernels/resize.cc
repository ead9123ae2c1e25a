// ResizeBilinear and ResizeNearestNeighbor on NHWC images, with TF's coordinate transforms:
//   scale           = align_corners && out > 1 ? (in - 1) / (out - 1) : in / out   (float)
//   bilinear source = half_pixel_centers ? (x + 0.5) * scale - 0.5 : x * scale
//                     lower = max(floor(src), 0), upper = min(ceil(src), in - 1),
//                     lerp = src - floor(src); interpolated in float, top row then bottom
//   nearest source  = half_pixel_centers ? (x + 0.5) * scale : x * scale, then
//                     align_corners ? round (half away from zero) : floor, clamped to in - 1
//                     (and to 0 with half_pixel_centers)
//   bicubic source  = half_pixel_centers ? (x + 0.5) * scale - 0.5 : x * scale; four taps
//                     floor(src) - 1 .. floor(src) + 2 weighted by TF's table of the cubic
//                     convolution kernel (1024 steps, the step rounded to nearest):
//                     half_pixel_centers: Keys' a = -0.5, taps outside the image weigh 0 and
//                     the weights are renormalised; else a = -0.75, taps clamped to the edge.
//                     Rows are combined first, then columns, in float.
// half_pixel_centers together with align_corners is an error, as in TF. Bilinear and bicubic
// always output float; nearest keeps the input dtype (it only moves elements).
#include <cmath>
#include <limits>

#include "kernels/array_helpers.h"
#include "kernels/image_util.h"

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

enum class ResizeMode { kNearest, kBilinear, kBicubic };

// The four taps of one output coordinate of a bicubic resize.
struct CubicTaps {
  int64_t index[4] = {0, 0, 0, 0};
  float weight[4] = {0, 0, 0, 0};
};

// TF's kernel table (resize_bicubic_op.cc): for x = i / 1024, entry 2i is the kernel at x and
// entry 2i + 1 at x + 1.
constexpr int64_t kCubicTableSize = 1 << 10;

std::vector<float> cubic_table(float a) {
  std::vector<float> table(static_cast<size_t>(kCubicTableSize + 1) * 2);
  for (int64_t i = 0; i <= kCubicTableSize; ++i) {
    float x = static_cast<float>(static_cast<double>(i) * 1.0 / kCubicTableSize);
    table[static_cast<size_t>(i) * 2] = ((a + 2) * x - (a + 3)) * x * x + 1;
    x += 1.0f;
    table[static_cast<size_t>(i) * 2 + 1] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  }
  return table;
}

// half_pixel (Keys): out-of-image taps weigh 0 and the rest are renormalised; legacy: clamped.
std::vector<CubicTaps> cubic_taps(int64_t out_size, int64_t in_size, float scale, bool half_pixel) {
  static const std::vector<float> keys = cubic_table(-0.5f);
  static const std::vector<float> legacy = cubic_table(-0.75f);
  const std::vector<float>& table = half_pixel ? keys : legacy;
  std::vector<CubicTaps> taps(static_cast<size_t>(out_size));
  for (int64_t i = 0; i < out_size; ++i) {
    const float x = static_cast<float>(i);
    const float src = half_pixel ? (x + 0.5f) * scale - 0.5f : x * scale;
    const int64_t base = static_cast<int64_t>(std::floor(src));
    const int64_t offset = std::lrint((src - static_cast<float>(base)) * kCubicTableSize);
    const float w[4] = {table[static_cast<size_t>(offset * 2 + 1)], table[static_cast<size_t>(offset * 2)],
                        table[static_cast<size_t>((kCubicTableSize - offset) * 2)],
                        table[static_cast<size_t>((kCubicTableSize - offset) * 2 + 1)]};
    CubicTaps& t = taps[static_cast<size_t>(i)];
    float sum = 0;
    for (int k = 0; k < 4; ++k) {
      t.index[k] = std::min(in_size - 1, std::max<int64_t>(0, base - 1 + k));
      t.weight[k] = !half_pixel || t.index[k] == base - 1 + k ? w[k] : 0.0f;
      sum += t.weight[k];
    }
    if (half_pixel && std::abs(sum) >= 1000.0f * std::numeric_limits<float>::min()) {
      const float inverse = 1.0f / sum;
      for (float& weight : t.weight) weight *= inverse;
    }
  }
  return taps;
}

float resize_scale(int64_t in, int64_t out, bool align_corners) {
  return align_corners && out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                                  : static_cast<float>(in) / static_cast<float>(out);
}


class ResizeKernel : public Kernel {
 public:
  explicit ResizeKernel(ResizeMode mode) : mode_(mode) {}

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
    const DType out_dtype = mode_ == ResizeMode::kNearest ? dtype : DType::kFloat;
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
    if (mode_ == ResizeMode::kNearest) {
      run_nearest(ctx);
      return ok_status();
    }
    const bool known = visit_float_reader(ctx.input(0).dtype(), [&](auto elem, auto read) {
      using Elem = decltype(elem);
      if (mode_ == ResizeMode::kBilinear) {
        run_bilinear<Elem>(ctx, read);
      } else {
        run_bicubic<Elem>(ctx, read);
      }
    });
    if (!known) return internal_error(ctx.node().describe(), ": unexpected dtype in run()");
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
    if (mode_ == ResizeMode::kBilinear) {
      ys_ = weights(out_h_, in_h_, scale_y);
      xs_ = weights(out_w_, in_w_, scale_x);
    } else if (mode_ == ResizeMode::kBicubic) {
      cubic_y_ = cubic_taps(out_h_, in_h_, scale_y, half_pixel_);
      cubic_x_ = cubic_taps(out_w_, in_w_, scale_x, half_pixel_);
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

  // out[y, x] = sum_j wx_j * (sum_i wy_i * in[y_i, x_j]), as TF's cached column sums.
  template <typename Elem, typename Read>
  void run_bicubic(RunContext& ctx, Read read) const {
    const Elem* in = static_cast<const Elem*>(ctx.input(0).raw_data());
    float* out = ctx.output(0).data<float>();
    const int64_t c = channels_, rows = batch_ * out_h_;
    parallel_for(rows, rows_per_chunk(out_w_ * c * 16), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / out_h_, y = r % out_h_;
        const CubicTaps& ty = cubic_y_[static_cast<size_t>(y)];
        const Elem* row[4];
        for (int i = 0; i < 4; ++i) row[i] = in + (b * in_h_ + ty.index[i]) * in_w_ * c;
        float* dst = out + r * out_w_ * c;
        for (int64_t x = 0; x < out_w_; ++x) {
          const CubicTaps& tx = cubic_x_[static_cast<size_t>(x)];
          for (int64_t k = 0; k < c; ++k) {
            float column[4];
            for (int j = 0; j < 4; ++j) {
              const int64_t at = tx.index[j] * c + k;
              column[j] = read(row[0] + at) * ty.weight[0] + read(row[1] + at) * ty.weight[1] +
                          read(row[2] + at) * ty.weight[2] + read(row[3] + at) * ty.weight[3];
            }
            dst[x * c + k] = column[0] * tx.weight[0] + column[1] * tx.weight[1] +
                             column[2] * tx.weight[2] + column[3] * tx.weight[3];
          }
        }
      }
    });
  }

  ResizeMode mode_;
  bool align_corners_ = false;
  bool half_pixel_ = false;
  int64_t batch_ = 0, in_h_ = 0, in_w_ = 0, channels_ = 0, out_h_ = 0, out_w_ = 0;
  std::vector<Interpolation> ys_, xs_;
  std::vector<int64_t> nearest_y_, nearest_x_;
  std::vector<CubicTaps> cubic_y_, cubic_x_;
  Shape planned_ = Shape::unknown_rank();
};

template <ResizeMode kMode>
std::unique_ptr<Kernel> make_resize() {
  return std::make_unique<ResizeKernel>(kMode);
}

}  // namespace
}  // namespace array_detail

Status register_fft_ops(OpRegistry& registry);  // fft.cc (audio spectrograms)

Status register_image_ops(OpRegistry& registry) {
  using array_detail::ResizeMode;
  PBMEM_RETURN_IF_ERROR(registry.add_all({
      {"ResizeBilinear", op_record(array_detail::make_resize<ResizeMode::kBilinear>)},
      {"ResizeBicubic", op_record(array_detail::make_resize<ResizeMode::kBicubic>)},
      {"ResizeNearestNeighbor", op_record(array_detail::make_resize<ResizeMode::kNearest>)},
  }));
  PBMEM_RETURN_IF_ERROR(array_detail::register_crop_and_resize_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_nms_ops(registry));
  return register_fft_ops(registry);
}

}  // namespace pbmem

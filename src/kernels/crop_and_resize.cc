// CropAndResize(image [B, H, W, C], boxes [N, 4], box_ind [N], crop_size [2]) -> [N, h, w, C]
// float: box n = [y1, x1, y2, x2] (normalised; y1 > y2 flips) of image box_ind[n], sampled on
// an h x w grid as TF's CPU kernel does:
//   in_y = h > 1 ? y1 * (H - 1) + y * (y2 - y1) * (H - 1) / (h - 1) : 0.5 * (y1 + y2) * (H - 1)
// (the same for x); a sample outside [0, H - 1] x [0, W - 1] is extrapolation_value, else
// method "bilinear" interpolates the four neighbours (top row, bottom row, then between them)
// and "nearest" takes the rounded one (half away from zero). crop_size decides the shape, so it
// must be constant; boxes and box_ind may be fed. A box_ind outside [0, B) is an error, as in TF.
#include <cmath>

#include "kernels/image_util.h"

namespace pbmem {
namespace array_detail {
namespace {

class CropAndResizeKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(4, 4));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(std::string method, node.attr_string_or("method", "bilinear"));
    if (method != "bilinear" && method != "nearest") {
      return ctx.error("attribute 'method' must be 'bilinear' or 'nearest', got '", method, "'");
    }
    bilinear_ = method == "bilinear";
    PBMEM_ASSIGN_OR_RETURN(extrapolation_, node.attr_float_or("extrapolation_value", 0.0f));
    if (!visit_float_reader(ctx.input_dtype(0), [](auto, auto) {})) {
      return ctx.unsupported("input 0 'image' of dtype ", dtype_name(ctx.input_dtype(0)),
                             " is not supported");
    }
    if (ctx.input_dtype(1) != DType::kFloat) {
      return ctx.error("input 1 'boxes' must be float, got ", dtype_name(ctx.input_dtype(1)));
    }
    if (ctx.input_dtype(2) != DType::kInt32) {
      return ctx.error("input 2 'box_ind' must be int32, got ", dtype_name(ctx.input_dtype(2)));
    }
    if (ctx.input_dtype(3) != DType::kInt32) {
      return ctx.error("input 3 'crop_size' must be int32, got ", dtype_name(ctx.input_dtype(3)));
    }
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "image", 4));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "boxes", 2));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 2, "box_ind", 1));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 3, "crop_size", 1));
    const Shape& boxes = ctx.input_shape(1);
    const Shape& box_ind = ctx.input_shape(2);
    int64_t n = kUnknownDim;
    if (boxes.known_rank() && boxes.dim(1) != kUnknownDim && boxes.dim(1) != 4) {
      return ctx.error("input 1 'boxes' must have 4 columns, got shape ", boxes.str());
    }
    if (!merge_dim(boxes.known_rank() ? boxes.dim(0) : kUnknownDim,
                   box_ind.known_rank() ? box_ind.dim(0) : kUnknownDim, &n)) {
      return ctx.error("input 2 'box_ind' has shape ", box_ind.str(), ", but 'boxes' has ",
                       boxes.str());
    }
    const Shape& image = ctx.input_shape(0);
    std::vector<int64_t> dims{n, kUnknownDim, kUnknownDim,
                              image.known_rank() ? image.dim(3) : kUnknownDim};
    if (image.known_rank() && (image.dim(1) == 0 || image.dim(2) == 0)) {
      return ctx.error("input 0 'image' must have positive height and width, got ", image.str());
    }
    PBMEM_ASSIGN_OR_RETURN(const Tensor* size_t_value, shape_input(ctx, 3, "crop_size"));
    if (size_t_value != nullptr) {
      const int32_t* size = size_t_value->data<int32_t>();
      if (size_t_value->num_elements() != 2 || size[0] <= 0 || size[1] <= 0) {
        return ctx.error("input 3 'crop_size' must be 2 positive values, got shape ",
                         size_t_value->shape().str());
      }
      dims[1] = size[0];
      dims[2] = size[1];
    }
    Shape out(dims);
    if (ctx.concrete()) {
      PBMEM_RETURN_IF_ERROR(on_node(node, out.num_bytes(DType::kFloat).status()));
      planned_ = image;
    }
    ctx.set_output(0, DType::kFloat, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(check_planned(ctx, planned_));
    const Tensor& box_ind = ctx.input(2);
    const int32_t* ind = box_ind.data<int32_t>();
    for (int64_t b = 0; b < box_ind.num_elements(); ++b) {
      if (ind[b] < 0 || ind[b] >= planned_.dim(0)) {
        return invalid_argument(ctx.node().describe(), ": box_ind[", b, "] = ", ind[b],
                                " is outside [0, ", planned_.dim(0), ")");
      }
    }
    visit_float_reader(ctx.input(0).dtype(), [&](auto elem, auto read) {
      using Elem = decltype(elem);
      const int64_t boxes = box_ind.num_elements();
      parallel_for(boxes, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b)
          crop(ctx, b, static_cast<const Elem*>(ctx.input(0).raw_data()), read);
      });
    });
    return ok_status();
  }

 private:
  // TF's sample position along one axis of `size` image pixels for output index i of `crop`.
  static float source(float lo, float hi, int64_t size, int64_t i, int64_t crop) {
    if (crop <= 1) return static_cast<float>(0.5 * (lo + hi) * static_cast<double>(size - 1));
    const float scale = (hi - lo) * static_cast<float>(size - 1) / static_cast<float>(crop - 1);
    return lo * static_cast<float>(size - 1) + static_cast<float>(i) * scale;
  }

  // NaN positions count as outside, so no index is ever made of one.
  static bool inside(float v, int64_t size) { return v >= 0 && v <= static_cast<float>(size - 1); }

  template <typename Elem, typename Read>
  void crop(const RunContext& ctx, int64_t b, const Elem* image, Read read) const {
    const Shape& out_shape = ctx.output(0).shape();
    const int64_t crop_h = out_shape.dim(1), crop_w = out_shape.dim(2), c = out_shape.dim(3);
    const int64_t h = planned_.dim(1), w = planned_.dim(2);
    const float* box = ctx.input(1).data<float>() + b * 4;
    const Elem* img = image + static_cast<int64_t>(ctx.input(2).data<int32_t>()[b]) * h * w * c;
    float* out = ctx.output(0).data<float>() + b * crop_h * crop_w * c;
    for (int64_t y = 0; y < crop_h; ++y) {
      const float in_y = source(box[0], box[2], h, y, crop_h);
      float* row = out + y * crop_w * c;
      if (!inside(in_y, h)) {
        std::fill(row, row + crop_w * c, extrapolation_);
        continue;
      }
      const int64_t top = static_cast<int64_t>(std::floor(in_y));
      const int64_t bottom = static_cast<int64_t>(std::ceil(in_y));
      const float y_lerp = in_y - static_cast<float>(top);
      const int64_t nearest_y = static_cast<int64_t>(std::round(in_y));
      for (int64_t x = 0; x < crop_w; ++x) {
        const float in_x = source(box[1], box[3], w, x, crop_w);
        float* px = row + x * c;
        if (!inside(in_x, w)) {
          std::fill(px, px + c, extrapolation_);
        } else if (!bilinear_) {
          const Elem* src = img + (nearest_y * w + static_cast<int64_t>(std::round(in_x))) * c;
          for (int64_t d = 0; d < c; ++d) px[d] = read(src + d);
        } else {
          const int64_t left = static_cast<int64_t>(std::floor(in_x));
          const int64_t right = static_cast<int64_t>(std::ceil(in_x));
          const float x_lerp = in_x - static_cast<float>(left);
          const Elem* t = img + top * w * c;
          const Elem* btm = img + bottom * w * c;
          for (int64_t d = 0; d < c; ++d) {
            const float tl = read(t + left * c + d), tr = read(t + right * c + d);
            const float bl = read(btm + left * c + d), br = read(btm + right * c + d);
            const float top_v = tl + (tr - tl) * x_lerp;
            const float bottom_v = bl + (br - bl) * x_lerp;
            px[d] = top_v + (bottom_v - top_v) * y_lerp;
          }
        }
      }
    }
  }

  bool bilinear_ = true;
  float extrapolation_ = 0.0f;
  Shape planned_ = Shape::unknown_rank();
};

}  // namespace

Status register_crop_and_resize_ops(OpRegistry& registry) {
  return registry.add_all({
      {"CropAndResize", op_record<CropAndResizeKernel>()},
  });
}

}  // namespace array_detail
}  // namespace pbmem

// RFFT(input [..., n] float, fft_length [1]) -> complex64 [..., fft_length / 2 + 1] and
// ComplexAbs(complex64) -> float, the spectrogram pair of tf.signal.stft + tf.abs (YAMNet and
// other audio front ends). complex64 lives only between them inside the graph (8 bytes per
// element: real, imaginary float). The input is cropped or zero-padded to fft_length, as in TF.
// fft_length decides the shape, so it must be constant.
//   X[k] = sum_{j < min(n, N)} x[j] * (cos(2 pi k j / N) - i sin(2 pi k j / N)), N = fft_length
// is summed in double over a twiddle table made at prepare, then rounded to float: a direct
// transform (O(N^2) per row), exact to float rounding, rather than TF's float FFT.
#include <cmath>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace {

class RfftKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(DType treal, node.attr_type_or("Treal", DType::kFloat));
    PBMEM_ASSIGN_OR_RETURN(DType tcomplex, node.attr_type_or("Tcomplex", DType::kComplex64));
    if (treal != DType::kFloat || tcomplex != DType::kComplex64 ||
        ctx.input_dtype(0) != DType::kFloat) {
      return ctx.unsupported("only float input and complex64 output are supported, got ",
                             dtype_name(ctx.input_dtype(0)), " -> ", dtype_name(tcomplex));
    }
    if (ctx.input_dtype(1) != DType::kInt32) {
      return ctx.error("input 1 'fft_length' must be int32, got ", dtype_name(ctx.input_dtype(1)));
    }
    PBMEM_RETURN_IF_ERROR(array_detail::expect_rank(ctx, 1, "fft_length", 1));
    const Shape& x = ctx.input_shape(0);
    if (x.known_rank() && x.rank() < 1)
      return ctx.error("input 0 must be at least 1-D, got a scalar");
    PBMEM_ASSIGN_OR_RETURN(const Tensor* len_t, array_detail::shape_input(ctx, 1, "fft_length"));
    int64_t bins = kUnknownDim;
    if (len_t != nullptr) {
      if (len_t->num_elements() != 1) {
        return ctx.error("input 1 'fft_length' must have 1 element, got shape ",
                         len_t->shape().str());
      }
      n_ = len_t->data<int32_t>()[0];
      if (n_ < 0) return ctx.error("input 1 'fft_length' must be non-negative, got ", n_);
      bins = n_ / 2 + 1;
    }
    if (!x.known_rank()) {
      ctx.set_output(0, DType::kComplex64, Shape::unknown_rank());
      return ok_status();
    }
    std::vector<int64_t> dims = x.dims();
    dims.back() = bins;
    Shape out(dims);
    if (ctx.concrete()) {
      PBMEM_RETURN_IF_ERROR(array_detail::on_node(node, out.num_bytes(DType::kComplex64).status()));
      make_twiddles();
    }
    ctx.set_output(0, DType::kComplex64, out);
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t n_in = x.shape().dim(x.shape().rank() - 1);
    const int64_t used = std::min(n_in, n_);
    const int64_t bins = n_ / 2 + 1;
    const int64_t rows = array_detail::dims_product(x.shape().dims(), 0, x.shape().rank() - 1);
    const float* in = x.data<float>();
    float* out = ctx.output(0).data<float>();  // interleaved (real, imaginary)
    parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = in + r * n_in;
        for (int64_t k = 0; k < bins; ++k) {
          double re = 0, im = 0;
          int64_t phase = 0;  // k * j mod N
          for (int64_t j = 0; j < used; ++j) {
            re += row[j] * cos_[static_cast<size_t>(phase)];
            im -= row[j] * sin_[static_cast<size_t>(phase)];
            phase += k;
            if (phase >= n_) phase -= n_;
          }
          out[(r * bins + k) * 2] = static_cast<float>(re);
          out[(r * bins + k) * 2 + 1] = static_cast<float>(im);
        }
      }
    });
    return ok_status();
  }

 private:
  void make_twiddles() {
    if (static_cast<int64_t>(cos_.size()) == n_) return;
    cos_.resize(static_cast<size_t>(n_));
    sin_.resize(static_cast<size_t>(n_));
    const double pi = std::acos(-1.0);
    for (int64_t j = 0; j < n_; ++j) {
      const double angle = 2.0 * pi * static_cast<double>(j) / static_cast<double>(n_);
      cos_[static_cast<size_t>(j)] = std::cos(angle);
      sin_[static_cast<size_t>(j)] = std::sin(angle);
    }
  }

  int64_t n_ = 0;
  std::vector<double> cos_, sin_;
};

// |z| of complex64 elements, as std::abs(std::complex<float>) (hypot) in TF.
class ComplexAbsKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    PBMEM_ASSIGN_OR_RETURN(DType tout, ctx.node().attr_type_or("Tout", DType::kFloat));
    if (ctx.input_dtype(0) != DType::kComplex64 || tout != DType::kFloat) {
      return ctx.unsupported("only complex64 -> float is supported, got ",
                             dtype_name(ctx.input_dtype(0)), " -> ", dtype_name(tout));
    }
    ctx.set_output(0, DType::kFloat, ctx.input_shape(0));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const float* z = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    parallel_for(ctx.output(0).num_elements(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = std::hypot(z[2 * i], z[2 * i + 1]);
    });
    return ok_status();
  }
};

}  // namespace

Status register_fft_ops(OpRegistry& registry) {
  return registry.add_all({
      {"RFFT", op_record<RfftKernel>()},
      {"ComplexAbs", op_record<ComplexAbsKernel>()},
  });
}

}  // namespace pbmem

// pbmem_conv_layouts: how much would keeping activations in oneDNN's blocked layout (format
// `any`, nChw8c on AVX2) between convolutions buy over plain NHWC, and what do the reorders at
// the edges cost? For every distinct conv of ResNet50 and MobileNetV2 (table below) it times the
// conv with NHWC activations and with oneDNN's chosen layout (weights packed in both, same bias
// and activation post-op), and one NHWC -> src-layout reorder of its input and one dst-layout ->
// NHWC reorder of its output. The four measurements alternate within every run (rotating which
// goes first) and each is the median over the runs, because the machine is shared.
//
// usage: pbmem_conv_layouts [--runs N] [--threads N] [--batches 1,16] [--nets resnet50,mobilenet_v2]
//
// Layer table source: the frozen Keras models the tests use
// (tests/.graph_cache/model-resnet50-03f946a55fd27769.pb, model-mobilenet_v2-ede2cb261fad6f14.pb),
// every Conv2D / DepthwiseConv2dNative listed with TF shape inference at 224x224 and grouped by
// (input, filter, stride, padding, activation). A zero Pad before a conv is written as the conv's
// own padding, as pbmem fuses it (src/runtime/fusion.h). "relu"/"relu6" = the conv's BatchNorm is
// followed directly by that activation; a ResNet block's last conv feeds the residual Add, whose
// ReLU pbmem does not fuse into the conv, so it runs with no post-op here.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/dnnl_adapter.h"

namespace {

namespace dnnl = pbmem::dnnl_adapter;
using pbmem::Result;
using pbmem::Status;

enum class Act { kNone, kRelu, kRelu6 };
enum class Padding { kValid, kSame };

// One distinct conv of a network; `count` layers of the network have exactly this shape.
struct ConvLayer {
  int count;
  int64_t h, w, c;        // input, NHWC without the batch
  int64_t kh, kw, out_c;  // filter; out_c = c for depthwise
  int64_t stride;
  Padding padding;
  int64_t pad_top, pad_left, pad_bottom, pad_right;  // a fused zero Pad, before TF's padding
  bool depthwise;
  Act act;
};

struct Network {
  const char* name;
  std::vector<ConvLayer> layers;  // in order of first occurrence; the last one ends the network
};

constexpr Padding V = Padding::kValid;
constexpr Padding S = Padding::kSame;
constexpr Act kNo = Act::kNone, kR = Act::kRelu, kR6 = Act::kRelu6;

// ResNet50 (53 convs). The network's last conv is conv5_block3_3 (7x7x512 -> 2048).
Network resnet50() {
  return {"resnet50",
          {{1, 224, 224, 3, 7, 7, 64, 2, V, 3, 3, 3, 3, false, kR},
           {4, 56, 56, 64, 1, 1, 256, 1, V, 0, 0, 0, 0, false, kNo},
           {1, 56, 56, 64, 1, 1, 64, 1, V, 0, 0, 0, 0, false, kR},
           {3, 56, 56, 64, 3, 3, 64, 1, S, 0, 0, 0, 0, false, kR},
           {2, 56, 56, 256, 1, 1, 64, 1, V, 0, 0, 0, 0, false, kR},
           {1, 56, 56, 256, 1, 1, 512, 2, V, 0, 0, 0, 0, false, kNo},
           {1, 56, 56, 256, 1, 1, 128, 2, V, 0, 0, 0, 0, false, kR},
           {4, 28, 28, 128, 3, 3, 128, 1, S, 0, 0, 0, 0, false, kR},
           {4, 28, 28, 128, 1, 1, 512, 1, V, 0, 0, 0, 0, false, kNo},
           {3, 28, 28, 512, 1, 1, 128, 1, V, 0, 0, 0, 0, false, kR},
           {1, 28, 28, 512, 1, 1, 1024, 2, V, 0, 0, 0, 0, false, kNo},
           {1, 28, 28, 512, 1, 1, 256, 2, V, 0, 0, 0, 0, false, kR},
           {6, 14, 14, 256, 3, 3, 256, 1, S, 0, 0, 0, 0, false, kR},
           {6, 14, 14, 256, 1, 1, 1024, 1, V, 0, 0, 0, 0, false, kNo},
           {5, 14, 14, 1024, 1, 1, 256, 1, V, 0, 0, 0, 0, false, kR},
           {1, 14, 14, 1024, 1, 1, 2048, 2, V, 0, 0, 0, 0, false, kNo},
           {1, 14, 14, 1024, 1, 1, 512, 2, V, 0, 0, 0, 0, false, kR},
           {3, 7, 7, 512, 3, 3, 512, 1, S, 0, 0, 0, 0, false, kR},
           {2, 7, 7, 2048, 1, 1, 512, 1, V, 0, 0, 0, 0, false, kR},
           {3, 7, 7, 512, 1, 1, 2048, 1, V, 0, 0, 0, 0, false, kNo}}};
}

// MobileNetV2 1.0/224 (52 convs: 17 depthwise, 35 dense). Stride-2 depthwise convs follow
// Keras' ZeroPadding2D ((0, 1), (0, 1)). The last conv is Conv_1 (7x7x320 -> 1280).
Network mobilenet_v2() {
  return {"mobilenet_v2",
          {{1, 224, 224, 3, 3, 3, 32, 2, S, 0, 0, 0, 0, false, kR6},
           {1, 112, 112, 32, 3, 3, 32, 1, S, 0, 0, 0, 0, true, kR6},
           {1, 112, 112, 32, 1, 1, 16, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 112, 112, 16, 1, 1, 96, 1, S, 0, 0, 0, 0, false, kR6},
           {1, 112, 112, 96, 3, 3, 96, 2, V, 0, 0, 1, 1, true, kR6},
           {1, 56, 56, 96, 1, 1, 24, 1, S, 0, 0, 0, 0, false, kNo},
           {2, 56, 56, 24, 1, 1, 144, 1, S, 0, 0, 0, 0, false, kR6},
           {1, 56, 56, 144, 3, 3, 144, 1, S, 0, 0, 0, 0, true, kR6},
           {1, 56, 56, 144, 1, 1, 24, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 56, 56, 144, 3, 3, 144, 2, V, 0, 0, 1, 1, true, kR6},
           {1, 28, 28, 144, 1, 1, 32, 1, S, 0, 0, 0, 0, false, kNo},
           {3, 28, 28, 32, 1, 1, 192, 1, S, 0, 0, 0, 0, false, kR6},
           {2, 28, 28, 192, 3, 3, 192, 1, S, 0, 0, 0, 0, true, kR6},
           {2, 28, 28, 192, 1, 1, 32, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 28, 28, 192, 3, 3, 192, 2, V, 0, 0, 1, 1, true, kR6},
           {1, 14, 14, 192, 1, 1, 64, 1, S, 0, 0, 0, 0, false, kNo},
           {4, 14, 14, 64, 1, 1, 384, 1, S, 0, 0, 0, 0, false, kR6},
           {4, 14, 14, 384, 3, 3, 384, 1, S, 0, 0, 0, 0, true, kR6},
           {3, 14, 14, 384, 1, 1, 64, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 14, 14, 384, 1, 1, 96, 1, S, 0, 0, 0, 0, false, kNo},
           {3, 14, 14, 96, 1, 1, 576, 1, S, 0, 0, 0, 0, false, kR6},
           {2, 14, 14, 576, 3, 3, 576, 1, S, 0, 0, 0, 0, true, kR6},
           {2, 14, 14, 576, 1, 1, 96, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 14, 14, 576, 3, 3, 576, 2, V, 0, 0, 1, 1, true, kR6},
           {1, 7, 7, 576, 1, 1, 160, 1, S, 0, 0, 0, 0, false, kNo},
           {3, 7, 7, 160, 1, 1, 960, 1, S, 0, 0, 0, 0, false, kR6},
           {3, 7, 7, 960, 3, 3, 960, 1, S, 0, 0, 0, 0, true, kR6},
           {2, 7, 7, 960, 1, 1, 160, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 7, 7, 960, 1, 1, 320, 1, S, 0, 0, 0, 0, false, kNo},
           {1, 7, 7, 320, 1, 1, 1280, 1, V, 0, 0, 0, 0, false, kR6}}};
}

constexpr float kRelu6Max = 6.0f;
constexpr size_t kAlignment = 64;             // cache line, as the runtime's tensors
constexpr double kMinSampleSeconds = 2e-3;    // repeat short calls so one sample is >= 2 ms
constexpr double kFlopsPerMac = 2;
constexpr double kMicro = 1e6;
constexpr double kMilli = 1e3;
constexpr double kGiga = 1e9;
constexpr float kAgreementTolerance = 1e-4f;  // relative, the runtime's TF tolerance
constexpr int kDefaultRuns = 15;
constexpr int kWarmupCalls = 3;
constexpr double kTimerResolution = 1e-9;  // keeps the repeat count finite for a 0 s call
constexpr int kDefaultThreads = 2;

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;

Buffer allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  return Buffer(static_cast<float*>(std::aligned_alloc(kAlignment, rounded)));
}

// TF's output size and padding for one spatial dim of the (already fused-padded) input.
void window(int64_t in, int64_t k, int64_t stride, Padding padding, int64_t* out, int64_t* before,
            int64_t* after) {
  if (padding == Padding::kValid) {
    *out = (in - k) / stride + 1;
    *before = *after = 0;
    return;
  }
  *out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((*out - 1) * stride + k - in, 0);
  *before = total / 2;
  *after = total - *before;
}

dnnl::ConvParams conv_params(const ConvLayer& l, int64_t batch, dnnl::ActivationLayout layout) {
  int64_t oh = 0, ow = 0, top = 0, bottom = 0, left = 0, right = 0;
  window(l.h + l.pad_top + l.pad_bottom, l.kh, l.stride, l.padding, &oh, &top, &bottom);
  window(l.w + l.pad_left + l.pad_right, l.kw, l.stride, l.padding, &ow, &left, &right);
  dnnl::ConvParams p;
  p.src = {batch, l.h, l.w, l.c};
  p.dst = {batch, oh, ow, l.out_c};
  // A depthwise [KH, KW, C, 1] filter is the grouped filter [KH, KW, 1, C] with C groups.
  p.weights = {l.kh, l.kw, l.depthwise ? 1 : l.c, l.out_c};
  p.groups = l.depthwise ? l.c : 1;
  p.strides = {l.stride, l.stride};
  p.pad_l = {top + l.pad_top, left + l.pad_left};
  p.pad_r = {bottom + l.pad_bottom, right + l.pad_right};
  p.has_bias = true;  // the folded BatchNorm shift
  if (l.act == Act::kRelu) p.post_ops.push_back({dnnl::EltwiseKind::kRelu, 0.0f, 0.0f});
  if (l.act == Act::kRelu6) p.post_ops.push_back({dnnl::EltwiseKind::kClip, 0.0f, kRelu6Max});
  p.activation_layout = layout;
  return p;
}

int64_t elements(const dnnl::Dims4& d) { return d[0] * d[1] * d[2] * d[3]; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string describe(const ConvLayer& l) {
  char text[96];
  std::snprintf(text, sizeof(text), "%s%lldx%lld %lldx%lldx%lld->%lld s%lld%s",
                l.depthwise ? "dw " : "", static_cast<long long>(l.kh), static_cast<long long>(l.kw),
                static_cast<long long>(l.h), static_cast<long long>(l.w), static_cast<long long>(l.c),
                static_cast<long long>(l.out_c), static_cast<long long>(l.stride),
                l.act == Act::kRelu ? " relu" : l.act == Act::kRelu6 ? " relu6" : "");
  return text;
}

// Seconds per call of the four measurements of one layer.
struct StepTimes {
  double nhwc = 0, blocked = 0, reorder_in = 0, reorder_out = 0;
};
struct LayerTimes {
  StepTimes median;
  // The fastest run: on a loaded 2-core machine an OpenMP barrier waiting for a descheduled
  // thread adds whole scheduler slices (ms) to a call, so the best run is the other estimate.
  StepTimes best;
  double gflop = 0;
  std::string layouts, impl_nhwc, impl_blocked;
};

// Everything one layer runs with: both convs, both reorders and their buffers.
class LayerBench {
 public:
  Status build(const ConvLayer& l, int64_t batch) {
    const dnnl::ConvParams plain = conv_params(l, batch, dnnl::ActivationLayout::kNhwc);
    const dnnl::ConvParams any = conv_params(l, batch, dnnl::ActivationLayout::kAny);
    PBMEM_ASSIGN_OR_RETURN(nhwc_, dnnl::make_conv(plain));
    PBMEM_ASSIGN_OR_RETURN(blocked_, dnnl::make_conv(any));
    PBMEM_ASSIGN_OR_RETURN(to_src_, dnnl::make_layout_reorder(*blocked_, dnnl::LayoutReorder::kNhwcToSrc));
    PBMEM_ASSIGN_OR_RETURN(to_nhwc_, dnnl::make_layout_reorder(*blocked_, dnnl::LayoutReorder::kDstToNhwc));
    src_elements_ = elements(plain.src);
    dst_elements_ = elements(plain.dst);
    const int64_t weight_elements = elements(plain.weights);
    macs_ = static_cast<double>(dst_elements_) * l.kh * l.kw * (l.depthwise ? 1 : l.c);
    src_ = allocate(src_elements_ * sizeof(float));
    dst_ = allocate(dst_elements_ * sizeof(float));
    check_ = allocate(dst_elements_ * sizeof(float));
    blocked_src_ = allocate(blocked_->src_bytes());
    blocked_dst_ = allocate(blocked_->dst_bytes());
    weights_ = allocate(weight_elements * sizeof(float));
    bias_ = allocate(l.out_c * sizeof(float));
    size_t scratch = 0;
    for (const auto* op : {&nhwc_, &blocked_, &to_src_, &to_nhwc_}) scratch = std::max(scratch, (*op)->scratch_bytes());
    scratch_ = allocate(scratch);
    // Weights scaled like He init, so outputs stay O(1) and the agreement check is meaningful.
    std::mt19937 rng(static_cast<unsigned>(weight_elements));
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    const float scale = 1.0f / std::sqrt(static_cast<float>(l.kh * l.kw * (l.depthwise ? 1 : l.c)));
    for (int64_t i = 0; i < src_elements_; ++i) src_.get()[i] = unit(rng);
    for (int64_t i = 0; i < weight_elements; ++i) weights_.get()[i] = unit(rng) * scale;
    for (int64_t i = 0; i < l.out_c; ++i) bias_.get()[i] = unit(rng);
    PBMEM_RETURN_IF_ERROR(nhwc_->bind_weights(weights_.get()));
    PBMEM_RETURN_IF_ERROR(blocked_->bind_weights(weights_.get()));
    return check_agreement();
  }

  // The blocked conv between the two reorders must give the NHWC conv's output.
  Status check_agreement() {
    PBMEM_RETURN_IF_ERROR(run_nhwc());
    PBMEM_RETURN_IF_ERROR(run_reorder_in());
    PBMEM_RETURN_IF_ERROR(run_blocked());
    PBMEM_RETURN_IF_ERROR(to_nhwc_->run({blocked_dst_.get(), nullptr, check_.get(), scratch_.get()}));
    float max_diff = 0, max_abs = 1;
    for (int64_t i = 0; i < dst_elements_; ++i) {
      max_diff = std::max(max_diff, std::fabs(dst_.get()[i] - check_.get()[i]));
      max_abs = std::max(max_abs, std::fabs(dst_.get()[i]));
    }
    if (max_diff > kAgreementTolerance * max_abs) {
      return pbmem::internal_error("blocked and NHWC outputs differ by ", max_diff);
    }
    return pbmem::ok_status();
  }

  Status run_nhwc() { return nhwc_->run({src_.get(), bias_.get(), dst_.get(), scratch_.get()}); }
  Status run_blocked() {
    return blocked_->run({blocked_src_.get(), bias_.get(), blocked_dst_.get(), scratch_.get()});
  }
  Status run_reorder_in() { return to_src_->run({src_.get(), nullptr, blocked_src_.get(), scratch_.get()}); }
  // Writes the NHWC output into check_, so the reorder out never touches what the NHWC conv wrote.
  Status run_reorder_out() {
    return to_nhwc_->run({blocked_dst_.get(), nullptr, check_.get(), scratch_.get()});
  }

  double gflop() const { return kFlopsPerMac * macs_ / kGiga; }
  const dnnl::DnnlOp& nhwc() const { return *nhwc_; }
  const dnnl::DnnlOp& blocked() const { return *blocked_; }

 private:
  std::unique_ptr<dnnl::DnnlOp> nhwc_, blocked_, to_src_, to_nhwc_;
  Buffer src_, dst_, check_, blocked_src_, blocked_dst_, weights_, bias_, scratch_;
  int64_t src_elements_ = 0, dst_elements_ = 0;
  double macs_ = 0;
};

using Step = Status (LayerBench::*)();
constexpr int kSteps = 4;
const Step kStepOrder[kSteps] = {&LayerBench::run_nhwc, &LayerBench::run_blocked,
                                 &LayerBench::run_reorder_in, &LayerBench::run_reorder_out};

Result<double> time_step(LayerBench& bench, Step step, int repeats) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) PBMEM_RETURN_IF_ERROR((bench.*step)());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
}

Result<LayerTimes> measure(const ConvLayer& layer, int64_t batch, int runs) {
  LayerBench bench;
  PBMEM_RETURN_IF_ERROR(bench.build(layer, batch));
  // Warm up every step, and size the repeat counts from its fastest warm-up call. Both convs
  // get the same count: a scheduler stall then weighs the same in their samples.
  double fastest[kSteps];
  for (int s = 0; s < kSteps; ++s) {
    fastest[s] = std::numeric_limits<double>::max();
    for (int w = 0; w < kWarmupCalls; ++w) {
      PBMEM_ASSIGN_OR_RETURN(double seconds, time_step(bench, kStepOrder[s], 1));
      fastest[s] = std::min(fastest[s], seconds);
    }
  }
  fastest[0] = fastest[1] = std::min(fastest[0], fastest[1]);
  int repeats[kSteps];
  for (int s = 0; s < kSteps; ++s) {
    repeats[s] = std::max(1, static_cast<int>(std::ceil(kMinSampleSeconds / std::max(fastest[s], kTimerResolution))));
  }
  std::vector<double> samples[kSteps];
  for (int r = 0; r < runs; ++r) {
    for (int i = 0; i < kSteps; ++i) {
      const int s = (r + i) % kSteps;  // rotate which step goes first
      PBMEM_ASSIGN_OR_RETURN(double seconds, time_step(bench, kStepOrder[s], repeats[s]));
      samples[s].push_back(seconds);
    }
  }
  LayerTimes t;
  double StepTimes::*const fields[kSteps] = {&StepTimes::nhwc, &StepTimes::blocked,
                                             &StepTimes::reorder_in, &StepTimes::reorder_out};
  for (int s = 0; s < kSteps; ++s) {
    t.median.*fields[s] = median(samples[s]);
    t.best.*fields[s] = *std::min_element(samples[s].begin(), samples[s].end());
  }
  t.gflop = bench.gflop();
  t.layouts = bench.blocked().src_layout_name() + "->" + bench.blocked().dst_layout_name();
  t.impl_nhwc = bench.nhwc().implementation_name();
  t.impl_blocked = bench.blocked().implementation_name();
  return t;
}

// Layer-count-weighted sums of one network.
struct Totals {
  StepTimes sum;
  double edges = 0;  // reorder of the network's input and of its last conv's output
};

void add(const ConvLayer& l, const StepTimes& t, bool first, bool last, Totals* totals) {
  totals->sum.nhwc += l.count * t.nhwc;
  totals->sum.blocked += l.count * t.blocked;
  totals->sum.reorder_in += l.count * t.reorder_in;
  totals->sum.reorder_out += l.count * t.reorder_out;
  if (first) totals->edges += t.reorder_in;
  if (last) totals->edges += t.reorder_out;
}

void print_totals(const char* what, const Totals& t, double gflop) {
  const StepTimes& s = t.sum;
  const double wrapped = s.blocked + s.reorder_in + s.reorder_out;
  std::printf("  %s: NHWC %.2f ms (%.1f GFLOP/s) | blocked %.2f ms (%.1f GFLOP/s), ratio %.3f | "
              "+ edge reorders %.2f ms, ratio %.3f | + reorder in and out of every conv %.2f ms "
              "(in %.2f + out %.2f), ratio %.3f\n",
              what, s.nhwc * kMilli, gflop / s.nhwc, s.blocked * kMilli, gflop / s.blocked,
              s.blocked / s.nhwc, (s.blocked + t.edges) * kMilli, (s.blocked + t.edges) / s.nhwc,
              wrapped * kMilli, s.reorder_in * kMilli, s.reorder_out * kMilli, wrapped / s.nhwc);
}

Status run_network(const Network& net, int64_t batch, int runs, int threads) {
  std::printf("\n## %s, batch %lld, %d threads, %d interleaved runs (us per call: median; "
              "ratios: median and best run)\n\n",
              net.name, static_cast<long long>(batch), threads, runs);
  std::printf("| layer | n | GFLOP | NHWC | blocked | ratio | ratio (best) | reorder in | "
              "reorder out | blocked layout | impl NHWC / blocked |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|\n");
  Totals by_median, by_best;
  double total_gflop = 0;
  int convs = 0;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const ConvLayer& l = net.layers[i];
    Result<LayerTimes> measured = measure(l, batch, runs);
    if (!measured.ok()) {
      return pbmem::internal_error(net.name, " ", describe(l), ": ", measured.status().message());
    }
    const LayerTimes& t = measured.value();
    const StepTimes& m = t.median;
    std::printf("| %s | %d | %.3f | %.1f | %.1f | %.3f | %.3f | %.1f | %.1f | %s | %s / %s |\n",
                describe(l).c_str(), l.count, t.gflop, m.nhwc * kMicro, m.blocked * kMicro,
                m.blocked / m.nhwc, t.best.blocked / t.best.nhwc, m.reorder_in * kMicro,
                m.reorder_out * kMicro, t.layouts.c_str(), t.impl_nhwc.c_str(), t.impl_blocked.c_str());
    std::fflush(stdout);
    const bool first = i == 0, last = i + 1 == net.layers.size();
    add(l, t.median, first, last, &by_median);
    add(l, t.best, first, last, &by_best);
    total_gflop += l.count * t.gflop;
    convs += l.count;
  }
  std::printf("\n%s batch %lld, %d convs, %.2f GFLOP, weighted by layer counts:\n", net.name,
              static_cast<long long>(batch), convs, total_gflop);
  print_totals("median", by_median, total_gflop);
  print_totals("best  ", by_best, total_gflop);
  std::fflush(stdout);
  return pbmem::ok_status();
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find(',', begin), text.size());
    if (end > begin) parts.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

bool parse_positive(const char* text, long* value) {
  char* end = nullptr;
  *value = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && *value >= 1;
}

int usage() {
  std::fprintf(stderr, "usage: pbmem_conv_layouts [--runs N] [--threads N] [--batches 1,16] "
                       "[--nets resnet50,mobilenet_v2]\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = kDefaultRuns, threads = kDefaultThreads;
  std::vector<long> batches = {1, 16};
  std::vector<std::string> nets = {"resnet50", "mobilenet_v2"};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (flag == "--runs") {
      if (!parse_positive(value, &runs)) return usage();
    } else if (flag == "--threads") {
      if (!parse_positive(value, &threads)) return usage();
    } else if (flag == "--batches") {
      batches.clear();
      for (const std::string& b : split(value)) {
        long batch = 0;
        if (!parse_positive(b.c_str(), &batch)) return usage();
        batches.push_back(batch);
      }
    } else if (flag == "--nets") {
      nets = split(value);
    } else {
      return usage();
    }
  }
#ifdef _OPENMP
  omp_set_num_threads(static_cast<int>(threads));
#endif
  for (const std::string& name : nets) {
    Network net;
    if (name == "resnet50") {
      net = resnet50();
    } else if (name == "mobilenet_v2") {
      net = mobilenet_v2();
    } else {
      std::fprintf(stderr, "pbmem_conv_layouts: unknown net %s (resnet50, mobilenet_v2)\n", name.c_str());
      return 1;
    }
    for (long batch : batches) {
      Status status = run_network(net, batch, static_cast<int>(runs), static_cast<int>(threads));
      if (!status.ok()) {
        std::fprintf(stderr, "pbmem_conv_layouts: error: %s\n", status.message().c_str());
        return 1;
      }
    }
  }
  return 0;
}

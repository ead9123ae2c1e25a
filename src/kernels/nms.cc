// Non-max suppression with static output shapes, following TF's CPU kernels
// (non_max_suppression_op.cc) step by step so that ties resolve the same way:
//   NonMaxSuppressionV4/V5(boxes [n, 4], scores [n], max_output_size, iou_threshold,
//     score_threshold[, soft_nms_sigma]) with pad_to_max_output_size = true:
//     selected_indices [max_output_size] (zero-padded), [selected_scores,] valid_outputs.
//     Candidates (score > score_threshold) leave a heap best score first, equal scores by lower
//     index; one is kept when its IoU with every kept box (newest first) is <= iou_threshold.
//   CombinedNonMaxSuppression(boxes [b, n, q, 4], scores [b, n, classes],
//   max_output_size_per_class,
//     max_total_size, iou_threshold, score_threshold; pad_per_class, clip_boxes):
//     per batch and class the same selection (its heap compares scores only, as TF's), then all
//     classes' picks sorted by score (TF's unstable std::sort on the same layout), clipped to
//     [0, 1] with clip_boxes, padded with zeros to [b, max_detections].
// IoU takes each box's corners in either order (min/max per axis); an empty box overlaps
// nothing. The sizes decide the output shapes, so they must be constant; boxes, scores and the
// thresholds may be fed. Soft-NMS (soft_nms_sigma > 0) and the unpadded V3 (whose output length
// depends on the data) are not supported.
#include <algorithm>

#include "kernels/array_helpers.h"

namespace pbmem {
namespace array_detail {
namespace {

// TF's IOU over two boxes of 4 floats each.
float iou(const float* a, const float* b) {
  const float ymin_a = std::min(a[0], a[2]), xmin_a = std::min(a[1], a[3]);
  const float ymax_a = std::max(a[0], a[2]), xmax_a = std::max(a[1], a[3]);
  const float ymin_b = std::min(b[0], b[2]), xmin_b = std::min(b[1], b[3]);
  const float ymax_b = std::max(b[0], b[2]), xmax_b = std::max(b[1], b[3]);
  const float area_a = (ymax_a - ymin_a) * (xmax_a - xmin_a);
  const float area_b = (ymax_b - ymin_b) * (xmax_b - xmin_b);
  if (area_a <= 0 || area_b <= 0) return 0.0f;
  const float ih = std::max(std::min(ymax_a, ymax_b) - std::max(ymin_a, ymin_b), 0.0f);
  const float iw = std::max(std::min(xmax_a, xmax_b) - std::max(xmin_a, xmin_b), 0.0f);
  const float intersection = ih * iw;
  return intersection / (area_a + area_b - intersection);
}

struct Candidate {
  int index;
  float score;
};

// A std::priority_queue over a vector the kernel reserved at prepare (so run() never
// allocates): the same push_heap/pop_heap calls, hence the same order among equal keys.
template <typename Less>
class CandidateHeap {
 public:
  void reset(std::vector<Candidate>* storage) {
    c_ = storage;
    c_->clear();
  }
  void push(Candidate x) {
    c_->push_back(x);
    std::push_heap(c_->begin(), c_->end(), Less());
  }
  bool empty() const { return c_->empty(); }
  Candidate pop() {
    std::pop_heap(c_->begin(), c_->end(), Less());
    const Candidate top = c_->back();
    c_->pop_back();
    return top;
  }

 private:
  std::vector<Candidate>* c_ = nullptr;
};

struct ScoreThenIndexLess {  // V4's order: best score first, then lower index
  bool operator()(const Candidate& a, const Candidate& b) const {
    return (a.score == b.score && a.index > b.index) || a.score < b.score;
  }
};
struct ScoreLess {  // CombinedNonMaxSuppression's order: scores only
  bool operator()(const Candidate& a, const Candidate& b) const { return a.score < b.score; }
};

// Reads a scalar input of the given dtype; errors name the input.
Result<float> scalar_float(const Node& node, const Tensor& t, int index, const char* name) {
  if (t.num_elements() != 1)
    return node.error("input ", index, " '", name, "' must be a scalar, got shape ",
                      t.shape().str());
  return t.data<float>()[0];
}

// The iou_threshold input (checked to be in [0, 1], as TF does) and the score_threshold after it.
struct Thresholds {
  float iou = 0;
  float score = 0;
};
Result<Thresholds> read_thresholds(const RunContext& ctx, int iou_input) {
  Thresholds t;
  PBMEM_ASSIGN_OR_RETURN(
      t.iou, scalar_float(ctx.node(), ctx.input(iou_input), iou_input, "iou_threshold"));
  PBMEM_ASSIGN_OR_RETURN(t.score, scalar_float(ctx.node(), ctx.input(iou_input + 1), iou_input + 1,
                                               "score_threshold"));
  if (!(t.iou >= 0 && t.iou <= 1)) {
    return invalid_argument(ctx.node().describe(), ": iou_threshold must be in [0, 1], got ",
                            t.iou);
  }
  return t;
}

// The value of a constant int32 scalar input that decides an output shape, or kUnknownDim.
Result<int64_t> size_input(const InferContext& ctx, int index, const char* name, int64_t min) {
  if (ctx.input_dtype(index) != DType::kInt32) {
    return ctx.error("input ", index, " '", name, "' must be int32, got ",
                     dtype_name(ctx.input_dtype(index)));
  }
  PBMEM_RETURN_IF_ERROR(expect_rank(ctx, index, name, 0));
  PBMEM_ASSIGN_OR_RETURN(const Tensor* t, shape_input(ctx, index, name));
  if (t == nullptr) return kUnknownDim;
  PBMEM_ASSIGN_OR_RETURN(int64_t v, read_int_scalar(ctx.node(), *t, index, name));
  if (v < min) return ctx.error("input ", index, " '", name, "' must be >= ", min, ", got ", v);
  return v;
}

Status expect_float_inputs(const InferContext& ctx, int first, int last) {
  for (int i = first; i < last; ++i) {
    if (ctx.input_dtype(i) != DType::kFloat) {
      return ctx.unsupported("input ", i, " must be float, got ", dtype_name(ctx.input_dtype(i)));
    }
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
class NonMaxSuppressionKernel : public Kernel {
 public:
  explicit NonMaxSuppressionKernel(bool v5) : v5_(v5) {}

  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(v5_ ? 6 : 5, v5_ ? 6 : 5));
    PBMEM_ASSIGN_OR_RETURN(bool pad, ctx.node().attr_bool_or("pad_to_max_output_size", false));
    if (!pad) {
      return ctx.unsupported(
          "attribute 'pad_to_max_output_size' must be true: without padding the ",
          "output length depends on the data, and pbmem plans shapes statically");
    }
    PBMEM_RETURN_IF_ERROR(expect_float_inputs(ctx, 0, 2));
    PBMEM_RETURN_IF_ERROR(expect_float_inputs(ctx, 3, v5_ ? 6 : 5));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "boxes", 2));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "scores", 1));
    for (int i = 3; i < ctx.num_inputs(); ++i)
      PBMEM_RETURN_IF_ERROR(expect_rank(ctx, i, "threshold", 0));
    const Shape& boxes = ctx.input_shape(0);
    const Shape& scores = ctx.input_shape(1);
    int64_t n = 0;
    if ((boxes.known_rank() && boxes.dim(1) != kUnknownDim && boxes.dim(1) != 4) ||
        !merge_dim(boxes.known_rank() ? boxes.dim(0) : kUnknownDim,
                   scores.known_rank() ? scores.dim(0) : kUnknownDim, &n)) {
      return ctx.error(
          "input 0 'boxes' must be [num_boxes, 4] and input 1 'scores' [num_boxes], got ",
          boxes.str(), " and ", scores.str());
    }
    PBMEM_ASSIGN_OR_RETURN(max_output_, size_input(ctx, 2, "max_output_size", 0));
    if (ctx.concrete()) {
      candidates_.reserve(static_cast<size_t>(n));
      selected_.reserve(static_cast<size_t>(std::min(n, max_output_)));
    }
    ctx.set_output(0, DType::kInt32, Shape({max_output_}));
    int next = 1;
    if (v5_) ctx.set_output(next++, DType::kFloat, Shape({max_output_}));
    ctx.set_output(next, DType::kInt32, Shape());
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    const Node& node = ctx.node();
    PBMEM_ASSIGN_OR_RETURN(Thresholds t, read_thresholds(ctx, 3));
    if (v5_) {
      PBMEM_ASSIGN_OR_RETURN(float sigma, scalar_float(node, ctx.input(5), 5, "soft_nms_sigma"));
      if (sigma != 0)
        return node.unsupported("soft_nms_sigma = ", sigma, " (soft-NMS) is not supported, only 0");
    }
    const float* boxes = ctx.input(0).data<float>();
    const float* scores = ctx.input(1).data<float>();
    const int n = static_cast<int>(ctx.input(1).num_elements());
    CandidateHeap<ScoreThenIndexLess> heap;
    heap.reset(&candidates_);
    for (int i = 0; i < n; ++i) {
      if (scores[i] > t.score) heap.push({i, scores[i]});
    }
    selected_.clear();
    while (static_cast<int64_t>(selected_.size()) < max_output_ && !heap.empty()) {
      const Candidate next = heap.pop();
      bool keep = true;
      for (size_t j = selected_.size(); keep && j-- > 0;) {
        keep = !(iou(boxes + next.index * 4, boxes + selected_[j].index * 4) > t.iou);
      }
      if (keep) selected_.push_back(next);
    }
    int32_t* indices = ctx.output(0).data<int32_t>();
    std::fill(indices, indices + max_output_, 0);
    for (size_t j = 0; j < selected_.size(); ++j) indices[j] = selected_[j].index;
    if (v5_) {
      float* out_scores = ctx.output(1).data<float>();
      std::fill(out_scores, out_scores + max_output_, 0.0f);
      for (size_t j = 0; j < selected_.size(); ++j) out_scores[j] = selected_[j].score;
    }
    ctx.output(v5_ ? 2 : 1).data<int32_t>()[0] = static_cast<int32_t>(selected_.size());
    return ok_status();
  }

 private:
  bool v5_;
  int64_t max_output_ = kUnknownDim;
  std::vector<Candidate> candidates_;  // reserved at prepare
  std::vector<Candidate> selected_;
};

template <bool kV5>
std::unique_ptr<Kernel> make_nms() {
  return std::make_unique<NonMaxSuppressionKernel>(kV5);
}

// ---------------------------------------------------------------------------------------------
// One class's pick (TF's ResultCandidate); unused slots keep index -1 and score -1.
struct Pick {
  int index = -1;
  float score = -1.0f;
  int class_index = -1;
  float box[4] = {0, 0, 0, 0};
};

class CombinedNmsKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_RETURN_IF_ERROR(ctx.expect_inputs(6, 6));
    PBMEM_ASSIGN_OR_RETURN(pad_per_class_, ctx.node().attr_bool_or("pad_per_class", false));
    PBMEM_ASSIGN_OR_RETURN(clip_boxes_, ctx.node().attr_bool_or("clip_boxes", true));
    PBMEM_RETURN_IF_ERROR(expect_float_inputs(ctx, 0, 2));
    PBMEM_RETURN_IF_ERROR(expect_float_inputs(ctx, 4, 6));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 0, "boxes", 4));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 1, "scores", 3));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 4, "iou_threshold", 0));
    PBMEM_RETURN_IF_ERROR(expect_rank(ctx, 5, "score_threshold", 0));
    PBMEM_ASSIGN_OR_RETURN(per_class_, size_input(ctx, 2, "max_output_size_per_class", 1));
    PBMEM_ASSIGN_OR_RETURN(max_total_, size_input(ctx, 3, "max_total_size", 1));
    const Shape& boxes = ctx.input_shape(0);
    const Shape& scores = ctx.input_shape(1);
    const auto dim = [](const Shape& s, int d) { return s.known_rank() ? s.dim(d) : kUnknownDim; };
    int64_t batch = 0, n = 0;
    const int64_t classes = dim(scores, 2), q = dim(boxes, 2);
    if (!merge_dim(dim(boxes, 0), dim(scores, 0), &batch) ||
        !merge_dim(dim(boxes, 1), dim(scores, 1), &n) ||
        (dim(boxes, 3) != kUnknownDim && dim(boxes, 3) != 4) ||
        (q != kUnknownDim && classes != kUnknownDim && q != 1 && q != classes)) {
      return ctx.error(
          "input 0 'boxes' must be [batch, num_boxes, 1 or num_classes, 4] and input 1 ",
          "'scores' [batch, num_boxes, num_classes], got ", boxes.str(), " and ", scores.str());
    }
    int64_t per_batch = max_total_;
    if (pad_per_class_ && per_batch != kUnknownDim) {
      per_batch = per_class_ == kUnknownDim || classes == kUnknownDim
                      ? kUnknownDim
                      : std::min(max_total_, per_class_ * classes);
    }
    if (ctx.concrete()) {
      per_batch_ = per_batch;
      size_per_class_ = std::min(per_class_, n);
      heap_.reserve(static_cast<size_t>(n));
      selected_.reserve(static_cast<size_t>(size_per_class_));
      picks_.resize(static_cast<size_t>(size_per_class_ * classes));
    }
    ctx.set_output(0, DType::kFloat, Shape({batch, per_batch, 4}));
    ctx.set_output(1, DType::kFloat, Shape({batch, per_batch}));
    ctx.set_output(2, DType::kFloat, Shape({batch, per_batch}));
    ctx.set_output(3, DType::kInt32, Shape({batch}));
    return ok_status();
  }

  Status run(RunContext& ctx) override {
    PBMEM_ASSIGN_OR_RETURN(Thresholds t, read_thresholds(ctx, 4));
    const Shape& scores = ctx.input(1).shape();
    const int64_t batches = scores.dim(0), n = scores.dim(1), classes = scores.dim(2);
    const int64_t q = ctx.input(0).shape().dim(2);
    for (int64_t b = 0; b < batches; ++b) {
      std::fill(picks_.begin(), picks_.end(), Pick{});
      for (int64_t c = 0; c < classes; ++c) {
        select_class(ctx.input(0).data<float>() + b * n * q * 4,
                     ctx.input(1).data<float>() + b * n * classes, static_cast<int>(c), n, q,
                     classes, t);
      }
      write_batch(ctx, b);
    }
    return ok_status();
  }

 private:
  // TF's DoNMSPerClass: class c's picks fill picks_[c * size_per_class_ ...] best first.
  void select_class(const float* boxes, const float* scores, int c, int64_t n, int64_t q,
                    int64_t classes, const Thresholds& t) {
    CandidateHeap<ScoreLess> heap;
    heap.reset(&heap_);
    for (int64_t i = 0; i < n; ++i) {
      const float score = scores[i * classes + c];
      if (score > t.score) heap.push({static_cast<int>(i), score});
    }
    const int64_t box_class = q > 1 ? c : 0;
    selected_.clear();
    while (static_cast<int64_t>(selected_.size()) < size_per_class_ && !heap.empty()) {
      const Candidate next = heap.pop();
      const float* box = boxes + (next.index * q + box_class) * 4;
      bool keep = true;
      for (size_t j = selected_.size(); keep && j-- > 0;) {
        keep = !(iou(box, boxes + (selected_[j] * q + box_class) * 4) > t.iou);
      }
      if (!keep) continue;
      Pick& pick = picks_[static_cast<size_t>(c * size_per_class_) + selected_.size()];
      pick.index = next.index;
      pick.score = next.score;
      pick.class_index = c;
      std::copy(box, box + 4, pick.box);
      selected_.push_back(next.index);
    }
  }

  // TF's SelectResultPerBatch: every class's picks by score (its unstable sort), the first
  // min(valid picks, limit) written, the rest zeros.
  void write_batch(RunContext& ctx, int64_t b) {
    std::sort(picks_.begin(), picks_.end(),
              [](const Pick& x, const Pick& y) { return x.score > y.score; });
    const int64_t valid =
        std::count_if(picks_.begin(), picks_.end(), [](const Pick& p) { return p.index > -1; });
    const int64_t count = std::min(valid, per_batch_);
    float* boxes = ctx.output(0).data<float>() + b * per_batch_ * 4;
    float* scores = ctx.output(1).data<float>() + b * per_batch_;
    float* classes = ctx.output(2).data<float>() + b * per_batch_;
    std::fill(boxes, boxes + per_batch_ * 4, 0.0f);
    std::fill(scores, scores + per_batch_, 0.0f);
    std::fill(classes, classes + per_batch_, 0.0f);
    for (int64_t j = 0; j < count; ++j) {
      const Pick& pick = picks_[static_cast<size_t>(j)];
      for (int k = 0; k < 4; ++k)
        boxes[j * 4 + k] = clip_boxes_ ? std::max(std::min(pick.box[k], 1.0f), 0.0f) : pick.box[k];
      scores[j] = pick.score;
      classes[j] = static_cast<float>(pick.class_index);
    }
    ctx.output(3).data<int32_t>()[b] = static_cast<int32_t>(count);
  }

  bool pad_per_class_ = false;
  bool clip_boxes_ = true;
  int64_t per_class_ = kUnknownDim;
  int64_t max_total_ = kUnknownDim;
  int64_t per_batch_ = 0;        // output rows per batch
  int64_t size_per_class_ = 0;   // min(per_class_, num_boxes)
  std::vector<Candidate> heap_;  // reserved at prepare, so run() never allocates
  std::vector<int> selected_;
  std::vector<Pick> picks_;
};

}  // namespace

Status register_nms_ops(OpRegistry& registry) {
  return registry.add_all({
      // TF's output arg names, which function bodies use ("nms:valid_outputs:0").
      {"NonMaxSuppressionV4",
       op_record(make_nms<false>).output_args({"selected_indices", "valid_outputs"})},
      {"NonMaxSuppressionV5",
       op_record(make_nms<true>).output_args(
           {"selected_indices", "selected_scores", "valid_outputs"})},
      {"CombinedNonMaxSuppression",
       op_record<CombinedNmsKernel>().output_args(
           {"nmsed_boxes", "nmsed_scores", "nmsed_classes", "valid_detections"})},
  });
}

}  // namespace array_detail
}  // namespace pbmem

// Einsum(inputs; equation, N, T): the contractions Keras' MultiHeadAttention/EinsumDense and
// BERT-style code emit ("abc,cd->abd", "aecd,abcd->acbe", "acbe,aecd->abcd", "abc,cde->abde",
// "...ij,...jk->...ik", ...), computed as one batched matmul on oneDNN:
//   labels in both inputs and the output are batch dims, in both inputs only contracted (K), in
//   one input and the output free (M for input 0, N for input 1).
// Each input is used in place when its labels are already in [batch, M, K] / [batch, K, M]
// order (input 1: [batch, K, N] / [batch, N, K]), else copied into that order in scratch; the
// [batch, M, N] product is permuted into the output's label order the same way. One input must
// be a permutation of the output ("ij->ji"). Ellipsis dims broadcast (NumPy style) between the
// two inputs. Not supported, with an error naming the equation: a label repeated within one
// term (diagonals), and a label summed away from a single input.
#include <algorithm>
#include <map>
#include <string>

#include "kernels/array_helpers.h"
#include "kernels/dnnl_adapter.h"

namespace pbmem {
namespace {

namespace dnnl = dnnl_adapter;
using array_detail::CopyPlan;

// Letters are labels 0..51; ellipsis dim p counted from the ellipsis' end is kEllipsis + p, so
// ellipsis dims of different terms align from the right, as in NumPy broadcasting.
constexpr int kEllipsis = 1000;
constexpr int kNoEllipsis = -1;

struct Term {
  std::vector<int> letters;    // labels before expanding the ellipsis
  int ellipsis = kNoEllipsis;  // position of "..." in `letters`
};

int letter_label(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

// The term's labels for an operand of `rank` dims (ellipsis_rank dims for the ellipsis).
std::vector<int> expand(const Term& term, int ellipsis_rank) {
  std::vector<int> labels;
  for (size_t i = 0; i <= term.letters.size(); ++i) {
    if (static_cast<int>(i) == term.ellipsis) {
      for (int p = ellipsis_rank - 1; p >= 0; --p) labels.push_back(kEllipsis + p);
    }
    if (i < term.letters.size()) labels.push_back(term.letters[i]);
  }
  return labels;
}

size_t aligned(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// A CopyPlan moving a row-major tensor with labels `from` and dims `dims` into label order `to`.
CopyPlan permute_plan(const std::vector<int>& from, const std::vector<int64_t>& dims,
                      const std::vector<int>& to) {
  const std::vector<int64_t> in_strides = array_detail::row_major_strides(dims);
  CopyPlan plan;
  for (int label : to) {
    const size_t at =
        static_cast<size_t>(std::find(from.begin(), from.end(), label) - from.begin());
    plan.count.push_back(dims[at]);
    plan.in_stride.push_back(in_strides[at]);
  }
  plan.out_stride = array_detail::row_major_strides(plan.count);
  return array_detail::make_copy_plan(plan);
}

// Where one operand's bytes come from at run time.
struct OperandPlan {
  bool copy = false;  // else used in place
  CopyPlan plan;
  size_t offset = 0;  // of the copy in scratch
};

class EinsumKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    PBMEM_ASSIGN_OR_RETURN(equation_, ctx.node().attr_string("equation"));
    PBMEM_ASSIGN_OR_RETURN(DType t, ctx.node().attr_type_or("T", DType::kFloat));
    if (t != DType::kFloat)
      return ctx.unsupported("attribute 'T' is ", dtype_name(t), "; only float is supported");
    PBMEM_RETURN_IF_ERROR(parse(ctx));
    PBMEM_RETURN_IF_ERROR(
        ctx.expect_inputs(static_cast<int>(terms_.size()), static_cast<int>(terms_.size())));
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.input_dtype(i) != DType::kFloat)
        return ctx.unsupported("input ", i, " must be float, got ", dtype_name(ctx.input_dtype(i)));
      if (!ctx.input_shape(i).known_rank()) {
        ctx.set_output(0, DType::kFloat, Shape::unknown_rank());
        return ok_status();
      }
    }
    PBMEM_RETURN_IF_ERROR(label_operands(ctx));
    PBMEM_ASSIGN_OR_RETURN(sizes_, label_sizes(ctx));
    std::vector<int64_t> out;
    for (int label : out_labels_) out.push_back(sizes_[label]);
    if (ctx.concrete()) {
      PBMEM_RETURN_IF_ERROR(
          array_detail::on_node(ctx.node(), Shape(out).num_bytes(DType::kFloat).status()));
    }
    ctx.set_output(0, DType::kFloat, Shape(out));
    return ok_status();
  }

  Status prepare(const InferContext& ctx) override;
  size_t scratch_bytes() const override { return scratch_; }
  Status run(RunContext& ctx) override;

 private:
  template <typename... Args>
  Status equation_error(const InferContext& ctx, const Args&... args) const {
    return ctx.unsupported("equation '", equation_, "': ", args...);
  }

  Status parse(const InferContext& ctx);
  Status label_operands(const InferContext& ctx);
  Result<std::map<int, int64_t>> label_sizes(const InferContext& ctx) const;
  Status prepare_matmul(const InferContext& ctx);

  std::string equation_;
  std::vector<Term> terms_;
  Term out_term_;
  std::vector<std::vector<int>> labels_;  // per input, expanded
  std::vector<int> out_labels_;
  std::map<int, int64_t> sizes_;
  // prepare(): the operands, the product, and how they move.
  OperandPlan a_, b_, product_;
  std::unique_ptr<dnnl::DnnlOp> dnnl_;
  bool zero_fill_ = false;
  size_t scratch_ = 0;
  Shape prepared_out_ = Shape::unknown_rank();
};

Status EinsumKernel::parse(const InferContext& ctx) {
  std::string eq;
  for (char c : equation_) {
    if (c != ' ') eq += c;
  }
  const size_t arrow = eq.find("->");
  if (arrow == std::string::npos || eq.find("->", arrow + 2) != std::string::npos) {
    return ctx.error("equation '", equation_, "' must contain '->' exactly once");
  }
  terms_.clear();
  std::vector<std::string> texts;
  size_t start = 0;
  for (size_t comma = eq.find(','); start <= arrow; comma = eq.find(',', start)) {
    const size_t end = std::min(comma, arrow);
    texts.push_back(eq.substr(start, end - start));
    start = end + 1;
  }
  texts.push_back(eq.substr(arrow + 2));
  if (texts.size() < 2 || texts.size() > 3) {
    return equation_error(ctx, "only one or two inputs are supported, got ", texts.size() - 1);
  }
  for (size_t t = 0; t < texts.size(); ++t) {
    Term term;
    const std::string& s = texts[t];
    for (size_t i = 0; i < s.size(); ++i) {
      if (s.compare(i, 3, "...") == 0 && term.ellipsis == kNoEllipsis) {
        term.ellipsis = static_cast<int>(term.letters.size());
        i += 2;
        continue;
      }
      const int label = letter_label(s[i]);
      if (label < 0)
        return ctx.error("equation '", equation_, "' has an invalid character '", s[i], "'");
      if (std::count(term.letters.begin(), term.letters.end(), label) > 0) {
        return equation_error(ctx, "label '", s[i], "' repeats within term '", s,
                              "' (diagonals are not supported)");
      }
      term.letters.push_back(label);
    }
    if (t + 1 == texts.size()) {
      out_term_ = term;
    } else {
      terms_.push_back(term);
    }
  }
  return ok_status();
}

// Expands each term's ellipsis against its input's rank; checks every label's role.
Status EinsumKernel::label_operands(const InferContext& ctx) {
  labels_.clear();
  int ellipsis_rank = 0;
  for (size_t i = 0; i < terms_.size(); ++i) {
    const Term& term = terms_[i];
    const int rank = ctx.input_shape(static_cast<int>(i)).rank();
    const int named = static_cast<int>(term.letters.size());
    if (rank < named || (term.ellipsis == kNoEllipsis && rank != named)) {
      return ctx.error("equation '", equation_, "': input ", i, " has shape ",
                       ctx.input_shape(static_cast<int>(i)).str(), ", but its term names ", named,
                       " dims");
    }
    const int e = term.ellipsis == kNoEllipsis ? 0 : rank - named;
    ellipsis_rank = std::max(ellipsis_rank, e);
    labels_.push_back(expand(term, e));
  }
  out_labels_ = expand(out_term_, out_term_.ellipsis == kNoEllipsis ? 0 : ellipsis_rank);
  for (int label : out_labels_) {
    bool found = false;
    for (const auto& in : labels_) found = found || std::count(in.begin(), in.end(), label) > 0;
    if (!found) return ctx.error("equation '", equation_, "': an output label is in no input");
  }
  for (size_t i = 0; i < labels_.size(); ++i) {
    for (int label : labels_[i]) {
      const bool in_out = std::count(out_labels_.begin(), out_labels_.end(), label) > 0;
      const bool in_other = labels_.size() == 2 &&
                            std::count(labels_[1 - i].begin(), labels_[1 - i].end(), label) > 0;
      if (!in_out && !in_other) {
        return equation_error(ctx, "a label of input ", i,
                              " is summed away on its own (not supported)");
      }
    }
  }
  return ok_status();
}

// Each label's size: equal wherever it appears; ellipsis dims of size 1 broadcast.
Result<std::map<int, int64_t>> EinsumKernel::label_sizes(const InferContext& ctx) const {
  std::map<int, int64_t> sizes;
  for (size_t i = 0; i < labels_.size(); ++i) {
    const Shape& shape = ctx.input_shape(static_cast<int>(i));
    for (size_t d = 0; d < labels_[i].size(); ++d) {
      const int label = labels_[i][d];
      const int64_t dim = shape.dim(static_cast<int>(d));
      auto [it, inserted] = sizes.emplace(label, dim);
      if (inserted) continue;
      int64_t merged = 0;
      if (label >= kEllipsis && (it->second == 1 || dim == 1)) {
        it->second = it->second == 1 ? dim : it->second;
      } else if (!array_detail::merge_dim(it->second, dim, &merged)) {
        return ctx.error("equation '", equation_, "': a label has size ", it->second,
                         " in one input and ", dim, " in input ", i);
      } else {
        it->second = merged;
      }
    }
  }
  return sizes;
}

Status EinsumKernel::prepare(const InferContext& ctx) {
  dnnl_.reset();
  a_ = b_ = product_ = OperandPlan{};
  zero_fill_ = false;
  scratch_ = 0;
  prepared_out_ = ctx.outputs()[0].shape;
  if (terms_.size() == 1) {
    // A permutation: every input label is an output label.
    a_.copy = true;
    a_.plan = permute_plan(labels_[0], ctx.input_shape(0).dims(), out_labels_);
    return ok_status();
  }
  return prepare_matmul(ctx);
}

// Labels in `labels` that pass `keep`, in that order.
template <typename Keep>
std::vector<int> labels_where(const std::vector<int>& labels, Keep keep) {
  std::vector<int> out;
  for (int label : labels) {
    if (keep(label)) out.push_back(label);
  }
  return out;
}

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b, const std::vector<int>& c) {
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

Status EinsumKernel::prepare_matmul(const InferContext& ctx) {
  const std::vector<int>& la = labels_[0];
  const std::vector<int>& lb = labels_[1];
  auto in = [](const std::vector<int>& v, int label) {
    return std::count(v.begin(), v.end(), label) > 0;
  };
  const std::vector<int> batch =
      labels_where(out_labels_, [&](int l) { return in(la, l) && in(lb, l); });
  const std::vector<int> m_labels =
      labels_where(out_labels_, [&](int l) { return in(la, l) && !in(lb, l); });
  const std::vector<int> n_labels =
      labels_where(out_labels_, [&](int l) { return in(lb, l) && !in(la, l); });
  const std::vector<int> k_labels =
      labels_where(la, [&](int l) { return in(lb, l) && !in(out_labels_, l); });
  auto product_of = [&](const std::vector<int>& labels) {
    int64_t p = 1;
    for (int l : labels) p *= sizes_[l];
    return p;
  };
  dnnl::MatMulParams params;
  params.m = product_of(m_labels);
  params.k = product_of(k_labels);
  params.n = product_of(n_labels);
  const Shape& out = prepared_out_;
  if (out.num_elements_unchecked() == 0) return ok_status();
  if (params.k == 0 || ctx.input_shape(0).num_elements_unchecked() == 0 ||
      ctx.input_shape(1).num_elements_unchecked() == 0) {
    zero_fill_ = true;  // every output is an empty sum
    return ok_status();
  }
  // Batch dims per operand (a 1 broadcasts); one merged dim when both sides agree.
  const Shape& sa = ctx.input_shape(0);
  const Shape& sb = ctx.input_shape(1);
  bool same = true;
  for (int l : batch) {
    const int64_t da = sa.dim(static_cast<int>(std::find(la.begin(), la.end(), l) - la.begin()));
    const int64_t db = sb.dim(static_cast<int>(std::find(lb.begin(), lb.end(), l) - lb.begin()));
    params.batch_a.push_back(da);
    params.batch_b.push_back(db);
    same = same && da == db;
  }
  if (same) {
    const int64_t total = product_of(batch);
    params.batch_a.assign(total > 1 ? 1 : 0, total);
    params.batch_b = params.batch_a;
  } else if (static_cast<int>(batch.size()) + 2 > dnnl::max_matmul_rank()) {
    return equation_error(ctx, "more than ", dnnl::max_matmul_rank() - 2, " broadcast batch dims");
  }
  size_t offset = 0;
  auto place = [&](OperandPlan& op, const std::vector<int>& from, const std::vector<int64_t>& dims,
                   const std::vector<int>& want, const std::vector<int>& transposed,
                   bool* transpose) {
    *transpose = from != want && from == transposed;
    if (from == want || from == transposed) return;
    op.copy = true;
    op.plan = permute_plan(from, dims, want);
    op.offset = offset;
    offset += aligned(static_cast<size_t>(op.plan.total) * sizeof(float));
  };
  place(a_, la, sa.dims(), concat(batch, m_labels, k_labels), concat(batch, k_labels, m_labels),
        &params.transpose_a);
  place(b_, lb, sb.dims(), concat(batch, k_labels, n_labels), concat(batch, n_labels, k_labels),
        &params.transpose_b);
  const std::vector<int> product_labels = concat(batch, m_labels, n_labels);
  if (product_labels != out_labels_) {
    std::vector<int64_t> dims;
    for (int l : product_labels) dims.push_back(sizes_[l]);
    product_.copy = true;
    product_.plan = permute_plan(product_labels, dims, out_labels_);
    product_.offset = offset;
    offset += aligned(static_cast<size_t>(product_.plan.total) * sizeof(float));
  }
  Result<std::unique_ptr<dnnl::DnnlOp>> op = dnnl::make_matmul(params);
  if (!op.ok())
    return op.status().with_context(ctx.node().describe() + " (equation '" + equation_ + "')");
  dnnl_ = std::move(op).value();
  // Our buffers follow oneDNN's scratch.
  const size_t base = aligned(dnnl_->scratch_bytes());
  for (OperandPlan* p : {&a_, &b_, &product_}) p->offset += base;
  scratch_ = base + offset;
  return ok_status();
}

Status EinsumKernel::run(RunContext& ctx) {
  if (ctx.output(0).shape() != prepared_out_) {
    return ctx.error("output shape ", ctx.output(0).shape().str(), " differs from the prepared ",
                     prepared_out_.str());
  }
  auto* scratch = static_cast<uint8_t*>(ctx.scratch());
  float* out = ctx.output(0).data<float>();
  if (terms_.size() == 1) {
    array_detail::run_copy_plan(a_.plan, ctx.input(0).raw_data(), out, sizeof(float));
    return ok_status();
  }
  if (zero_fill_) std::fill(out, out + ctx.output(0).num_elements(), 0.0f);
  if (!dnnl_) return ok_status();
  const void* operand[2];
  const OperandPlan* plans[2] = {&a_, &b_};
  for (int i = 0; i < 2; ++i) {
    operand[i] = ctx.input(i).raw_data();
    if (!plans[i]->copy) continue;
    array_detail::run_copy_plan(plans[i]->plan, operand[i], scratch + plans[i]->offset,
                                sizeof(float));
    operand[i] = scratch + plans[i]->offset;
  }
  PBMEM_RETURN_IF_ERROR(dnnl_->bind_weights(operand[1]));
  dnnl::RunBuffers buffers;
  buffers.src = operand[0];
  buffers.dst = product_.copy ? scratch + product_.offset : static_cast<void*>(out);
  buffers.scratch = scratch;
  Status status = dnnl_->run(buffers);
  if (!status.ok()) return status.with_context(ctx.node().describe());
  if (product_.copy) array_detail::run_copy_plan(product_.plan, buffers.dst, out, sizeof(float));
  return ok_status();
}

}  // namespace

Status register_einsum_ops(OpRegistry& registry) {
  return registry.add_all({
      {"Einsum", op_record<EinsumKernel>()},
  });
}

}  // namespace pbmem

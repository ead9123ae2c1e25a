// Epilogue fusion (see fusion.h): finds producer -> affine* -> activation* chains on the
// load-time shapes and constants, and hands each chain to its producer's kernel.
#include "runtime/fusion.h"

#include "kernels/epilogue.h"

#include <cstdint>
#include <optional>
#include <string>

#include "graph/mapped_file.h"

namespace pbmem {

namespace {

// Computes nothing: a neighbour does its work. Fused into a producer, its output is the
// producer's (which holds the fused result); a Pad fused into its consumer hands its input on.
class FusedAwayKernel : public Kernel {
 public:
  // keep_inputs: the original op's infer reads its constant inputs' values (a Pad's paddings),
  // so a later re-prepare needs them: they are kept (they are tiny).
  FusedAwayKernel(std::unique_ptr<Kernel> original, int aliased, bool keep_inputs)
      : original_(std::move(original)), aliased_(aliased), keep_inputs_(keep_inputs) {}
  // Shapes and dtypes exactly as the original op would give them (and its checks).
  Status infer(InferContext& ctx) override { return original_->infer(ctx); }
  Status run(RunContext& ctx) override {
    return internal_error(ctx.node().describe(), ": fused into a neighbour, must not run");
  }
  int aliased_input() const override { return aliased_; }
  bool fused_away() const override { return true; }
  bool needs_input_at_run(int input) const override { return input == aliased_ || keep_inputs_; }

 private:
  std::unique_ptr<Kernel> original_;
  int aliased_;
  bool keep_inputs_;
};

bool is_fusion_producer(const OpRecord* record) {
  return record != nullptr && record->is_fusion_producer;
}

// The activation a producer may apply in place of `node` (its op record says which), with its
// parameter (LeakyRelu's alpha).
std::optional<ActivationKind> activation_of(const Node& node, const OpRecord* record,
                                            float* alpha) {
  *alpha = 0.0f;
  if (record == nullptr || !record->fusable_activation) return std::nullopt;
  if (*record->fusable_activation == ActivationKind::kLeakyRelu) {
    constexpr float kTfDefaultAlpha = 0.2f;
    Result<float> a = node.attr_float_or("alpha", kTfDefaultAlpha);
    if (!a.ok()) return std::nullopt;
    *alpha = *a;
  }
  return record->fusable_activation;
}

bool same_shape(const Shape& a, const Shape& b) {
  if (!a.known_rank() || !b.known_rank() || a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i) {
    if (a.dim(i) != b.dim(i)) return false;
  }
  return true;
}

// A constant float operand that broadcasts along the last dim only: a scalar, or C values in a
// shape whose other dims are 1, of rank at most the output's. Returns C values (scalars
// repeated), or nothing.
std::optional<std::vector<float>> per_channel(const TensorInfo& info, int64_t channels,
                                              int output_rank) {
  if (!info.value || info.dtype != DType::kFloat) return std::nullopt;
  const Shape& shape = info.value->shape();
  if (shape.rank() > output_rank) return std::nullopt;
  for (int i = 0; i + 1 < shape.rank(); ++i) {
    if (shape.dim(i) != 1) return std::nullopt;
  }
  const int64_t n = info.value->num_elements();
  if (n != 1 && n != channels) return std::nullopt;
  const float* data = info.value->data<float>();
  std::vector<float> out(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) out[static_cast<size_t>(c)] = data[n == 1 ? 0 : c];
  return out;
}

// The spatial padding of a Pad/PadV2 node that adds zeros to H and W of an NHWC tensor only,
// from its constant paddings ([4, 2]) and constant value (PadV2: a zero scalar).
std::optional<InputPadding> zero_spatial_padding(const Node& node,
                                                 const std::vector<std::vector<TensorInfo>>& infos) {
  constexpr int kRank = 4, kHeight = 1, kWidth = 2, kPairs = 2;
  if ((node.op != "Pad" && node.op != "PadV2") || node.inputs.size() != (node.op == "Pad" ? 2u : 3u)) {
    return std::nullopt;
  }
  auto value_of = [&](size_t i) -> const Tensor* {
    const TensorRef& ref = node.inputs[i];
    const auto& outs = infos[static_cast<size_t>(ref.node)];
    return static_cast<size_t>(ref.port) < outs.size() ? outs[static_cast<size_t>(ref.port)].value.get()
                                                       : nullptr;
  };
  const Tensor* paddings = value_of(1);
  if (paddings == nullptr || paddings->shape() != Shape({kRank, kPairs})) return std::nullopt;
  int64_t p[kRank * kPairs];
  for (int i = 0; i < kRank * kPairs; ++i) {
    if (paddings->dtype() == DType::kInt32) {
      p[i] = paddings->data<int32_t>()[i];
    } else if (paddings->dtype() == DType::kInt64) {
      p[i] = paddings->data<int64_t>()[i];
    } else {
      return std::nullopt;
    }
    if (p[i] < 0) return std::nullopt;
  }
  // Batch (row 0) and channels (row 3) unpadded.
  if (p[0] != 0 || p[1] != 0 || p[2 * (kRank - 1)] != 0 || p[2 * (kRank - 1) + 1] != 0) {
    return std::nullopt;
  }
  if (node.op == "PadV2") {
    const Tensor* fill = value_of(2);
    if (fill == nullptr || fill->dtype() != DType::kFloat || fill->num_elements() != 1 ||
        fill->data<float>()[0] != 0.0f) {
      return std::nullopt;
    }
  }
  return InputPadding{p[2 * kHeight], p[2 * kHeight + 1], p[2 * kWidth], p[2 * kWidth + 1]};
}

// Whether conv.cc would read this Conv2D's filter in place in mapped mode: a Const (possibly
// behind Identity nodes, which fold to views of it) whose tensor_content lies in the model file
// at a 4-byte-aligned address (misaligned or small content is copied out of it at load).
bool filter_in_file(const Graph& graph, const Node& conv) {
  constexpr size_t kFloatAlignment = sizeof(float);
  if (conv.inputs.size() < 2 || !graph.file()) return false;
  const Node* node = &graph.node(conv.inputs[1].node);
  while (node->op == "Identity" && node->inputs.size() == 1) node = &graph.node(node->inputs[0].node);
  const AttrValue* value = node->op == "Const" ? node->attr("value") : nullptr;
  if (value == nullptr || value->kind != AttrValue::Kind::kTensor || value->tensor.content.empty()) {
    return false;
  }
  const char* bytes = value->tensor.content.data();
  return graph.file()->contains(bytes) && reinterpret_cast<uintptr_t>(bytes) % kFloatAlignment == 0;
}

struct ChainLink {
  int node = -1;
  int aliased = 0;
};

// Builds the epilogue of one producer step by step, asking the kernel before each link.
class ChainBuilder {
 public:
  // position: each node's place in the schedule (-1: not scheduled); the producer's is `at`.
  // scale_foldable: the producer's weights are constant and may be scaled (not mapped).
  ChainBuilder(const Model& model, const Kernel& producer, int64_t channels,
               bool scale_foldable, const std::vector<int>& position, int at)
      : model_(model), producer_(producer), channels_(channels),
        scale_foldable_(scale_foldable), position_(position), at_(at) {
    scale_.assign(static_cast<size_t>(channels), 1.0f);
    shift_.assign(static_cast<size_t>(channels), 0.0f);
  }

  // Tries to append `node`, which consumes `from` (the chain's current tensor, port 0).
  std::optional<ChainLink> try_link(const Node& node, int from, const Shape& out_shape) {
    const auto& infos = model_.infos();
    const auto& node_outs = infos[static_cast<size_t>(index_of(node))];
    if (node_outs.size() != 1 || node_outs[0].dtype != DType::kFloat ||
        !same_shape(node_outs[0].shape, out_shape)) {
      return std::nullopt;
    }
    int chain_input = -1;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i].node == from && node.inputs[i].port == 0) {
        if (chain_input >= 0) return std::nullopt;  // x op x
        chain_input = static_cast<int>(i);
      }
    }
    if (chain_input < 0) return std::nullopt;
    Epilogue candidate = current();
    float alpha = 0.0f;
    if (std::optional<ActivationKind> kind =
            activation_of(node, model_.op_record(index_of(node)), &alpha)) {
      if (node.inputs.size() != 1) return std::nullopt;
      candidate.activations.push_back(Activation{*kind, alpha});
      if (!producer_.accepts_epilogue(candidate)) return std::nullopt;
      activations_ = candidate.activations;
      return ChainLink{index_of(node), chain_input};
    }
    // Affine ops first, then a residual, then activations.
    if (!activations_.empty() || residual_ || node.inputs.size() != 2) return std::nullopt;
    const TensorRef& other_input = node.inputs[static_cast<size_t>(1 - chain_input)];
    if (std::optional<TensorRef> residual = residual_operand(node, other_input, out_shape)) {
      candidate.residual = residual;
      if (!producer_.accepts_epilogue(candidate)) return std::nullopt;
      residual_ = residual;
      return ChainLink{index_of(node), chain_input};
    }
    const bool is_bias_add = node.op == "BiasAdd";
    if (!is_bias_add && node.op != "Add" && node.op != "AddV2" && node.op != "Sub" &&
        node.op != "Mul") {
      return std::nullopt;
    }
    if (is_bias_add) {
      Result<std::string> format = node.attr_string_or("data_format", "NHWC");
      if (!format.ok() || *format != "NHWC" || chain_input != 0) return std::nullopt;
    }
    const TensorRef& other = node.inputs[static_cast<size_t>(1 - chain_input)];
    const TensorInfo& operand = infos[static_cast<size_t>(other.node)][static_cast<size_t>(other.port)];
    std::optional<std::vector<float>> values = per_channel(operand, channels_, out_shape.rank());
    if (!values) return std::nullopt;
    std::vector<float> scale = scale_, shift = shift_;
    for (size_t c = 0; c < scale.size(); ++c) {
      const float v = (*values)[c];
      if (node.op == "Mul") {
        scale[c] *= v;
        shift[c] *= v;
      } else if (node.op == "Sub" && chain_input == 1) {  // v - y
        scale[c] = -scale[c];
        shift[c] = v - shift[c];
      } else if (node.op == "Sub") {
        shift[c] -= v;
      } else {
        shift[c] += v;
      }
    }
    candidate.scale = scale;
    candidate.shift = shift;
    trim(&candidate);
    // A scale is folded into the weights at prepare, so they must be constant (and not mapped).
    if (!candidate.scale.empty() && !scale_foldable_) return std::nullopt;
    if (!producer_.accepts_epilogue(candidate)) return std::nullopt;
    scale_ = std::move(scale);
    shift_ = std::move(shift);
    return ChainLink{index_of(node), chain_input};
  }

  // Appends an activation matched over several nodes (swish) if the producer accepts it.
  bool try_activation(const Activation& activation) {
    Epilogue candidate = current();
    candidate.activations.push_back(activation);
    if (!producer_.accepts_epilogue(candidate)) return false;
    activations_ = candidate.activations;
    return true;
  }

  Epilogue current() const {
    Epilogue e{scale_, shift_, activations_, residual_};
    trim(&e);
    return e;
  }

 private:
  // The other operand of Add/AddV2(chain, other) when it can be added by the producer as a
  // residual: a computed float tensor of the chain's exact shape, produced before the producer
  // in the schedule (so the producer can read it where it runs; nothing it computes feeds it).
  std::optional<TensorRef> residual_operand(const Node& node, const TensorRef& other,
                                            const Shape& out_shape) const {
    if (node.op != "Add" && node.op != "AddV2") return std::nullopt;
    const TensorInfo& info = model_.infos()[static_cast<size_t>(other.node)][static_cast<size_t>(other.port)];
    const int other_at = position_[static_cast<size_t>(other.node)];
    if (info.value || info.dtype != DType::kFloat || !same_shape(info.shape, out_shape) ||
        other_at < 0 || other_at >= at_) {
      return std::nullopt;
    }
    return other;
  }

  // An all-ones scale or all-zeros shift is left out (the kernel then skips that work).
  static void trim(Epilogue* e) {
    bool ones = true, zeros = true;
    for (float v : e->scale) ones &= v == 1.0f;
    for (float v : e->shift) zeros &= v == 0.0f;
    if (ones) e->scale.clear();
    if (zeros) e->shift.clear();
  }
  int index_of(const Node& node) const {
    return static_cast<int>(&node - &model_.graph().nodes()[0]);
  }

  const Model& model_;
  const Kernel& producer_;
  int64_t channels_;
  bool scale_foldable_;
  const std::vector<int>& position_;
  int at_;
  std::vector<float> scale_, shift_;
  std::vector<Activation> activations_;
  std::optional<TensorRef> residual_;
};

// Who reads each node's outputs among the scheduled nodes.
struct Readers {
  std::vector<std::vector<std::pair<int, int>>> port0;  // (consumer, input index) of output 0
  std::vector<std::vector<int>> count;                 // reads per output port (+1 if requested)
};

// The index of `from`:0 among the inputs of `node`, when it appears exactly once there.
std::optional<int> single_input_from(const Node& node, int from) {
  std::optional<int> found;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i].node != from) continue;
    if (node.inputs[i].port != 0 || found) return std::nullopt;
    found = static_cast<int>(i);
  }
  return found;
}

// swish(y) = y * sigmoid(beta * y), as TF's nn.silu / Keras' swish lower it:
//   b = Mul(beta, y) (absent when beta is 1), s = Sigmoid(b or y), m = Mul(y, s),
// usually wrapped in IdentityN(m, y, beta) by tf.custom_gradient. Matches when y's other readers
// are such IdentityNs whose y-outputs nobody reads (after fusion y's bytes hold the swish).
struct SwishMatch {
  float beta = 1.0f;
  std::vector<ChainLink> links;  // b (if any), s, m, in that order; m's output carries on
  int result = -1;               // m
};

std::optional<SwishMatch> match_swish(const Model& model, int y, const Readers& readers,
                                      const std::vector<bool>& blocked,
                                      const std::vector<std::unique_ptr<Kernel>>& kernels) {
  const Graph& graph = model.graph();
  const auto& infos = model.infos();
  auto usable = [&](int index) {
    return !blocked[static_cast<size_t>(index)] && kernels[static_cast<size_t>(index)] != nullptr &&
           !kernels[static_cast<size_t>(index)]->fused_away();
  };
  auto only_reader = [&](int index) -> int {
    const auto& list = readers.port0[static_cast<size_t>(index)];
    return list.size() == 1 && readers.count[static_cast<size_t>(index)][0] == 1 ? list[0].first : -1;
  };
  SwishMatch match;
  int sigmoid = -1, mul = -1, beta_mul = -1;
  for (const auto& [reader, input] : readers.port0[static_cast<size_t>(y)]) {
    const Node& node = graph.node(reader);
    if (node.op == "IdentityN") {
      // Its output for y must be unread: it would now see the swish instead of y.
      if (readers.count[static_cast<size_t>(reader)][static_cast<size_t>(input)] != 0) return std::nullopt;
      continue;
    }
    if (node.op == "Sigmoid" && sigmoid < 0 && beta_mul < 0 && usable(reader)) {
      sigmoid = reader;
    } else if (node.op == "Mul" && node.inputs.size() == 2 && usable(reader) &&
               single_input_from(node, y)) {
      const TensorRef& other = node.inputs[static_cast<size_t>(1 - *single_input_from(node, y))];
      const TensorInfo& operand = infos[static_cast<size_t>(other.node)][static_cast<size_t>(other.port)];
      if (operand.value && operand.dtype == DType::kFloat && operand.value->num_elements() == 1 &&
          beta_mul < 0 && sigmoid < 0) {
        beta_mul = reader;
        match.beta = operand.value->data<float>()[0];
      } else if (mul < 0) {
        mul = reader;
      } else {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
  }
  if (beta_mul >= 0) {
    sigmoid = only_reader(beta_mul);
    if (sigmoid < 0 || graph.node(sigmoid).op != "Sigmoid" || !usable(sigmoid)) return std::nullopt;
    match.links.push_back(ChainLink{beta_mul, *single_input_from(graph.node(beta_mul), y)});
  }
  if (sigmoid < 0 || mul < 0 || only_reader(sigmoid) != mul) return std::nullopt;
  const Node& m = graph.node(mul);
  const int mul_y = *single_input_from(m, y);
  if (m.inputs[static_cast<size_t>(1 - mul_y)].node != sigmoid || m.inputs[static_cast<size_t>(1 - mul_y)].port != 0) {
    return std::nullopt;
  }
  // Same dtype and shape all along: no broadcasting hides in the Muls.
  const TensorInfo& y_info = infos[static_cast<size_t>(y)][0];
  for (const ChainLink& link : match.links) {
    if (!same_shape(infos[static_cast<size_t>(link.node)][0].shape, y_info.shape)) return std::nullopt;
  }
  for (int index : {sigmoid, mul}) {
    const auto& outs = infos[static_cast<size_t>(index)];
    if (outs.size() != 1 || outs[0].dtype != DType::kFloat || !same_shape(outs[0].shape, y_info.shape)) {
      return std::nullopt;
    }
  }
  match.links.push_back(ChainLink{sigmoid, 0});
  match.links.push_back(ChainLink{mul, mul_y});
  match.result = mul;
  return match;
}

}  // namespace

FusionStats fuse_epilogues(const Model& model, const std::vector<int>& schedule,
                           const std::vector<TensorRef>& requested_outputs, WeightsMode weights,
                           std::vector<std::unique_ptr<Kernel>>* kernels) {
  const Graph& graph = model.graph();
  const size_t num_nodes = static_cast<size_t>(graph.num_nodes());
  // Who reads each node among the scheduled ones; control consumers block fusion.
  std::vector<bool> blocked(num_nodes, false), scheduled(num_nodes, false);
  std::vector<int> position(num_nodes, -1);
  for (size_t s = 0; s < schedule.size(); ++s) {
    scheduled[static_cast<size_t>(schedule[s])] = true;
    position[static_cast<size_t>(schedule[s])] = static_cast<int>(s);
  }
  Readers readers;
  readers.port0.resize(num_nodes);
  readers.count.resize(num_nodes);
  for (size_t i = 0; i < num_nodes; ++i) readers.count[i].assign(model.infos()[i].size(), 0);
  auto count_read = [&](const TensorRef& ref) {
    auto& counts = readers.count[static_cast<size_t>(ref.node)];
    if (static_cast<size_t>(ref.port) < counts.size()) ++counts[static_cast<size_t>(ref.port)];
  };
  for (int index : schedule) {
    const Node& node = graph.node(index);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& ref = node.inputs[i];
      count_read(ref);
      if (ref.port != 0) {
        blocked[static_cast<size_t>(ref.node)] = true;  // multi-output producers stay whole
      } else {
        readers.port0[static_cast<size_t>(ref.node)].emplace_back(index, static_cast<int>(i));
      }
    }
    for (int dep : node.control_inputs) blocked[static_cast<size_t>(dep)] = true;
  }
  for (const TensorRef& ref : requested_outputs) blocked[static_cast<size_t>(ref.node)] = true;
  // Readings of a node's output 0 (a node reading it twice counts twice), and the reader when
  // there is exactly one.
  auto port0_reads = [&](int index) { return readers.port0[static_cast<size_t>(index)].size(); };
  auto only_consumer = [&](int index) { return readers.port0[static_cast<size_t>(index)].front().first; };
  for (const TensorRef& ref : requested_outputs) count_read(ref);

  // Which outputs prepare will fold to constants: Const, and foldable ops of constants only.
  // (Load-time infos drop the values of large folded tensors, e.g. an Identity of a filter.)
  std::vector<bool> constant(num_nodes, false);
  for (int index : schedule) {
    const Node& node = graph.node(index);
    const Kernel* k = (*kernels)[static_cast<size_t>(index)].get();
    bool all_inputs = !node.inputs.empty();
    for (const TensorRef& ref : node.inputs) all_inputs = all_inputs && constant[static_cast<size_t>(ref.node)];
    constant[static_cast<size_t>(index)] =
        node.op == "Const" || (k != nullptr && k->foldable() && all_inputs);
  }

  FusionStats stats;
  const auto& infos = model.infos();

  // A zero Pad whose only consumer is a conv's data input: the conv pads by itself.
  for (int pad : schedule) {
    const Node& node = graph.node(pad);
    if (blocked[static_cast<size_t>(pad)] || port0_reads(pad) != 1 ||
        (*kernels)[static_cast<size_t>(pad)] == nullptr || node.inputs.empty() ||
        constant[static_cast<size_t>(node.inputs[0].node)]) {
      continue;
    }
    const int consumer = only_consumer(pad);
    const Node& conv = graph.node(consumer);
    Kernel* conv_kernel = (*kernels)[static_cast<size_t>(consumer)].get();
    const auto& pad_outs = infos[static_cast<size_t>(pad)];
    if (conv_kernel == nullptr || !conv_kernel->accepts_input_padding() || conv.inputs.empty() ||
        conv.inputs[0].node != pad || conv.inputs[0].port != 0 || pad_outs.size() != 1 ||
        pad_outs[0].dtype != DType::kFloat) {
      continue;
    }
    for (size_t i = 1; i < conv.inputs.size(); ++i) {
      if (conv.inputs[i].node == pad) conv_kernel = nullptr;  // pad feeds the filter too
    }
    std::optional<InputPadding> padding = zero_spatial_padding(node, infos);
    if (conv_kernel == nullptr || !padding) continue;
    conv_kernel->set_input_padding(*padding);
    auto& slot = (*kernels)[static_cast<size_t>(pad)];
    slot = std::make_unique<FusedAwayKernel>(std::move(slot), 0, /*keep_inputs=*/true);
    ++stats.fused_nodes;
  }
  // Extends a chain from `start` (port 0) link by link while its tensor has one reader, or
  // matches a swish where it has several.
  auto grow_chain = [&](int start, const Shape& out_shape, ChainBuilder* builder) {
    std::vector<ChainLink> chain;
    int current = start;
    while (!blocked[static_cast<size_t>(current)]) {
      if (port0_reads(current) != 1) {
        std::optional<SwishMatch> swish = match_swish(model, current, readers, blocked, *kernels);
        if (!swish || !builder->try_activation(Activation{ActivationKind::kSwish, swish->beta})) break;
        chain.insert(chain.end(), swish->links.begin(), swish->links.end());
        current = swish->result;
        continue;
      }
      const int next = only_consumer(current);
      if (!scheduled[static_cast<size_t>(next)] || (*kernels)[static_cast<size_t>(next)] == nullptr ||
          (*kernels)[static_cast<size_t>(next)]->fused_away()) {
        break;
      }
      std::optional<ChainLink> link = builder->try_link(graph.node(next), current, out_shape);
      if (!link) break;
      chain.push_back(*link);
      current = next;
    }
    return chain;
  };
  auto fuse_chain = [&](const std::vector<ChainLink>& chain) {
    for (const ChainLink& link : chain) {
      auto& slot = (*kernels)[static_cast<size_t>(link.node)];
      // Affine ops and activations infer from their operands' shapes only.
      slot = std::make_unique<FusedAwayKernel>(std::move(slot), link.aliased, /*keep_inputs=*/false);
    }
  };

  for (int producer : schedule) {
    const Node& node = graph.node(producer);
    Kernel* kernel = (*kernels)[static_cast<size_t>(producer)].get();
    if (kernel == nullptr || !is_fusion_producer(model.op_record(producer)) || node.inputs.empty()) {
      continue;
    }
    const TensorRef& data = node.inputs[0];
    const auto& outs = infos[static_cast<size_t>(producer)];
    // A constant data input would fold the producer at prepare: leave it whole.
    if (constant[static_cast<size_t>(data.node)]) continue;
    if (outs.size() != 1 || outs[0].dtype != DType::kFloat || !outs[0].shape.known_rank() ||
        outs[0].shape.rank() < 1) {
      continue;
    }
    const Shape& out_shape = outs[0].shape;
    const int64_t channels = out_shape.dim(out_shape.rank() - 1);
    if (channels <= 0) continue;
    const bool constant_weights = node.inputs.size() > 1 && constant[static_cast<size_t>(node.inputs[1].node)];
    // A mapped filter is never scaled (see fusion.h): the scale stays a Mul of its own.
    const bool scale_foldable = constant_weights && !(weights == WeightsMode::kMapped &&
                                                      node.op == "Conv2D" && filter_in_file(graph, node));
    ChainBuilder builder(model, *kernel, channels, scale_foldable, position,
                         position[static_cast<size_t>(producer)]);
    std::vector<ChainLink> chain = grow_chain(producer, out_shape, &builder);
    if (chain.empty()) continue;
    kernel->set_epilogue(builder.current());
    fuse_chain(chain);
    ++stats.producers;
    stats.fused_nodes += static_cast<int>(chain.size());
  }

  // Chains headed by an affine op on a tensor no conv/matmul produces (BatchNorm + ReLU after a
  // Concat): the head computes the whole chain in one pass instead of one pass per op.
  for (int head : schedule) {
    const Node& node = graph.node(head);
    auto& slot = (*kernels)[static_cast<size_t>(head)];
    if (slot == nullptr || slot->fused_away() || blocked[static_cast<size_t>(head)] || node.inputs.size() != 2) continue;
    std::optional<int> data_input;
    for (int i = 0; i < 2; ++i) {
      if (!constant[static_cast<size_t>(node.inputs[static_cast<size_t>(i)].node)]) {
        data_input = data_input ? std::nullopt : std::optional<int>(i);
        if (!data_input) break;
      }
    }
    if (!data_input) continue;
    const TensorRef& data = node.inputs[static_cast<size_t>(*data_input)];
    const TensorInfo& data_info = infos[static_cast<size_t>(data.node)][static_cast<size_t>(data.port)];
    if (data.port != 0 || data_info.dtype != DType::kFloat || !data_info.shape.known_rank() ||
        data_info.shape.rank() < 1 || data_info.shape.dim(data_info.shape.rank() - 1) <= 0) {
      continue;
    }
    // Only asked what it accepts until the chain is known; then it takes over the head's kernel.
    std::unique_ptr<Kernel> standalone = make_standalone_epilogue_kernel(nullptr, *data_input);
    ChainBuilder builder(model, *standalone, data_info.shape.dim(data_info.shape.rank() - 1),
                         /*constant_weights=*/true, position, position[static_cast<size_t>(head)]);
    // The head itself must be an affine link of the data tensor.
    std::optional<ChainLink> first = builder.try_link(node, data.node, data_info.shape);
    if (!first) continue;
    std::vector<ChainLink> rest = grow_chain(head, data_info.shape, &builder);
    if (rest.empty()) continue;  // a lone affine op is one pass already
    standalone = make_standalone_epilogue_kernel(std::move(slot), *data_input);
    standalone->set_epilogue(builder.current());
    slot = std::move(standalone);
    fuse_chain(rest);
    ++stats.producers;
    stats.fused_nodes += static_cast<int>(rest.size());
  }
  return stats;
}

}  // namespace pbmem

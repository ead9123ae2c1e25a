// Session: prepare (concrete shapes, folding, kernel prepare) once per input-shape signature,
// then execute the schedule. Intermediate tensors are freed after their last consumer.
#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "runtime/model.h"
#include "shape/infer.h"

namespace pbmem {

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

bool is_placeholder(const Node& node) { return node.op == "Placeholder"; }
bool is_placeholder_with_default(const Node& node) { return node.op == "PlaceholderWithDefault"; }

bool shape_compatible(const Shape& declared, const Shape& given) {
  if (!declared.known_rank()) return true;
  if (declared.rank() != given.rank()) return false;
  for (int i = 0; i < declared.rank(); ++i) {
    if (declared.dim(i) != kUnknownDim && declared.dim(i) != given.dim(i)) return false;
  }
  return true;
}

int default_thread_count() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  int num_threads = 1;
  std::vector<std::string> output_names;
  std::vector<TensorRef> output_refs;
  std::vector<int> schedule;                              // node indices in run order
  std::vector<std::unique_ptr<Kernel>> kernels;           // by node index (null if not scheduled)
  std::vector<int> fed_nodes;                             // placeholders in the schedule

  // Prepared state for one input-shape signature.
  bool prepared = false;
  std::vector<Shape> prepared_shapes;                     // by position in fed_nodes
  std::vector<bool> prepared_fed;                         // PlaceholderWithDefault: fed or not
  std::vector<std::vector<TensorInfo>> infos;             // by node index
  std::vector<int> run_nodes;                             // nodes executed at run time
  std::vector<std::vector<int>> consumers_left_init;      // by node, by port: consumer count
  std::unique_ptr<void, FreeDeleter> scratch;
  size_t scratch_bytes = 0;

  Status prepare(const std::vector<const Tensor*>& fed);
  Result<std::map<std::string, Tensor>> execute(const std::vector<const Tensor*>& fed);
};

Session::Session() : impl_(std::make_unique<Impl>()) {}
Session::~Session() = default;

const std::vector<std::string>& Session::output_names() const { return impl_->output_names; }

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options) {
  if (!model) return invalid_argument("no model given");
  if (options.num_threads < 0) {
    return invalid_argument("thread count must be >= 0 (0 = all cores), got ", options.num_threads);
  }
  std::unique_ptr<Session> session(new Session());
  Impl& s = *session->impl_;
  s.model = model;
  s.options = options;
  s.num_threads = options.num_threads > 0 ? options.num_threads : default_thread_count();
  const Graph& graph = model->graph();

  if (options.outputs.empty()) {
    for (const TensorSpec& spec : model->outputs()) s.output_names.push_back(spec.name);
  } else {
    s.output_names = options.outputs;
  }
  if (s.output_names.empty()) return invalid_argument("the model has no outputs to compute");
  std::vector<int> targets;
  for (const std::string& name : s.output_names) {
    auto ref = graph.resolve(name);
    if (!ref.ok()) return ref.status().with_context("output '" + name + "'");
    const auto& outs = model->infos()[static_cast<size_t>(ref->node)];
    if (ref->port >= static_cast<int>(outs.size()) && model->factory(ref->node) != nullptr) {
      return not_found("output '", name, "': node '", graph.node(ref->node).name, "' has ",
                       outs.size(), " outputs");
    }
    s.output_refs.push_back(*ref);
    targets.push_back(ref->node);
  }
  PBMEM_ASSIGN_OR_RETURN(s.schedule, graph.schedule(targets));

  std::vector<std::string> missing;
  for (int index : s.schedule) {
    if (model->factory(index) == nullptr) missing.push_back(graph.node(index).describe());
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += "\n  " + m;
    return unimplemented("the requested outputs need unsupported ops:", list);
  }
  s.kernels.resize(static_cast<size_t>(graph.num_nodes()));
  for (int index : s.schedule) {
    s.kernels[static_cast<size_t>(index)] = model->factory(index)();
    const Node& node = graph.node(index);
    if (is_placeholder(node) || is_placeholder_with_default(node)) s.fed_nodes.push_back(index);
  }
  for (const auto& [name, shape] : options.input_shapes) {
    auto ref = graph.resolve(name);
    if (!ref.ok()) return ref.status().with_context("input shape for '" + name + "'");
    const Node& node = graph.node(ref->node);
    if (!is_placeholder(node) && !is_placeholder_with_default(node)) {
      return invalid_argument("input shape given for '", name, "', which is not an input (", node.op, ")");
    }
  }
  return session;
}

Status Session::Impl::prepare(const std::vector<const Tensor*>& fed) {
  const Graph& graph = model->graph();
  infos.assign(static_cast<size_t>(graph.num_nodes()), {});
  InferParams params;
  params.concrete = true;
  scratch_bytes = 0;
  run_nodes.clear();
  for (int index : schedule) {
    const Node& node = graph.node(index);
    Kernel& kernel = *kernels[static_cast<size_t>(index)];
    auto fed_it = std::find(fed_nodes.begin(), fed_nodes.end(), index);
    std::vector<TensorInfo>& outputs = infos[static_cast<size_t>(index)];
    if (fed_it != fed_nodes.end() && fed[static_cast<size_t>(fed_it - fed_nodes.begin())]) {
      const Tensor* t = fed[static_cast<size_t>(fed_it - fed_nodes.begin())];
      outputs.assign(1, TensorInfo{t->dtype(), t->shape(), nullptr});
      continue;  // bound at run time
    }
    PBMEM_ASSIGN_OR_RETURN(auto inputs, gather_inputs(node, infos));
    PBMEM_RETURN_IF_ERROR(infer_node(kernel, node, inputs, params, &outputs));
    bool all_const = !outputs.empty();
    for (const TensorInfo& out : outputs) all_const &= static_cast<bool>(out.value);
    if (!all_const && !outputs.empty()) {
      run_nodes.push_back(index);
      scratch_bytes = std::max(scratch_bytes, kernel.scratch_bytes());
    } else if (outputs.empty() && node.op != "NoOp") {
      run_nodes.push_back(index);
    }
  }
  // Consumer counts, so run() can free each intermediate right after its last use.
  consumers_left_init.assign(static_cast<size_t>(graph.num_nodes()), {});
  for (int index : schedule) {
    consumers_left_init[static_cast<size_t>(index)].assign(infos[static_cast<size_t>(index)].size(), 0);
  }
  for (int index : run_nodes) {
    for (const TensorRef& ref : graph.node(index).inputs) {
      ++consumers_left_init[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
    }
  }
  scratch.reset();
  if (scratch_bytes > 0) {
    size_t rounded = (scratch_bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
    scratch.reset(std::aligned_alloc(kTensorAlignment, rounded));
    if (!scratch) return resource_exhausted("cannot allocate ", scratch_bytes, " bytes of kernel scratch");
  }
  prepared = true;
  return ok_status();
}

Result<std::map<std::string, Tensor>> Session::Impl::execute(const std::vector<const Tensor*>& fed) {
  const Graph& graph = model->graph();
  std::vector<std::vector<Tensor>> values(static_cast<size_t>(graph.num_nodes()));
  std::vector<std::vector<int>> consumers_left = consumers_left_init;
  std::vector<bool> is_output_node(static_cast<size_t>(graph.num_nodes()), false);
  for (const TensorRef& ref : output_refs) is_output_node[static_cast<size_t>(ref.node)] = true;

  // Constants (weights and folded values) and fed inputs.
  for (int index : schedule) {
    const auto& outs = infos[static_cast<size_t>(index)];
    auto& vals = values[static_cast<size_t>(index)];
    vals.resize(outs.size());
    for (size_t port = 0; port < outs.size(); ++port) {
      if (outs[port].value) vals[port] = *outs[port].value;
    }
  }
  for (size_t k = 0; k < fed_nodes.size(); ++k) {
    if (fed[k]) values[static_cast<size_t>(fed_nodes[k])][0] = *fed[k];
  }

  for (int index : run_nodes) {
    const Node& node = graph.node(index);
    Kernel& kernel = *kernels[static_cast<size_t>(index)];
    const auto& outs = infos[static_cast<size_t>(index)];
    auto& vals = values[static_cast<size_t>(index)];
    std::vector<const Tensor*> inputs;
    inputs.reserve(node.inputs.size());
    for (const TensorRef& ref : node.inputs) {
      const Tensor& t = values[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
      if (!t.valid()) return internal_error(node.describe(), ": input '", graph.node(ref.node).name, "' has no value");
      inputs.push_back(&t);
    }
    if (kernel.aliases_input0() && outs.size() == 1) {
      vals[0] = inputs[0]->reshaped(outs[0].shape);
    } else {
      std::vector<Tensor*> out_ptrs;
      for (size_t port = 0; port < outs.size(); ++port) {
        if (!vals[port].valid()) {
          auto t = Tensor::allocate(outs[port].dtype, outs[port].shape);
          if (!t.ok()) return t.status().with_context(node.describe() + ": output " + std::to_string(port));
          vals[port] = std::move(t).value();
        }
        out_ptrs.push_back(&vals[port]);
      }
      RunContext ctx(node, std::move(inputs), std::move(out_ptrs), scratch.get(), scratch_bytes);
      PBMEM_RETURN_IF_ERROR(kernel.run(ctx));
    }
    // Free inputs after their last consumer (graph outputs are kept).
    for (const TensorRef& ref : node.inputs) {
      int& left = consumers_left[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
      if (--left == 0 && !is_output_node[static_cast<size_t>(ref.node)]) {
        values[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)] = Tensor();
      }
    }
  }

  std::map<std::string, Tensor> results;
  for (size_t k = 0; k < output_refs.size(); ++k) {
    const TensorRef& ref = output_refs[k];
    const Tensor& t = values[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
    if (!t.valid()) return internal_error("output '", output_names[k], "' was not computed");
    results[output_names[k]] = t;
  }
  return results;
}

Result<std::map<std::string, Tensor>> Session::run(const std::map<std::string, Tensor>& inputs) {
  Impl& s = *impl_;
  const Graph& graph = s.model->graph();
#ifdef _OPENMP
  omp_set_num_threads(s.num_threads);
#endif
  std::vector<const Tensor*> fed(s.fed_nodes.size(), nullptr);
  auto input_list = [&]() {
    std::string list;
    for (const TensorSpec& spec : s.model->inputs()) {
      list += (list.empty() ? "" : ", ") + spec.name + " " + dtype_name(spec.dtype) + spec.shape.str();
    }
    return list.empty() ? std::string("(none)") : list;
  };
  for (const auto& [name, tensor] : inputs) {
    auto ref = graph.resolve(name);
    if (!ref.ok() || ref->port != 0) {
      return not_found("'", name, "' is not an input of the model; its inputs are: ", input_list());
    }
    const Node& node = graph.node(ref->node);
    if (!is_placeholder(node) && !is_placeholder_with_default(node)) {
      return invalid_argument("'", name, "' is a ", node.op, " node, not an input; the model's inputs are: ",
                              input_list());
    }
    auto it = std::find(s.fed_nodes.begin(), s.fed_nodes.end(), ref->node);
    if (it == s.fed_nodes.end()) continue;  // not needed for the requested outputs
    const TensorInfo& declared = s.model->infos()[static_cast<size_t>(ref->node)][0];
    if (tensor.dtype() != declared.dtype) {
      return invalid_argument("input '", name, "' must be ", dtype_name(declared.dtype), ", got ",
                              dtype_name(tensor.dtype()));
    }
    if (!shape_compatible(declared.shape, tensor.shape())) {
      return invalid_argument("input '", name, "' must have shape ", declared.shape.str(), ", got ",
                              tensor.shape().str());
    }
    auto given = s.options.input_shapes.find(name);
    if (given != s.options.input_shapes.end() && !shape_compatible(given->second, tensor.shape())) {
      return invalid_argument("input '", name, "' has shape ", tensor.shape().str(),
                              " but its input shape was set to ", given->second.str());
    }
    fed[static_cast<size_t>(it - s.fed_nodes.begin())] = &tensor;
  }
  std::vector<Shape> shapes(fed.size());
  std::vector<bool> fed_flags(fed.size());
  for (size_t k = 0; k < fed.size(); ++k) {
    const Node& node = graph.node(s.fed_nodes[k]);
    if (!fed[k] && is_placeholder(node)) {
      const TensorInfo& declared = s.model->infos()[static_cast<size_t>(s.fed_nodes[k])][0];
      return invalid_argument("missing input '", node.name, "' (", dtype_name(declared.dtype),
                              declared.shape.str(), ")");
    }
    if (fed[k]) shapes[k] = fed[k]->shape();
    fed_flags[k] = fed[k] != nullptr;
  }
  if (!s.prepared || shapes != s.prepared_shapes || fed_flags != s.prepared_fed) {
    s.prepared = false;
    PBMEM_RETURN_IF_ERROR(s.prepare(fed));
    s.prepared_shapes = shapes;
    s.prepared_fed = fed_flags;
  }
  return s.execute(fed);
}

}  // namespace pbmem

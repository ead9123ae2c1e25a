// Session API: feeds are checked against the graph, prepare (session_plan.cc) runs once per
// input signature, then every run executes the bound steps without allocating.
#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <unistd.h>

#include "runtime/fusion.h"
#include "runtime/session_impl.h"

namespace pbmem {

namespace {

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

int64_t physical_memory_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
}

int default_thread_count() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

// Threads beyond a few per processor only add contention to CPU-bound kernels, and OpenMP
// cannot create tens of thousands of them (libgomp crashed at --threads 100000 and printed its
// own error at 40000): the limit scales with the processors this process may use.
constexpr int kMaxThreadsPerProcessor = 16;

int max_thread_count() { return kMaxThreadsPerProcessor * std::max(1, default_thread_count()); }

}  // namespace

Session::Session() : impl_(std::make_unique<Impl>()) {}
Session::~Session() = default;

const std::vector<std::string>& Session::output_names() const { return impl_->output_names; }

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options) {
  if (!model) return invalid_argument("no model given");
  if (options.num_threads < 0) {
    return invalid_argument("thread count must be >= 0 (0 = all cores), got ", options.num_threads);
  }
  if (options.num_threads > max_thread_count()) {
    return invalid_argument("thread count ", options.num_threads, " is above ", max_thread_count(),
                            " (", kMaxThreadsPerProcessor, " per processor of the ",
                            default_thread_count(), " this process may use)");
  }
  std::unique_ptr<Session> session(new Session());
  Impl& s = *session->impl_;
  s.model = model;
  s.options = options;
  s.num_threads = options.num_threads > 0 ? options.num_threads : default_thread_count();
  if (options.memory_limit < 0) {
    return invalid_argument("memory limit must be >= 0 bytes (0 = none), got ", options.memory_limit);
  }
  s.account = MemoryAccount::create();
  // Without a limit, BytesLimit reports the machine's memory, as TF's allocators report theirs.
  s.account->set_limit(options.memory_limit > 0 ? options.memory_limit : physical_memory_bytes());
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
    if (ref->port >= static_cast<int>(outs.size()) && model->op_record(ref->node) != nullptr) {
      return not_found("output '", name, "': node '", graph.node(ref->node).name, "' has ",
                       outs.size(), " outputs");
    }
    s.output_refs.push_back(*ref);
    targets.push_back(ref->node);
  }
  PBMEM_ASSIGN_OR_RETURN(s.schedule, graph.schedule(targets));

  std::vector<std::string> missing;
  for (int index : s.schedule) {
    if (model->op_record(index) == nullptr) missing.push_back(graph.node(index).describe());
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += "\n  " + m;
    return unimplemented("the requested outputs need unsupported ops:", list);
  }
  s.create_kernels();
  for (int index : s.schedule) {
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

void Session::Impl::create_kernels() {
  kernels.clear();
  kernels.resize(static_cast<size_t>(model->graph().num_nodes()));
  for (int index : schedule) {
    kernels[static_cast<size_t>(index)] = model->op_record(index)->make();
    kernels[static_cast<size_t>(index)]->set_weights_mode(options.weights);
  }
  fusion = options.fuse ? fuse_epilogues(*model, schedule, output_refs, options.weights, &kernels) : FusionStats();
  packed_by_node.assign(kernels.size(), 0);
}

Status Session::Impl::execute(const std::vector<const Tensor*>& fed, StepObserver* observer) {
  const Graph& graph = model->graph();
  account->begin_run();
  // A kernel that allocates while running is counted (and refused over the limit) as "other".
  ScopedAccount scope(account, MemoryCategory::kOther);
  for (size_t k = 0; k < fed_nodes.size(); ++k) {
    if (fed[k]) values[static_cast<size_t>(fed_nodes[k])][0].assign_view(*fed[k], fed[k]->shape());
  }
  if (observer) observer->run_started(static_cast<int>(steps.size()));
  for (size_t k = 0; k < steps.size(); ++k) {
    const Step& step = steps[k];
    const Node& node = graph.node(step.node);
    if (observer) observer->step_started(static_cast<int>(k));
    if (step.alias_only) {
      const auto& outs = infos[static_cast<size_t>(step.node)];
      for (size_t p = 0; p < step.outputs.size(); ++p) {
        if (outs[p].value) continue;  // a constant (an IdentityN of a Const): bound at prepare
        step.outputs[p]->assign_view(*step.inputs[static_cast<size_t>(step.alias_inputs[p])], outs[p].shape);
      }
    } else {
      RunContext ctx(node, step.inputs, step.outputs, scratch.get(), scratch_bytes);
      ctx.set_memory_account(account.get());
      Status status = kernels[static_cast<size_t>(step.node)]->run(ctx);
      if (status.code() == StatusCode::kResourceExhausted) {
        // The plan fitted; this kernel asked for more while running. Nothing it got is kept.
        return status.with_context(str_cat("running node '", node.name, "' (", node.op,
                                           "), which allocated beyond the plan at run time"));
      }
      PBMEM_RETURN_IF_ERROR(status);
    }
    if (observer) observer->step_finished(static_cast<int>(k));
  }
  return ok_status();
}

namespace {

std::string describe_inputs(const Model& model) {
  std::string list;
  for (const TensorSpec& spec : model.inputs()) {
    list += (list.empty() ? "" : ", ") + spec.name + " " + dtype_name(spec.dtype) + spec.shape.str();
  }
  return list.empty() ? std::string("(none)") : list;
}

}  // namespace

// Resolves an input name to its position in fed_nodes (-1: not needed for the outputs) and
// checks dtype and shape against the graph and SessionOptions::input_shapes.
static Result<int> check_feed(const Session::Impl& s, const std::string& name, DType dtype, const Shape& shape) {
  const Graph& graph = s.model->graph();
  auto ref = graph.resolve(name);
  if (!ref.ok() || ref->port != 0) {
    return not_found("'", name, "' is not an input of the model; its inputs are: ", describe_inputs(*s.model));
  }
  const Node& node = graph.node(ref->node);
  if (!is_placeholder(node) && !is_placeholder_with_default(node)) {
    return invalid_argument("'", name, "' is a ", node.op, " node, not an input; the model's inputs are: ",
                            describe_inputs(*s.model));
  }
  auto it = std::find(s.fed_nodes.begin(), s.fed_nodes.end(), ref->node);
  if (it == s.fed_nodes.end()) return -1;
  const TensorInfo& declared = s.model->infos()[static_cast<size_t>(ref->node)][0];
  if (dtype != declared.dtype) {
    return invalid_argument("input '", name, "' must be ", dtype_name(declared.dtype), ", got ", dtype_name(dtype));
  }
  if (!shape_compatible(declared.shape, shape)) {
    return invalid_argument("input '", name, "' must have shape ", declared.shape.str(), ", got ", shape.str());
  }
  auto given = s.options.input_shapes.find(name);
  if (given != s.options.input_shapes.end() && !shape_compatible(given->second, shape)) {
    return invalid_argument("input '", name, "' has shape ", shape.str(), " but its input shape was set to ",
                            given->second.str());
  }
  return static_cast<int>(it - s.fed_nodes.begin());
}

// Every Placeholder needs a feed; a PlaceholderWithDefault falls back to its default.
static Status check_all_fed(const Session::Impl& s, const std::vector<FedSpec>& specs) {
  const Graph& graph = s.model->graph();
  for (size_t k = 0; k < specs.size(); ++k) {
    const Node& node = graph.node(s.fed_nodes[k]);
    if (!specs[k].fed && is_placeholder(node)) {
      const TensorInfo& declared = s.model->infos()[static_cast<size_t>(s.fed_nodes[k])][0];
      return invalid_argument("missing input '", node.name, "' (", dtype_name(declared.dtype), declared.shape.str(), ")");
    }
  }
  return ok_status();
}

static bool same_specs(const std::vector<FedSpec>& a, const std::vector<FedSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].fed != b[k].fed || a[k].dtype != b[k].dtype || a[k].shape != b[k].shape) return false;
  }
  return true;
}

Result<std::map<std::string, Tensor>> Session::run(const std::map<std::string, Tensor>& inputs) {
  return run(inputs, RunOptions());
}

// Prepare (weight reorders, folding) and runs use the session's thread count, not OpenMP's
// default of all cores.
static void use_session_threads(const Session::Impl& s) {
#ifdef _OPENMP
  omp_set_num_threads(s.num_threads);
#else
  (void)s;
#endif
}

Result<std::map<std::string, Tensor>> Session::run(const std::map<std::string, Tensor>& inputs,
                                                   const RunOptions& run_options) {
  Impl& s = *impl_;
  use_session_threads(s);
  std::vector<const Tensor*> fed(s.fed_nodes.size(), nullptr);
  std::vector<FedSpec> specs(s.fed_nodes.size());
  for (const auto& [name, tensor] : inputs) {
    PBMEM_ASSIGN_OR_RETURN(int k, check_feed(s, name, tensor.dtype(), tensor.shape()));
    if (k < 0) continue;  // not needed for the requested outputs
    fed[static_cast<size_t>(k)] = &tensor;
    specs[static_cast<size_t>(k)] = FedSpec{true, tensor.dtype(), tensor.shape()};
  }
  PBMEM_RETURN_IF_ERROR(check_all_fed(s, specs));
  if (!s.prepared || !same_specs(specs, s.prepared_specs)) PBMEM_RETURN_IF_ERROR(prepare_within_limit(*this, s, specs));
  PBMEM_RETURN_IF_ERROR(s.execute(fed, run_options.observer));
  std::map<std::string, Tensor> results;
  for (size_t k = 0; k < s.output_refs.size(); ++k) {
    const TensorRef& ref = s.output_refs[k];
    const Tensor& t = s.values[static_cast<size_t>(ref.node)][static_cast<size_t>(ref.port)];
    if (!t.valid()) return internal_error("output '", s.output_names[k], "' was not computed");
    results[s.output_names[k]] = t;
  }
  return results;
}

Result<std::vector<FedSpec>> Session::Impl::specs_for_shapes(const std::map<std::string, Shape>& input_shapes) const {
  const Impl& s = *this;
  std::vector<FedSpec> specs(s.fed_nodes.size());
  for (const auto& [name, shape] : input_shapes) {
    auto ref = s.model->graph().resolve(name);
    DType dtype = ref.ok() && !s.model->infos()[static_cast<size_t>(ref->node)].empty()
                      ? s.model->infos()[static_cast<size_t>(ref->node)][0].dtype
                      : DType::kInvalid;
    PBMEM_ASSIGN_OR_RETURN(int k, check_feed(s, name, dtype, shape));
    if (k < 0) continue;
    if (!shape.fully_defined()) {
      return invalid_argument("input '", name, "' needs a concrete shape to plan, got ", shape.str());
    }
    specs[static_cast<size_t>(k)] = FedSpec{true, dtype, shape};
  }
  // Inputs with a fully known shape need no --input-shape.
  for (size_t k = 0; k < specs.size(); ++k) {
    const TensorInfo& declared = s.model->infos()[static_cast<size_t>(s.fed_nodes[k])][0];
    if (!specs[k].fed && s.model->graph().node(s.fed_nodes[k]).op == "Placeholder") {
      if (!declared.shape.fully_defined()) {
        return invalid_argument("input '", s.model->graph().node(s.fed_nodes[k]).name, "' has shape ",
                                declared.shape.str(),
                                ": give its shape (CLI: --input-shape NAME=d0,d1,... or --batch N;"
                                " Python: input_shapes= or batch=)");
      }
      specs[k] = FedSpec{true, declared.dtype, declared.shape};
    }
  }
  PBMEM_RETURN_IF_ERROR(check_all_fed(s, specs));
  return specs;
}

Result<MemoryPlanReport> Session::plan(const std::map<std::string, Shape>& input_shapes) {
  Impl& s = *impl_;
  use_session_threads(s);
  PBMEM_ASSIGN_OR_RETURN(std::vector<FedSpec> specs, s.specs_for_shapes(input_shapes));
  if (!s.prepared || !same_specs(specs, s.prepared_specs)) PBMEM_RETURN_IF_ERROR(prepare_within_limit(*this, s, specs));
  return s.report;
}

Result<MemoryPlanReport> Session::predict(const std::map<std::string, Shape>& input_shapes) {
  Impl& s = *impl_;
  use_session_threads(s);
  PBMEM_ASSIGN_OR_RETURN(std::vector<FedSpec> specs, s.specs_for_shapes(input_shapes));
  PBMEM_RETURN_IF_ERROR(s.prepare(specs, PrepareMode::kPredict));
  return s.report;
}

const MemoryPlanReport& Session::last_plan() const { return impl_->report; }

SessionStats Session::stats() const {
  SessionStats stats;
  stats.run = impl_->account->run_stats();
  stats.lifetime = impl_->account->lifetime_stats();
  stats.run_peak_by_category = impl_->account->run_peak_by_category();
  stats.predicted_peak_bytes = impl_->report.predicted_peak_bytes;
  stats.weights_mapped_bytes = impl_->report.weights_mapped_bytes;
  return stats;
}

int64_t Session::max_bytes_in_use() const { return impl_->account->run_stats().peak_bytes_in_use; }
int64_t Session::bytes_in_use() const { return impl_->account->run_stats().bytes_in_use; }
int64_t Session::bytes_limit() const { return impl_->account->run_stats().bytes_limit; }

}  // namespace pbmem

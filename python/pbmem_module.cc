// The `_pbmem` extension behind the `pbmem` Python package (python/pbmem/__init__.py holds the
// public API of docs/PYTHON_API.md and does argument checking; this file bridges to the C++ API).
//
// Safety rules: every failure raises pbmem.Error (never a crash, never another exception type);
// inputs are copied into pbmem tensors and outputs copied into new NumPy arrays (while the
// session is still locked: its next run overwrites the pooled output buffers), so no Python
// object is touched without the GIL and no array ever points at freed or reused memory; the GIL
// is released while the model runs or plans, and never held while waiting for a session's lock.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "cli/version.h"
#include "core/byte_size.h"
#include "kernels/kernel.h"
#include "runtime/fit.h"
#include "runtime/model.h"
#include "runtime/trace.h"

namespace py = pybind11;

namespace pbmem {
namespace {

// Raised as pbmem.Error (a RuntimeError subclass).
class PbmemError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void raise(const Status& status) { throw PbmemError(status.message()); }

template <typename T>
T unwrap(Result<T> result) {
  if (!result.ok()) raise(result.status());
  return std::move(result).value();
}

// NumPy's name for a pbmem dtype, or nullptr when NumPy has no equivalent (bfloat16, string).
const char* numpy_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
      return "float32";
    case DType::kDouble:
      return "float64";
    case DType::kHalf:
      return "float16";
    case DType::kInt8:
      return "int8";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUInt8:
      return "uint8";
    case DType::kUInt16:
      return "uint16";
    case DType::kUInt32:
      return "uint32";
    case DType::kUInt64:
      return "uint64";
    case DType::kBool:
      return "bool";
    default:
      return nullptr;
  }
}

py::object numpy_dtype(DType dtype) {
  const char* name = numpy_dtype_name(dtype);
  if (name == nullptr) return py::none();
  return py::dtype(name);
}

py::object shape_tuple(const Shape& shape) {
  if (!shape.known_rank()) return py::none();
  py::list dims;
  for (int64_t d : shape.dims()) {
    if (d == kUnknownDim) {
      dims.append(py::none());
    } else {
      dims.append(d);
    }
  }
  return py::tuple(dims);
}

// (name, numpy dtype or None, shape tuple or None); __init__.py wraps it in a TensorSpec.
py::tuple spec_tuple(const TensorSpec& spec) {
  return py::make_tuple(spec.name, numpy_dtype(spec.dtype), shape_tuple(spec.shape));
}

py::list spec_list(const std::vector<TensorSpec>& specs) {
  py::list out;
  for (const TensorSpec& spec : specs) out.append(spec_tuple(spec));
  return out;
}

// A Session and the lock that keeps two Python threads from running it at once.
struct CachedSession {
  std::unique_ptr<Session> session;
  std::mutex mutex;
};

using SessionKey =
    std::tuple<std::vector<std::string>, int, std::map<std::string, std::vector<int64_t>>>;

// Locks a session's mutex without holding the GIL while waiting: a thread holding the mutex may
// need the GIL (to copy outputs), so blocking on the mutex with the GIL held could deadlock.
std::unique_lock<std::mutex> lock_released(CachedSession& cached) {
  std::unique_lock<std::mutex> lock(cached.mutex, std::defer_lock);
  py::gil_scoped_release release;
  lock.lock();
  return lock;
}

py::dict allocator_dict(const AllocatorStats& stats) {
  py::dict out;
  out["num_allocs"] = stats.num_allocs;
  out["bytes_in_use"] = stats.bytes_in_use;
  out["peak_bytes_in_use"] = stats.peak_bytes_in_use;
  out["largest_alloc_size"] = stats.largest_alloc_size;
  out["bytes_limit"] = stats.bytes_limit;
  return out;
}

// The keys of `pbmem plan --json` (src/cli/memory_report.cc), plus ascii_plan.
py::dict plan_dict(const MemoryPlanReport& report) {
  py::dict shapes;
  for (const auto& [name, shape] : report.input_shapes) shapes[py::str(name)] = shape_tuple(shape);
  py::list live;
  for (const LiveTensor& t : report.live_at_peak) {
    py::dict entry;
    entry["name"] = t.name;
    entry["op"] = t.op;
    entry["bytes"] = t.bytes;
    entry["first_step"] = t.first_step;
    entry["last_step"] = t.last_step;
    live.append(entry);
  }
  py::dict out;
  out["predicted_peak_bytes"] = report.predicted_peak_bytes;
  out["arena_bytes"] = report.arena_bytes;
  out["lower_bound_bytes"] = report.lower_bound_bytes;
  out["naive_bytes"] = report.naive_bytes;
  out["weights_bytes"] = report.weights_packed_bytes + report.weights_mapped_bytes;
  out["weights_packed_bytes"] = report.weights_packed_bytes;
  out["weights_mapped_bytes"] = report.weights_mapped_bytes;
  out["weights_mapped_layers"] = report.weights_mapped_layers;
  out["weights_packed_layers"] = report.weights_packed_layers;
  out["scratch_bytes"] = report.scratch_bytes;
  out["io_bytes"] = report.io_bytes;
  out["peak_step"] = report.peak_step;
  out["peak_node"] = report.peak_node;
  out["default_order_lower_bound_bytes"] = report.default_order_lower_bound_bytes;
  out["scheduled_order_lower_bound_bytes"] = report.scheduled_order_lower_bound_bytes;
  out["num_steps"] = report.num_steps;
  out["fused_nodes"] = report.fused_nodes;
  out["input_shapes"] = shapes;
  out["live_at_peak"] = live;
  out["ascii_plan"] = report.ascii_plan;
  return out;
}

// The keys of `pbmem run --stats-json` but peak_rss_bytes (a process figure, not a session's).
py::dict stats_dict(const SessionStats& stats) {
  py::dict by_category;
  for (int c = 0; c < kNumMemoryCategories; ++c) {
    by_category[py::str(memory_category_name(static_cast<MemoryCategory>(c)))] =
        stats.run_peak_by_category[static_cast<size_t>(c)];
  }
  py::dict out;
  out["max_bytes_in_use"] = stats.run.peak_bytes_in_use;
  out["bytes_in_use"] = stats.run.bytes_in_use;
  out["bytes_limit"] = stats.run.bytes_limit;
  out["num_allocs"] = stats.run.num_allocs;
  out["largest_alloc_size"] = stats.run.largest_alloc_size;
  out["predicted_peak_bytes"] = stats.predicted_peak_bytes;
  out["weights_mapped_bytes"] = stats.weights_mapped_bytes;
  out["by_category"] = by_category;
  out["lifetime"] = allocator_dict(stats.lifetime);
  return out;
}

class PyModel {
 public:
  PyModel(std::shared_ptr<Model> model, int threads, int64_t memory_limit, WeightsMode weights)
      : model_(std::move(model)), threads_(threads), memory_limit_(memory_limit), weights_(weights) {}

  std::string path() const { return model_->path(); }
  int threads() const { return threads_; }
  int64_t memory_limit() const { return memory_limit_; }
  std::string weights() const { return weights_mode_name(weights_); }
  py::list inputs() const { return spec_list(model_->inputs()); }
  py::list outputs() const { return spec_list(model_->outputs()); }

  py::dict summary() const {
    ModelSummary s = model_->summary();
    py::dict ops;
    for (const OpCount& c : s.op_histogram) ops[py::str(c.op)] = c.count;
    py::dict out;
    out["path"] = s.path;
    out["file_bytes"] = s.file_bytes;
    out["num_nodes"] = s.num_nodes;
    out["inputs"] = spec_list(s.inputs);
    out["outputs"] = spec_list(s.outputs);
    out["op_histogram"] = ops;
    out["num_params"] = s.num_params;
    out["weight_bytes"] = s.weight_bytes;
    out["unsupported"] = s.unsupported;
    return out;
  }

  // feeds: name -> array-like; outputs: names (empty: the graph's sinks); input_shapes: name ->
  // dims. __init__.py has checked the argument types. With trace_text, the run is traced and
  // its Chrome trace (runtime/trace.h) returned there.
  py::dict run(const py::dict& feeds, const std::vector<std::string>& outputs,
               const std::map<std::string, std::vector<int64_t>>& input_shapes,
               std::string* trace_text = nullptr) {
    std::map<std::string, Tensor> tensors;
    for (const auto& item : feeds) {
      std::string name = py::cast<std::string>(item.first);
      tensors.emplace(name, to_tensor(name, py::reinterpret_borrow<py::object>(item.second)));
    }
    CachedSession& cached = session_for(outputs, input_shapes);
    // Held until the outputs are copied: the next run() overwrites the session's output buffers.
    std::unique_lock<std::mutex> lock(cached.mutex, std::defer_lock);
    Result<std::map<std::string, Tensor>> results = Status(StatusCode::kInternal, "not run");
    TraceRecorder recorder(*cached.session);
    RunOptions run_options;
    if (trace_text) run_options.observer = &recorder;
    {
      py::gil_scoped_release release;
      lock.lock();
      results = cached.session->run(tensors, run_options);
      if (results.ok() && trace_text) *trace_text = recorder.trace_text(model_->path());
    }
    if (!results.ok()) raise(results.status());
    py::dict out;
    for (const std::string& name : cached.session->output_names()) {
      auto it = results->find(name);
      if (it == results->end()) raise(internal_error("output '", name, "' was not returned"));
      out[py::str(name)] = to_array(name, it->second);
    }
    return out;
  }

  // Prepares the session run(feeds, outputs) uses (the one without input_shapes) for these
  // shapes; batch > 0 gives every required input whose first dim is unknown that first dim
  // (input_shapes override it). The shapes are not kept as SessionOptions, so a later run() with
  // the same shapes reuses this plan.
  py::dict plan(const std::vector<std::string>& outputs,
                const std::map<std::string, std::vector<int64_t>>& input_shapes, int64_t batch) {
    std::map<std::string, Shape> shapes;
    for (const auto& [name, dims] : input_shapes) shapes[name] = Shape(dims);
    if (batch > 0) apply_batch(batch, &shapes);
    CachedSession& cached = session_for(outputs, {});
    Result<MemoryPlanReport> report = Status(StatusCode::kInternal, "not planned");
    {
      std::unique_lock<std::mutex> lock(cached.mutex, std::defer_lock);
      py::gil_scoped_release release;
      lock.lock();
      report = cached.session->plan(shapes);
    }
    if (!report.ok()) raise(report.status());
    return plan_dict(*report);
  }

  // The largest batch whose predicted peak fits memory_limit (runtime/fit.h). A given shape of a
  // batched input supplies its other dims; its first dim is searched.
  py::dict fit(int64_t memory_limit, const std::vector<std::string>& outputs,
               const std::map<std::string, std::vector<int64_t>>& input_shapes) {
    FitOptions options;
    options.memory_limit = memory_limit;
    options.outputs = outputs;
    options.num_threads = threads_;
    options.weights = weights_;
    const Graph& graph = model_->graph();
    for (const auto& [name, dims] : input_shapes) {
      Shape shape(dims);
      Result<TensorRef> ref = graph.resolve(name);
      for (const TensorSpec& spec : model_->inputs()) {
        if (ref.ok() && graph.node(ref->node).name == spec.name && spec.shape.known_rank() &&
            spec.shape.rank() > 0 && spec.shape.dim(0) == kUnknownDim && shape.rank() > 0) {
          shape.dim(0) = kUnknownDim;
        }
      }
      options.input_shapes[name] = shape;
    }
    Result<FitResult> result = Status(StatusCode::kInternal, "not fitted");
    {
      py::gil_scoped_release release;
      result = fit_batch(model_, options);
    }
    if (!result.ok()) raise(result.status());
    py::dict out;
    out["max_batch"] = result->max_batch;
    out["peak_bytes_at_max"] = result->peak_bytes_at_max;
    out["peak_bytes_at_next"] = result->peak_bytes_at_next;
    out["memory_limit"] = memory_limit;
    out["peak_bytes_at_1"] = result->peak_bytes_at_1;
    out["batched_inputs"] = result->batched_inputs;
    return out;
  }

  py::dict stats() {
    CachedSession& cached = last_session("stats()");
    std::unique_lock<std::mutex> lock = lock_released(cached);
    return stats_dict(cached.session->stats());
  }

  // TF's MaxBytesInUse / BytesInUse / BytesLimit of the last run.
  int64_t max_bytes_in_use() {
    CachedSession& cached = last_session("max_bytes_in_use()");
    std::unique_lock<std::mutex> lock = lock_released(cached);
    return cached.session->max_bytes_in_use();
  }
  int64_t bytes_in_use() {
    CachedSession& cached = last_session("bytes_in_use()");
    std::unique_lock<std::mutex> lock = lock_released(cached);
    return cached.session->bytes_in_use();
  }
  int64_t bytes_limit() {
    CachedSession& cached = last_session("bytes_limit()");
    std::unique_lock<std::mutex> lock = lock_released(cached);
    return cached.session->bytes_limit();
  }

 private:
  // The dtype an input name ("x" or "x:0") expects; errors list the model's inputs.
  DType expected_dtype(const std::string& name) const {
    const Graph& graph = model_->graph();
    Result<TensorRef> ref = graph.resolve(name);
    if (ref.ok() && ref->port == 0) {
      const std::string& op = graph.node(ref->node).op;
      const auto& infos = model_->infos()[static_cast<size_t>(ref->node)];
      if ((op == "Placeholder" || op == "PlaceholderWithDefault") && !infos.empty()) {
        return infos[0].dtype;
      }
    }
    std::string list;
    for (const TensorSpec& spec : model_->inputs()) {
      list += str_cat(list.empty() ? "" : ", ", spec.name, " (", dtype_name(spec.dtype), " ",
                      spec.shape.str(), ")");
    }
    raise(not_found("'", name, "' is not an input of '", model_->path(),
                    "'; its inputs are: ", list.empty() ? std::string("(none)") : list));
  }

  // Copies an array-like into a pbmem tensor: C order, and exactly the input's dtype.
  Tensor to_tensor(const std::string& name, const py::object& value) const {
    DType expected = expected_dtype(name);
    py::module_ numpy = py::module_::import("numpy");
    // order="C" copies only when needed and keeps 0-d arrays 0-d (ascontiguousarray does not).
    py::array array = numpy.attr("asarray")(value, py::arg("order") = "C");
    const char* expected_name = numpy_dtype_name(expected);
    if (expected_name == nullptr) {
      raise(unimplemented("input '", name, "' has dtype ", dtype_name(expected),
                          ", which cannot be fed from NumPy"));
    }
    if (!array.dtype().equal(py::dtype(expected_name))) {
      std::string given = py::str(array.dtype());
      raise(invalid_argument("input '", name, "' expects dtype ", expected_name, ", got ", given,
                             " (pbmem does not cast: convert with .astype(np.", expected_name,
                             "))"));
    }
    if (!(array.flags() & py::array::c_style)) {
      raise(internal_error("input '", name, "': NumPy returned a non-C-contiguous array"));
    }
    std::vector<int64_t> dims(array.shape(), array.shape() + array.ndim());
    Tensor tensor = unwrap(Tensor::allocate(expected, Shape(std::move(dims))));
    if (static_cast<size_t>(array.nbytes()) != tensor.num_bytes()) {
      raise(internal_error("input '", name, "': array has ", array.nbytes(), " bytes, expected ",
                           tensor.num_bytes()));
    }
    if (tensor.num_bytes() > 0) std::memcpy(tensor.raw_data(), array.data(), tensor.num_bytes());
    return tensor;
  }

  static py::array to_array(const std::string& name, const Tensor& tensor) {
    const char* dtype = numpy_dtype_name(tensor.dtype());
    if (dtype == nullptr) {
      raise(unimplemented("output '", name, "' has dtype ", dtype_name(tensor.dtype()),
                          ", which NumPy cannot represent"));
    }
    std::vector<py::ssize_t> shape(tensor.shape().dims().begin(), tensor.shape().dims().end());
    py::array out(py::dtype(dtype), shape);
    if (tensor.num_bytes() > 0)
      std::memcpy(out.mutable_data(), tensor.raw_data(), tensor.num_bytes());
    return out;
  }

  CachedSession& session_for(const std::vector<std::string>& outputs,
                             const std::map<std::string, std::vector<int64_t>>& input_shapes) {
    SessionKey key(outputs, threads_, input_shapes);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) {
      SessionOptions options;
      options.num_threads = threads_;
      options.memory_limit = memory_limit_;
      options.weights = weights_;
      options.outputs = outputs;
      for (const auto& [name, dims] : input_shapes) options.input_shapes[name] = Shape(dims);
      auto cached = std::make_unique<CachedSession>();
      cached->session = unwrap(Session::create(model_, options));
      it = sessions_.emplace(std::move(key), std::move(cached)).first;
    }
    last_ = it->second.get();
    return *last_;
  }

  CachedSession& last_session(const char* what) const {
    if (last_ == nullptr) {
      raise(invalid_argument(what, ": no run() or plan() yet on '", model_->path(),
                                "'; memory stats describe the session of the last run() or "
                                "plan() call"));
    }
    return *last_;
  }

  // Mirrors `pbmem plan --batch` (src/cli/plan.cc): inputs with a default keep it.
  void apply_batch(int64_t batch, std::map<std::string, Shape>* shapes) const {
    const Graph& graph = model_->graph();
    std::vector<int> given;
    for (const auto& entry : *shapes) {
      Result<TensorRef> ref = graph.resolve(entry.first);
      if (ref.ok()) given.push_back(ref->node);
    }
    bool any_unknown_batch = false;
    for (const TensorSpec& spec : model_->inputs()) {
      if (spec.has_default || !spec.shape.known_rank() || spec.shape.rank() == 0 ||
          spec.shape.dim(0) != kUnknownDim) {
        continue;
      }
      any_unknown_batch = true;
      if (std::find(given.begin(), given.end(), graph.find(spec.name)) != given.end()) continue;
      Shape shape = spec.shape;
      shape.dim(0) = batch;
      (*shapes)[spec.name] = shape;
    }
    if (!any_unknown_batch) {
      std::string list;
      for (const TensorSpec& spec : model_->inputs()) {
        list += str_cat(list.empty() ? "" : ", ", spec.name, " (", dtype_name(spec.dtype), " ",
                        spec.shape.str(), ")");
      }
      raise(invalid_argument("batch=", batch, ": no input of '", model_->path(),
                             "' has an unknown first dimension (its inputs are: ",
                             list.empty() ? std::string("none") : list,
                             "); give input_shapes instead"));
    }
  }

  std::shared_ptr<Model> model_;
  int threads_;
  int64_t memory_limit_;
  WeightsMode weights_;
  std::map<SessionKey, std::unique_ptr<CachedSession>> sessions_;  // guarded by the GIL
  CachedSession* last_ = nullptr;  // of the last run() or plan(); guarded by the GIL
};

std::unique_ptr<PyModel> load(const std::string& path, int threads, int64_t memory_limit,
                              const std::string& weights) {
  if (threads < 0) raise(invalid_argument("threads must be >= 0 (0 = all cores), got ", threads));
  if (memory_limit < 0) {
    raise(invalid_argument("memory_limit must be >= 0 bytes (0 = none), got ", memory_limit));
  }
  const WeightsMode mode = unwrap(parse_weights_mode(weights, "weights"));
  std::shared_ptr<Model> model = unwrap(Model::load(path));
  return std::make_unique<PyModel>(std::move(model), threads, memory_limit, mode);
}

// Runs fn, turning every C++ or Python failure into pbmem.Error.
template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const PbmemError&) {
    throw;
  } catch (py::error_already_set& e) {
    throw PbmemError(e.what());
  } catch (const std::bad_alloc&) {
    throw PbmemError("out of memory");
  } catch (const std::exception& e) {
    throw PbmemError(std::string("unexpected failure: ") + e.what());
  }
}

}  // namespace
}  // namespace pbmem

PYBIND11_MODULE(_pbmem, m) {
  using pbmem::guarded;
  using pbmem::PyModel;
  m.doc() = "pbmem's C++ core; use the `pbmem` package instead of this module.";
  py::register_exception<pbmem::PbmemError>(m, "Error", PyExc_RuntimeError);
  m.attr("__version__") = pbmem::kPbmemVersion;

  py::class_<PyModel>(m, "Model")
      .def_property_readonly("path", &PyModel::path)
      .def_property_readonly("threads", &PyModel::threads)
      .def_property_readonly("memory_limit", &PyModel::memory_limit)
      .def_property_readonly("weights", &PyModel::weights)
      .def("inputs", [](const PyModel& self) { return guarded([&] { return self.inputs(); }); })
      .def("outputs", [](const PyModel& self) { return guarded([&] { return self.outputs(); }); })
      .def("summary", [](const PyModel& self) { return guarded([&] { return self.summary(); }); })
      .def(
          "run",
          [](PyModel& self, const py::dict& feeds, const std::vector<std::string>& outputs,
             const std::map<std::string, std::vector<int64_t>>& input_shapes) {
            return guarded([&] { return self.run(feeds, outputs, input_shapes); });
          },
          py::arg("feeds"), py::arg("outputs"), py::arg("input_shapes"))
      .def(
          "run_traced",
          [](PyModel& self, const py::dict& feeds, const std::vector<std::string>& outputs,
             const std::map<std::string, std::vector<int64_t>>& input_shapes) {
            return guarded([&] {
              std::string trace;
              py::dict out = self.run(feeds, outputs, input_shapes, &trace);
              return py::make_tuple(out, py::str(trace));
            });
          },
          py::arg("feeds"), py::arg("outputs"), py::arg("input_shapes"))
      .def(
          "plan",
          [](PyModel& self, const std::vector<std::string>& outputs,
             const std::map<std::string, std::vector<int64_t>>& input_shapes, int64_t batch) {
            return guarded([&] { return self.plan(outputs, input_shapes, batch); });
          },
          py::arg("outputs"), py::arg("input_shapes"), py::arg("batch"))
      .def(
          "fit",
          [](PyModel& self, int64_t memory_limit, const std::vector<std::string>& outputs,
             const std::map<std::string, std::vector<int64_t>>& input_shapes) {
            return guarded([&] { return self.fit(memory_limit, outputs, input_shapes); });
          },
          py::arg("memory_limit"), py::arg("outputs"), py::arg("input_shapes"))
      .def("stats", [](PyModel& self) { return guarded([&] { return self.stats(); }); })
      .def("max_bytes_in_use",
           [](PyModel& self) { return guarded([&] { return self.max_bytes_in_use(); }); })
      .def("bytes_in_use",
           [](PyModel& self) { return guarded([&] { return self.bytes_in_use(); }); })
      .def("bytes_limit",
           [](PyModel& self) { return guarded([&] { return self.bytes_limit(); }); });

  m.def(
      "load",
      [](const std::string& path, int threads, int64_t memory_limit, const std::string& weights) {
        return guarded([&] { return pbmem::load(path, threads, memory_limit, weights); });
      },
      py::arg("path"), py::arg("threads") = 0, py::arg("memory_limit") = 0,
      py::arg("weights") = "packed");
  m.def(
      "parse_byte_size",
      [](const std::string& text, const std::string& what) {
        return guarded([&] {
          pbmem::ByteSizeOptions options;
          options.what = what;
          return pbmem::unwrap(pbmem::parse_byte_size(text, options));
        });
      },
      py::arg("text"), py::arg("what"));
  m.def("supported_ops", [] { return guarded([] { return pbmem::OpRegistry::global().ops(); }); });
}

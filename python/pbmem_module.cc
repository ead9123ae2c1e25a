// The `_pbmem` extension behind the `pbmem` Python package (python/pbmem/__init__.py holds the
// public API of docs/PYTHON_API.md and does argument checking; this file bridges to the C++ API).
//
// Safety rules: every failure raises pbmem.Error (never a crash, never another exception type);
// inputs are copied into pbmem tensors and outputs copied into new NumPy arrays, so no Python
// object is touched without the GIL and no array ever points at freed memory; the GIL is released
// while the model runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "cli/version.h"
#include "kernels/kernel.h"
#include "runtime/model.h"

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

class PyModel {
 public:
  PyModel(std::shared_ptr<Model> model, int threads)
      : model_(std::move(model)), threads_(threads) {}

  std::string path() const { return model_->path(); }
  int threads() const { return threads_; }
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
  // dims. __init__.py has checked the argument types.
  py::dict run(const py::dict& feeds, const std::vector<std::string>& outputs,
               const std::map<std::string, std::vector<int64_t>>& input_shapes) {
    std::map<std::string, Tensor> tensors;
    for (const auto& item : feeds) {
      std::string name = py::cast<std::string>(item.first);
      tensors.emplace(name, to_tensor(name, py::reinterpret_borrow<py::object>(item.second)));
    }
    CachedSession& cached = session_for(outputs, input_shapes);
    Result<std::map<std::string, Tensor>> results = Status(StatusCode::kInternal, "not run");
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(cached.mutex);
      results = cached.session->run(tensors);
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
    if (it != sessions_.end()) return *it->second;
    SessionOptions options;
    options.num_threads = threads_;
    options.outputs = outputs;
    for (const auto& [name, dims] : input_shapes) options.input_shapes[name] = Shape(dims);
    auto cached = std::make_unique<CachedSession>();
    cached->session = unwrap(Session::create(model_, options));
    return *sessions_.emplace(std::move(key), std::move(cached)).first->second;
  }

  std::shared_ptr<Model> model_;
  int threads_;
  std::map<SessionKey, std::unique_ptr<CachedSession>> sessions_;  // guarded by the GIL
};

std::unique_ptr<PyModel> load(const std::string& path, int threads) {
  if (threads < 0) raise(invalid_argument("threads must be >= 0 (0 = all cores), got ", threads));
  std::shared_ptr<Model> model = unwrap(Model::load(path));
  return std::make_unique<PyModel>(std::move(model), threads);
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
      .def("inputs", [](const PyModel& self) { return guarded([&] { return self.inputs(); }); })
      .def("outputs", [](const PyModel& self) { return guarded([&] { return self.outputs(); }); })
      .def("summary", [](const PyModel& self) { return guarded([&] { return self.summary(); }); })
      .def(
          "run",
          [](PyModel& self, const py::dict& feeds, const std::vector<std::string>& outputs,
             const std::map<std::string, std::vector<int64_t>>& input_shapes) {
            return guarded([&] { return self.run(feeds, outputs, input_shapes); });
          },
          py::arg("feeds"), py::arg("outputs"), py::arg("input_shapes"));

  m.def(
      "load",
      [](const std::string& path, int threads) {
        return guarded([&] { return pbmem::load(path, threads); });
      },
      py::arg("path"), py::arg("threads") = 0);
  m.def("supported_ops", [] { return guarded([] { return pbmem::OpRegistry::global().ops(); }); });
}

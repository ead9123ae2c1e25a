// The public C++ API.
//
//   auto model = pbmem::Model::load("model.pb");          // mmap + parse + IR + checks
//   if (!model.ok()) { ... model.status().message() ... }
//   pbmem::Session session(**model, {.num_threads = 2});
//   auto outputs = session.run({{"x", input_tensor}});    // names: "x" or "x:0"
//
// Data flows one way: file -> IR -> shapes -> plan -> executor -> outputs + stats.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/ir.h"
#include "kernels/kernel.h"

namespace pbmem {

struct TensorSpec {
  std::string name;  // "x:0" style for outputs with port > 0, plain node name otherwise
  DType dtype = DType::kInvalid;
  Shape shape;       // partial: unknown dims are kUnknownDim
  bool has_default = false;  // PlaceholderWithDefault: feeding it is optional
};

struct OpCount {
  std::string op;
  int64_t count = 0;
};

// What `pbmem inspect` shows. Computed without touching weight bytes.
struct ModelSummary {
  std::string path;
  uint64_t file_bytes = 0;
  int64_t num_nodes = 0;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<OpCount> op_histogram;  // most frequent first
  int64_t num_params = 0;             // elements of floating-point Const tensors
  int64_t weight_bytes = 0;           // bytes of all Const tensors
  std::vector<std::string> unsupported;  // "OpType (node 'a', node 'b')"
};

class Model {
 public:
  struct Options {
    // Checks every op is supported and fails with the full list when not. `inspect` turns it
    // off to report them instead.
    bool require_supported_ops = true;
  };
  static Result<std::shared_ptr<Model>> load(const std::string& path, const Options& options);
  static Result<std::shared_ptr<Model>> load(const std::string& path) { return load(path, Options()); }
  static Result<std::shared_ptr<Model>> from_bytes(std::string bytes, const Options& options);

  const Graph& graph() const { return graph_; }
  const std::string& path() const { return path_; }
  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  ModelSummary summary() const;
  // Load-time (partial) info of every node output: infos()[node][port].
  const std::vector<std::vector<TensorInfo>>& infos() const { return infos_; }
  // Kernel factory per node (nullptr for unsupported ops).
  KernelFactory factory(int node) const { return factories_[static_cast<size_t>(node)]; }

  Model(Graph graph, std::string path);
  ~Model();

 private:
  friend class Session;
  Status initialise(const Options& options);
  Graph graph_;
  std::string path_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  std::vector<std::vector<TensorInfo>> infos_;
  std::vector<KernelFactory> factories_;
  std::vector<std::string> unsupported_;  // "OpType (node 'a', node 'b')"
};

struct SessionOptions {
  int num_threads = 0;  // 0: all cores
  // Output tensor names to compute; empty: the graph's sinks.
  std::vector<std::string> outputs;
  // Shapes to use for inputs whose dims are unknown in the graph (before inputs are given).
  std::map<std::string, Shape> input_shapes;
};

class Session {
 public:
  // Fails when an output name is unknown, the thread count is negative, or the pruned graph has
  // unsupported ops.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options);
  ~Session();

  // Runs with inputs keyed by name ("x" or "x:0"). Returns the requested outputs keyed by the
  // names they were requested with (or the sink names). Errors name the input and the expected
  // dtype/shape. Missing inputs with a PlaceholderWithDefault use the default.
  Result<std::map<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs);

  const std::vector<std::string>& output_names() const;

 private:
  Session();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pbmem

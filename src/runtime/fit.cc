// fit_batch: doubling then binary search of the batch over Session::predict (see fit.h).
#include "runtime/fit.h"

#include <algorithm>

#include "core/byte_size.h"
#include "runtime/batch_search.h"

namespace pbmem {

namespace {

// The predicted peak at one candidate batch and whether it is within the limit. A batch whose
// sizes overflow or whose weights alone cannot be packed under the limit does not fit; its
// peak is then only known to exceed the limit.
struct Probe {
  bool fits = false;
  int64_t peak = 0;
};

class BatchProber {
 public:
  BatchProber(Session& session, const BatchSearchParams& params) : session_(session), params_(params) {}

  Result<Probe> at(int64_t batch) {
    auto cached = probes_.find(batch);
    if (cached != probes_.end()) return cached->second;
    std::map<std::string, Shape> shapes = params_.shapes;
    for (const std::string& name : params_.batched) shapes[name].dim(0) = batch;
    Result<MemoryPlanReport> report = session_.predict(shapes);
    Probe probe;
    if (report.ok()) {
      probe.peak = report->predicted_peak_bytes;
      probe.fits = probe.peak <= params_.memory_limit;
    } else if (report.status().code() == StatusCode::kOutOfRange) {
      probe.peak = INT64_MAX;  // sizes at this batch overflow int64: far beyond any limit
    } else if (report.status().code() == StatusCode::kResourceExhausted && batch > 1) {
      // Packing this batch's weights crossed the limit (oneDNN may pick batch-dependent
      // layouts); batch 1's failure is the caller's error (no batch fits).
      probe.peak = params_.memory_limit + 1;
    } else {
      return report.status();
    }
    probes_[batch] = probe;
    return probe;
  }

 private:
  Session& session_;
  const BatchSearchParams& params_;
  std::map<int64_t, Probe> probes_;
};

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

}  // namespace

std::vector<std::string> batched_input_names(const Model& model,
                                             const std::map<std::string, Shape>& input_shapes) {
  std::vector<std::string> names;
  for (const TensorSpec& spec : model.inputs()) {
    auto given = input_shapes.find(spec.name);
    const Shape& shape = given != input_shapes.end() ? given->second : spec.shape;
    if (spec.has_default && given == input_shapes.end()) continue;
    if (shape.known_rank() && shape.rank() > 0 && shape.dim(0) == kUnknownDim) names.push_back(spec.name);
  }
  return names;
}

Result<FitResult> search_max_batch(Session& session, const BatchSearchParams& params) {
  if (params.batched.empty()) return invalid_argument("the batch search needs a batched input");
  BatchProber prober(session, params);
  FitResult result;
  result.batched_inputs = join(params.batched);
  PBMEM_ASSIGN_OR_RETURN(Probe first, prober.at(1));
  result.peak_bytes_at_1 = first.peak;
  if (!first.fits) {
    result.peak_bytes_at_next = first.peak;
    return result;
  }
  // Doubling: `fits` fits, `over` (if <= ceiling) does not.
  int64_t fits = 1;
  int64_t over = params.max_batch + 1;
  for (int64_t batch = 2; batch <= params.max_batch; batch = batch > params.max_batch / 2 ? params.max_batch : batch * 2) {
    PBMEM_ASSIGN_OR_RETURN(Probe probe, prober.at(batch));
    if (!probe.fits) {
      over = batch;
      break;
    }
    fits = batch;
    if (batch == params.max_batch) break;
  }
  while (over - fits > 1) {
    int64_t middle = fits + (over - fits) / 2;
    PBMEM_ASSIGN_OR_RETURN(Probe probe, prober.at(middle));
    (probe.fits ? fits : over) = middle;
  }
  result.max_batch = fits;
  PBMEM_ASSIGN_OR_RETURN(Probe at_max, prober.at(fits));
  result.peak_bytes_at_max = at_max.peak;
  if (fits < params.max_batch) {
    PBMEM_ASSIGN_OR_RETURN(Probe next, prober.at(fits + 1));
    result.peak_bytes_at_next = next.peak;
  }
  return result;
}

Result<FitResult> fit_batch(std::shared_ptr<const Model> model, const FitOptions& options) {
  if (!model) return invalid_argument("fit: no model given");
  if (options.memory_limit <= 0) {
    return invalid_argument("fit: the memory limit must be a positive number of bytes, got ", options.memory_limit);
  }
  if (options.max_batch < 1) {
    return invalid_argument("fit: the batch ceiling must be >= 1, got ", options.max_batch);
  }
  // Input names as the graph spells its inputs ("x:0" -> "x").
  std::map<std::string, Shape> input_shapes;
  for (const auto& [name, shape] : options.input_shapes) {
    auto ref = model->graph().resolve(name);
    input_shapes[ref.ok() && ref->port == 0 ? model->graph().node(ref->node).name : name] = shape;
  }
  BatchSearchParams params;
  params.memory_limit = options.memory_limit;
  params.max_batch = options.max_batch;
  params.batched = batched_input_names(*model, input_shapes);
  if (params.batched.empty()) {
    std::string inputs;
    for (const TensorSpec& spec : model->inputs()) inputs += (inputs.empty() ? "" : ", ") + spec.name + spec.shape.str();
    return invalid_argument("fit: no input of '", model->path(), "' has an unknown first (batch) dimension (inputs: ",
                            inputs.empty() ? std::string("none") : inputs,
                            "); there is no batch to search. Give an input shape whose first dim is -1 to batch it");
  }
  // Every input gets a shape: the given one, else the graph's (checked by predict()).
  for (const TensorSpec& spec : model->inputs()) {
    if (spec.has_default && !input_shapes.count(spec.name)) continue;
    params.shapes[spec.name] = input_shapes.count(spec.name) ? input_shapes.at(spec.name) : spec.shape;
  }
  SessionOptions session_options;
  session_options.memory_limit = options.memory_limit;
  session_options.outputs = options.outputs;
  session_options.num_threads = options.num_threads;
  session_options.weights = options.weights;
  // The batched inputs' first dim changes per candidate: only the graph's shapes constrain them.
  for (const auto& [name, shape] : input_shapes) {
    if (std::find(params.batched.begin(), params.batched.end(), name) == params.batched.end()) {
      session_options.input_shapes[name] = shape;
    }
  }
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, session_options));
  return search_max_batch(*session, params);
}

}  // namespace pbmem

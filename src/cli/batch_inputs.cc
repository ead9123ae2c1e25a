// Scanning `--input-dir`: see batch_inputs.h.
#include "cli/batch_inputs.h"

#include <algorithm>
#include <filesystem>

#include "cli/input_args.h"
#include "io/npy.h"

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

constexpr char kNpyExtension[] = ".npy";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The sample shape with unknown dims filled from `dims` (a file's sample dims), or an error
// when a known dim disagrees.
bool fill_unknown_dims(const Shape& declared_sample, const std::vector<int64_t>& dims, Shape* out) {
  if (static_cast<int>(dims.size()) != declared_sample.rank()) return false;
  std::vector<int64_t> filled = declared_sample.dims();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (filled[i] == kUnknownDim) filled[i] = dims[i];
    if (filled[i] != dims[i]) return false;
  }
  *out = Shape(filled);
  return true;
}

Shape drop_first_dim(const Shape& shape) {
  return Shape(std::vector<int64_t>(shape.dims().begin() + 1, shape.dims().end()));
}

// How a parsed file fits the input: its sample count and whether it is stacked, or why not.
struct FileFit {
  bool ok = false;
  int64_t samples = 0;
  bool stacked = false;
  std::string reason;
};

FileFit fit_file(const Tensor& tensor, const TensorSpec& input, const Shape& sample_shape) {
  FileFit fit;
  const Shape& shape = tensor.shape();
  if (tensor.dtype() != input.dtype) {
    fit.reason = str_cat("holds ", dtype_name(tensor.dtype()), " ", shape.str(), " but input ",
                         describe_spec(input), " needs ", dtype_name(input.dtype));
    return fit;
  }
  if (shape == sample_shape) {
    fit.ok = true;
    fit.samples = 1;
    return fit;
  }
  if (shape.rank() == sample_shape.rank() + 1 && drop_first_dim(shape) == sample_shape) {
    if (shape.dim(0) == 0) {
      fit.reason = str_cat("has shape ", shape.str(), ": a stacked file needs at least one sample");
      return fit;
    }
    fit.ok = true;
    fit.samples = shape.dim(0);
    fit.stacked = true;
    return fit;
  }
  fit.reason = str_cat("has shape ", shape.str(), " but a sample of input ", describe_spec(input), " is ",
                       sample_shape.str(), " (or N stacked samples: [N,", sample_shape.str().substr(1));
  return fit;
}

}  // namespace

std::string sanitize_output_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '/' || c == ':') c = '_';
  }
  return out;
}

Result<TensorSpec> batched_input(const Model& model) {
  std::vector<TensorSpec> required;
  for (const TensorSpec& spec : model.inputs()) {
    if (!spec.has_default) required.push_back(spec);
  }
  if (required.size() != 1) {
    return invalid_argument("--input-dir feeds one batched input, but ",
                            required.empty() ? std::string("the model has no required input")
                                             : str_cat("the model has ", required.size(), " (", list_inputs(model), ")"),
                            "; run such models with --input NAME=FILE.npy per input");
  }
  const TensorSpec& spec = required[0];
  if (!spec.shape.known_rank() || spec.shape.rank() == 0 || spec.shape.dim(0) != kUnknownDim) {
    return invalid_argument("--input-dir batches along the first dim of input ", describe_spec(spec),
                            ", which is not an unknown (batch) dim; run it with --input NAME=FILE.npy");
  }
  if (!npy_can_store(spec.dtype)) {
    return unimplemented("input ", describe_spec(spec), " is ", dtype_name(spec.dtype),
                         ", which .npy files cannot hold");
  }
  return spec;
}

Result<InputDirScan> scan_input_dir(const std::string& dir, const TensorSpec& input) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return not_found("--input-dir '", dir, "' does not exist");
  if (!fs::is_directory(dir, ec)) return invalid_argument("--input-dir '", dir, "' is not a directory");
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) return io_error("--input-dir '", dir, "': cannot list it: ", ec.message());
  for (const fs::directory_entry& entry : it) {
    if (entry.is_directory(ec)) continue;
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());

  InputDirScan scan;
  const Shape declared_sample = drop_first_dim(input.shape);
  bool sample_known = declared_sample.fully_defined();
  scan.sample_shape = declared_sample;
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    if (!ends_with(name, kNpyExtension)) {
      scan.skipped.push_back({path, "not a .npy file"});
      continue;
    }
    Result<Tensor> tensor = read_npy(path);
    if (!tensor.ok()) {
      scan.skipped.push_back({path, tensor.status().message()});
      continue;
    }
    if (!sample_known && tensor->dtype() == input.dtype) {
      // The first file of the input's dtype and rank (one sample or stacked) sets the unknown dims.
      const std::vector<int64_t>& dims = tensor->shape().dims();
      std::vector<int64_t> sample_dims = dims;
      if (static_cast<int>(dims.size()) == declared_sample.rank() + 1) sample_dims.erase(sample_dims.begin());
      sample_known = fill_unknown_dims(declared_sample, sample_dims, &scan.sample_shape);
    }
    if (!sample_known) {
      scan.skipped.push_back({path, str_cat("holds ", dtype_name(tensor->dtype()), " ", tensor->shape().str(),
                                            ", which does not match input ", describe_spec(input))});
      continue;
    }
    FileFit fit = fit_file(*tensor, input, scan.sample_shape);
    if (!fit.ok) {
      scan.skipped.push_back({path, fit.reason});
      continue;
    }
    SampleFile file;
    file.path = path;
    file.stem = name.substr(0, name.size() - (sizeof(kNpyExtension) - 1));
    file.samples = fit.samples;
    file.stacked = fit.stacked;
    if (!checked_add(scan.total_samples, fit.samples, &scan.total_samples)) {
      return invalid_argument("--input-dir '", dir, "': the sample count overflows");
    }
    scan.files.push_back(std::move(file));
  }
  if (scan.files.empty()) {
    return invalid_argument("--input-dir '", dir, "' holds no valid .npy sample for input ", describe_spec(input),
                            names.empty() ? std::string(" (it is empty)")
                                          : str_cat(" (", scan.skipped.size(), " file(s) skipped, e.g. '",
                                                    scan.skipped.front().path, "': ", scan.skipped.front().reason, ")"));
  }
  return scan;
}

Result<Tensor> read_sample_file(const SampleFile& file, const TensorSpec& input, const Shape& sample_shape) {
  PBMEM_ASSIGN_OR_RETURN(Tensor tensor, read_npy(file.path));
  FileFit fit = fit_file(tensor, input, sample_shape);
  if (!fit.ok || fit.samples != file.samples || fit.stacked != file.stacked) {
    return invalid_argument("file '", file.path, "' changed during the run: it ",
                            fit.ok ? str_cat("now holds ", fit.samples, " sample(s)") : fit.reason);
  }
  return tensor;
}

}  // namespace pbmem::cli

// The input side of `pbmem run --input-dir DIR`: which files of DIR are samples, what each holds
// and where its outputs go.
//
// Every regular file of DIR is considered, sorted by name (byte order). A file is a sample file
// when it ends in ".npy", parses, has the model input's dtype and either the sample shape (the
// input's shape without its batch dim: one sample) or a leading batch dim over it (stacked
// samples, at least one). Anything else is a bad file: it is reported by name with the rule it
// breaks and skipped. Subdirectories are ignored. Files are read once here to check them (so the
// total is known before the first batch) and read again when their batch runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/status.h"
#include "runtime/model.h"

namespace pbmem::cli {

struct SampleFile {
  std::string path;       // DIR/name.npy
  std::string stem;       // name without ".npy": outputs are OUT/<stem>.npy or OUT/<stem>.<output>.npy
  int64_t samples = 0;    // 1 for a single sample; the leading dim for a stacked file
  bool stacked = false;   // the file has the batch dim (its outputs keep it)
};

struct SkippedFile {
  std::string path;
  std::string reason;  // the rule broken, e.g. "holds int32, the input needs float"
};

struct InputDirScan {
  std::vector<SampleFile> files;
  std::vector<SkippedFile> skipped;
  Shape sample_shape;     // the input's shape without the batch dim, concrete
  int64_t total_samples = 0;
};

// The one input `--input-dir` feeds: the model's single required input, batched along an unknown
// first dim. A model with several required inputs, or whose input has a fixed first dim, is an
// error that says so.
Result<TensorSpec> batched_input(const Model& model);

// Lists and checks DIR. Unknown non-batch dims of the input are taken from the first file that
// has the input's dtype and rank (or rank - 1); later files must agree. Fails when DIR is not a
// readable directory or holds no valid sample file.
Result<InputDirScan> scan_input_dir(const std::string& dir, const TensorSpec& input);

// Reads a file scanned as valid again (it may have changed since: then an error naming it).
Result<Tensor> read_sample_file(const SampleFile& file, const TensorSpec& input, const Shape& sample_shape);

// "conv/out:1" -> "conv_out_1": an output name as part of a file name.
std::string sanitize_output_name(const std::string& name);

}  // namespace pbmem::cli

// The `pbmem` subcommands. Each returns a Status; main() turns a failure into one line on
// stderr ("pbmem: error: <message>") and exit code 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace pbmem::cli {

struct InspectArgs {
  std::string model;
  bool json = false;
};
Status inspect_command(const InspectArgs& args);

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;        // NAME=FILE.npy
  std::vector<std::string> outputs;       // NAME or NAME=FILE.npy
  std::vector<std::string> input_shapes;  // NAME=d0,d1,...
  std::string output_dir;
  int threads = 0;
};
Status run_command(const RunArgs& args);

// Prints "name: dtype [shape]  min=.. max=.. mean=.." and, for a 2-D float tensor with at least
// five columns (class scores), the top-5 indices of each row.
void print_tensor_summary(const std::string& name, const Tensor& tensor);

}  // namespace pbmem::cli

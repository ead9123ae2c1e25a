// The `pbmem` subcommands. Each returns a Status; main() turns a failure into one line on
// stderr ("pbmem: error: <message>") and exit code 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/kernel.h"

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
  std::string stats_json;  // write the run's memory stats here (JSON)
  std::string trace;       // write a Chrome trace of the run here (JSON)
  int threads = 0;
  std::string memory_limit;  // --memory-limit SIZE as given
  bool has_memory_limit = false;
  std::string input_dir;     // --input-dir DIR: batch mode (cli/batch_run.cc)
  std::string batch;         // --batch N or auto, with --input-dir (empty: 1)
  std::string weights = "packed";  // --weights packed|mapped as given
};
Status run_command(const RunArgs& args);

// Exit code of `pbmem run --input-dir` when it completed but skipped bad input files (each
// reported on stderr by name).
inline constexpr int kExitSkippedInputs = 2;
struct BatchRunOutcome {
  int64_t skipped_files = 0;
};
// `pbmem run --input-dir DIR --output-dir OUT [--batch N|auto]`: every .npy of DIR in batches.
Result<BatchRunOutcome> batch_run_command(const RunArgs& args);

struct PlanArgs {
  std::string model;
  std::vector<std::string> input_shapes;  // NAME=d0,d1,...
  std::vector<std::string> outputs;       // NAME: outputs to plan for (default: the graph's sinks)
  // --batch N as given: the first dim of every input whose first dim is unknown.
  std::string batch;
  bool has_batch = false;
  bool json = false;
  bool ascii = false;
  int threads = 0;
  std::string memory_limit;  // --memory-limit SIZE as given
  bool has_memory_limit = false;
  std::string weights = "packed";  // --weights packed|mapped as given
};
// Prepares a session for the given shapes without running it and prints its memory plan.
Status plan_command(const PlanArgs& args);

struct BenchArgs {
  std::string model;
  std::vector<std::string> input_shapes;  // NAME=d0,d1,...
  std::string batch;                      // --batch N as given
  bool has_batch = false;
  int runs = 20;
  int warmup = 3;
  int threads = 0;
  bool json = false;
  bool no_fuse = false;  // time the graph without epilogue fusion (for comparison)
  std::string weights = "packed";  // --weights packed|mapped as given
};
// Times load and repeated runs on random inputs: median/p10/p90 latency, throughput, GFLOP/s.
Status bench_command(const BenchArgs& args);

struct ReportArgs {
  std::string model;
  std::vector<std::string> input_shapes;  // NAME=d0,d1,...
  std::string batch;                      // --batch N as given (default: 1 where needed)
  bool has_batch = false;
  std::string out;                        // the HTML file to write
  int threads = 0;
  std::string weights = "packed";  // --weights packed|mapped as given
};
// Plans the model for the given shapes and writes one self-contained HTML memory report.
Status report_command(const ReportArgs& args);

struct FitArgs {
  std::string model;
  std::string memory_limit;               // --memory-limit SIZE as given (required)
  std::vector<std::string> input_shapes;  // NAME=d0,d1,...: the first dim of a batched input is searched
  std::vector<std::string> outputs;
  bool json = false;
  int threads = 0;
  std::string weights = "packed";  // --weights packed|mapped as given
};
// Finds the largest batch whose predicted peak fits --memory-limit (runtime/fit.h).
Status fit_command(const FitArgs& args);

// `--weights packed|mapped` (SessionOptions::weights); anything else is an error naming the
// flag and the allowed values.
Result<WeightsMode> parse_weights_flag(const std::string& text);

// `--memory-limit SIZE` (see core/byte_size.h for the forms); must be positive.
Result<int64_t> parse_memory_limit_flag(const std::string& text);

// Prints "name: dtype [shape]  min=.. max=.. mean=.." and, for a 2-D float tensor with at least
// five columns (class scores), the top-5 indices of each row.
void print_tensor_summary(const std::string& name, const Tensor& tensor);

}  // namespace pbmem::cli

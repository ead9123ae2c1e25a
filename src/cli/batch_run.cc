// `pbmem run MODEL --input-dir DIR --output-dir OUT [--batch N|auto] [--memory-limit SIZE]
// [--output NAME]... [--stats-json FILE] [--threads N]`: every sample file of DIR
// (cli/batch_inputs.h) through the model in batches of N samples, one output file per input file.
//
// Batches are cut from the samples in file order, so a stacked file may span batches and a batch
// may span files; the last batch is shorter when the samples do not divide evenly. It is never
// padded with fake samples (a graph may couple the samples of a batch). `--batch auto` takes the
// largest batch whose predicted peak fits --memory-limit (runtime/fit.h); N and auto are capped at
// the number of samples.
//
// Pooling: the session keeps its arena, scratch and I/O blocks (SessionOptions::reuse_buffers) and
// the batch input buffer is allocated once at the full batch; the shorter last batch is a view of
// its first rows. The short batch's new plan reuses the cached constants and packed weights too,
// so no batch after the first allocates (see docs/BATCH.md). Allocations are recorded per batch
// in --stats-json ("batches": [{"samples", "num_allocs", ...}]).
//
// Outputs: OUT/<stem>.npy for a model with one output, OUT/<stem>.<output name with / and :
// replaced by _>.npy for several. A single-sample file gives the output sample (no batch dim), a
// stacked file the stacked outputs. Each file is written to a temporary name in OUT and renamed
// (io/npy.h), so OUT only ever holds complete files, even after a failure.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "cli/batch_inputs.h"
#include "cli/batch_progress.h"
#include "cli/commands.h"
#include "cli/input_args.h"
#include "cli/memory_report.h"
#include "io/npy.h"
#include "runtime/fit.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

constexpr char kAutoBatch[] = "auto";

// One batch's allocations and memory, for --stats-json.
struct BatchRecord {
  int64_t samples = 0;
  int64_t num_allocs = 0;          // accounted allocations during run() (its prepare included)
  int64_t max_bytes_in_use = 0;
  int64_t predicted_peak_bytes = 0;
  int64_t pooled_extra_bytes = 0;
  double seconds = 0;              // wall time of the batch: reading, run (and prepare), writing
};

struct BatchSettings {
  int64_t batch = 1;
  int64_t memory_limit = 0;
};

// `--batch N` (input_args.h's rule), where 'auto' is the other accepted form.
Result<int64_t> parse_batch_size(const std::string& text) {
  Result<int64_t> batch = parse_batch_flag(text);
  if (!batch.ok()) {
    return invalid_argument("--batch must be 'auto' or an integer in [1, 2^63), got '", text, "'");
  }
  return batch;
}

Status check_flags(const RunArgs& args) {
  if (args.threads < 0) return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  if (!args.inputs.empty()) {
    return invalid_argument("--input cannot be combined with --input-dir: the inputs are the files of the directory");
  }
  if (!args.input_shapes.empty()) {
    return invalid_argument("--input-shape cannot be combined with --input-dir: the sample shape comes from the files");
  }
  if (args.output_dir.empty()) return invalid_argument("--input-dir needs --output-dir OUT (where the outputs go)");
  for (const std::string& output : args.outputs) {
    if (output.empty() || output.find('=') != std::string::npos) {
      return invalid_argument("--output '", output, "': with --input-dir give output names only (files are named "
                              "after the inputs)");
    }
  }
  std::error_code ec;
  if (fs::exists(args.output_dir, ec) && !fs::is_directory(args.output_dir, ec)) {
    return invalid_argument("--output-dir '", args.output_dir, "' exists and is not a directory");
  }
  if (fs::exists(args.output_dir, ec) && fs::equivalent(args.output_dir, args.input_dir, ec)) {
    return invalid_argument("--output-dir '", args.output_dir, "' is the --input-dir: outputs named after the "
                            "inputs would replace them; choose another directory");
  }
  if (!args.stats_json.empty()) {
    fs::path parent = fs::path(args.stats_json).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
      return invalid_argument("--stats-json '", args.stats_json, "': directory '", parent.string(), "' does not exist");
    }
    if (fs::is_directory(args.stats_json, ec)) return invalid_argument("--stats-json '", args.stats_json, "' is a directory");
  }
  return ok_status();
}

Result<BatchSettings> parse_settings(const RunArgs& args) {
  BatchSettings settings;
  if (args.has_memory_limit) {
    PBMEM_ASSIGN_OR_RETURN(settings.memory_limit, parse_memory_limit_flag(args.memory_limit));
  }
  if (args.batch == kAutoBatch) {
    if (settings.memory_limit == 0) {
      return invalid_argument("--batch auto needs --memory-limit SIZE: it picks the largest batch that fits it");
    }
    settings.batch = 0;  // decided by fit once the sample shape is known
  } else if (!args.batch.empty()) {
    PBMEM_ASSIGN_OR_RETURN(settings.batch, parse_batch_size(args.batch));
  }
  return settings;
}

Shape with_batch(int64_t batch, const Shape& sample) {
  std::vector<int64_t> dims{batch};
  dims.insert(dims.end(), sample.dims().begin(), sample.dims().end());
  return Shape(dims);
}

Result<int64_t> auto_batch(const std::shared_ptr<Model>& model, const RunArgs& args, const TensorSpec& input,
                           const InputDirScan& scan, int64_t memory_limit) {
  FitOptions fit;
  fit.memory_limit = memory_limit;
  fit.input_shapes[input.name] = with_batch(kUnknownDim, scan.sample_shape);
  fit.outputs = args.outputs;
  fit.num_threads = args.threads;
  PBMEM_ASSIGN_OR_RETURN(fit.weights, parse_weights_flag(args.weights));
  fit.max_batch = std::min(fit.max_batch, scan.total_samples);
  PBMEM_ASSIGN_OR_RETURN(FitResult result, fit_batch(model, fit));
  if (result.max_batch < 1) {
    return resource_exhausted("--batch auto: even batch 1 needs ", human_bytes(result.peak_bytes_at_1),
                              " but --memory-limit is ", human_bytes(memory_limit), "; raise the limit");
  }
  return result.max_batch;
}

// Output file of `stem` for output `name`: one output keeps the input's name.
std::string output_path(const std::string& dir, const std::string& stem, const std::string& name, bool several) {
  std::string file = several ? stem + "." + sanitize_output_name(name) + ".npy" : stem + ".npy";
  return (fs::path(dir) / file).string();
}

Status check_output_names(const std::vector<std::string>& names) {
  std::map<std::string, std::string> seen;
  for (const std::string& name : names) {
    auto [it, inserted] = seen.emplace(sanitize_output_name(name), name);
    if (!inserted) {
      return invalid_argument("outputs '", it->second, "' and '", name, "' would both be written to files ending in '.",
                              it->first, ".npy'; request one of them with --output");
    }
  }
  return ok_status();
}

// Rows [first, first + count) of a tensor whose first dim is the batch; `keep_batch_dim` false
// drops that dim (count must be 1).
Tensor rows(const Tensor& t, int64_t first, int64_t count, bool keep_batch_dim) {
  std::vector<int64_t> dims(t.shape().dims().begin() + 1, t.shape().dims().end());
  Shape row_shape(dims);
  const size_t row_bytes = static_cast<size_t>(row_shape.num_elements_unchecked()) * dtype_size(t.dtype());
  if (keep_batch_dim) dims.insert(dims.begin(), count);
  const char* base = static_cast<const char*>(t.raw_data()) + static_cast<size_t>(first) * row_bytes;
  return Tensor::view(t.dtype(), Shape(dims), base, t.holder());
}

// A file's outputs while its samples are spread over several batches.
struct PendingFile {
  size_t file = 0;
  int64_t filled = 0;
  std::map<std::string, Tensor> outputs;
};

class BatchRunner {
 public:
  BatchRunner(const RunArgs& args, const TensorSpec& input, const InputDirScan& scan, Session& session, int64_t batch)
      : args_(args), input_(input), scan_(scan), session_(session), batch_(batch) {}

  Status run_all(std::vector<BatchRecord>* records) {
    PBMEM_ASSIGN_OR_RETURN(buffer_, Tensor::allocate(input_.dtype, with_batch(batch_, scan_.sample_shape)));
    const size_t sample_bytes = buffer_.num_bytes() / static_cast<size_t>(batch_);
    BatchProgress progress(stderr, scan_.total_samples);
    int64_t done = 0;
    while (done < scan_.total_samples) {
      const BatchProgress::Clock::time_point start = BatchProgress::Clock::now();
      const int64_t count = std::min(batch_, scan_.total_samples - done);
      segments_.clear();
      for (int64_t row = 0; row < count;) {
        PBMEM_RETURN_IF_ERROR(load_current_file());
        const SampleFile& file = scan_.files[cursor_file_];
        const int64_t take = std::min(count - row, file.samples - cursor_sample_);
        std::memcpy(static_cast<char*>(buffer_.raw_data()) + static_cast<size_t>(row) * sample_bytes,
                    static_cast<const char*>(current_.raw_data()) + static_cast<size_t>(cursor_sample_) * sample_bytes,
                    static_cast<size_t>(take) * sample_bytes);
        segments_.push_back({cursor_file_, cursor_sample_, take, row});
        row += take;
        cursor_sample_ += take;
        if (cursor_sample_ == file.samples) {
          ++cursor_file_;
          cursor_sample_ = 0;
          current_ = Tensor();
        }
      }
      Tensor fed = Tensor::view(input_.dtype, with_batch(count, scan_.sample_shape), buffer_.raw_data(), buffer_.holder());
      const int64_t allocs_before = session_.stats().lifetime.num_allocs;
      PBMEM_ASSIGN_OR_RETURN(auto results, session_.run({{input_.name, fed}}));
      SessionStats stats = session_.stats();
      records->push_back({count, stats.lifetime.num_allocs - allocs_before, stats.run.peak_bytes_in_use,
                          stats.predicted_peak_bytes, session_.last_plan().pooled_extra_bytes});
      PBMEM_RETURN_IF_ERROR(write_batch(results, count));
      records->back().seconds = std::chrono::duration<double>(BatchProgress::Clock::now() - start).count();
      done += count;
      progress.update(done, stats.run.peak_bytes_in_use);
    }
    progress.finish();
    return ok_status();
  }

 private:
  struct Segment {
    size_t file;
    int64_t first_sample;  // in the file
    int64_t count;
    int64_t batch_row;
  };

  Status load_current_file() {
    if (current_.valid()) return ok_status();
    PBMEM_ASSIGN_OR_RETURN(current_, read_sample_file(scan_.files[cursor_file_], input_, scan_.sample_shape));
    return ok_status();
  }

  Status write_batch(const std::map<std::string, Tensor>& results, int64_t count) {
    const std::vector<std::string>& names = session_.output_names();
    for (const std::string& name : names) {
      const Tensor& t = results.at(name);
      if (t.shape().rank() == 0 || t.shape().dim(0) != count) {
        return invalid_argument("output '", name, "' has shape ", t.shape().str(), " for a batch of ", count,
                                ": its first dim is not the batch, so it cannot be split per input file; "
                                "request batched outputs with --output");
      }
      if (!npy_can_store(t.dtype())) {
        return unimplemented("output '", name, "' is ", dtype_name(t.dtype()), ", which cannot be saved as .npy");
      }
    }
    for (const Segment& segment : segments_) {
      const SampleFile& file = scan_.files[segment.file];
      if (segment.count == file.samples) {  // the whole file is in this batch
        for (const std::string& name : names) {
          Tensor out = rows(results.at(name), segment.batch_row, segment.count, file.stacked);
          PBMEM_RETURN_IF_ERROR(write_one(file, name, out));
        }
        continue;
      }
      if (segment.first_sample == 0) {
        pending_ = PendingFile{segment.file, 0, {}};
        for (const std::string& name : names) {
          const Tensor& t = results.at(name);
          std::vector<int64_t> dims = t.shape().dims();
          dims[0] = file.samples;
          PBMEM_ASSIGN_OR_RETURN(pending_->outputs[name], Tensor::allocate(t.dtype(), Shape(dims)));
        }
      }
      for (const std::string& name : names) {
        Tensor part = rows(results.at(name), segment.batch_row, segment.count, true);
        Tensor& whole = pending_->outputs[name];
        std::memcpy(static_cast<char*>(whole.raw_data()) + static_cast<size_t>(segment.first_sample) * (part.num_bytes() / static_cast<size_t>(segment.count)),
                    part.raw_data(), part.num_bytes());
      }
      pending_->filled += segment.count;
      if (pending_->filled == file.samples) {
        for (const std::string& name : names) PBMEM_RETURN_IF_ERROR(write_one(file, name, pending_->outputs[name]));
        pending_.reset();
      }
    }
    return ok_status();
  }

  Status write_one(const SampleFile& file, const std::string& name, const Tensor& tensor) {
    const bool several = session_.output_names().size() > 1;
    Status status = write_npy(tensor, output_path(args_.output_dir, file.stem, name, several));
    return status.ok() ? status : status.with_context("input file '" + file.path + "'");
  }

  const RunArgs& args_;
  const TensorSpec& input_;
  const InputDirScan& scan_;
  Session& session_;
  const int64_t batch_;
  Tensor buffer_;   // the batch input, allocated once at the full batch
  Tensor current_;  // the file being cut into batches
  size_t cursor_file_ = 0;
  int64_t cursor_sample_ = 0;
  std::vector<Segment> segments_;
  std::optional<PendingFile> pending_;
};

nlohmann::json batches_json(const std::vector<BatchRecord>& records) {
  nlohmann::json list = nlohmann::json::array();
  for (const BatchRecord& r : records) {
    list.push_back({{"samples", r.samples},
                    {"num_allocs", r.num_allocs},
                    {"max_bytes_in_use", r.max_bytes_in_use},
                    {"predicted_peak_bytes", r.predicted_peak_bytes},
                    {"pooled_extra_bytes", r.pooled_extra_bytes},
                    {"seconds", r.seconds}});
  }
  return list;
}

}  // namespace

Result<BatchRunOutcome> batch_run_command(const RunArgs& args) {
  PBMEM_RETURN_IF_ERROR(check_flags(args));
  PBMEM_ASSIGN_OR_RETURN(BatchSettings settings, parse_settings(args));
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(TensorSpec input, batched_input(*model));
  PBMEM_ASSIGN_OR_RETURN(InputDirScan scan, scan_input_dir(args.input_dir, input));
  for (const SkippedFile& skipped : scan.skipped) {
    std::fprintf(stderr, "pbmem: skipped '%s': %s\n", skipped.path.c_str(), skipped.reason.c_str());
  }
  int64_t batch = settings.batch;
  if (batch == 0) {
    PBMEM_ASSIGN_OR_RETURN(batch, auto_batch(model, args, input, scan, settings.memory_limit));
  }
  batch = std::min(batch, scan.total_samples);

  SessionOptions options;
  options.num_threads = args.threads;
  options.outputs = args.outputs;
  options.memory_limit = settings.memory_limit;
  options.reuse_buffers = true;
  PBMEM_ASSIGN_OR_RETURN(options.weights, parse_weights_flag(args.weights));
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, options));
  PBMEM_RETURN_IF_ERROR(check_output_names(session->output_names()));
  std::error_code ec;
  fs::create_directories(args.output_dir, ec);
  if (ec) return io_error("--output-dir: cannot create '", args.output_dir, "': ", ec.message());

  std::fprintf(stderr, "pbmem: %lld samples in %zu files, batch %lld%s\n", static_cast<long long>(scan.total_samples),
               scan.files.size(), static_cast<long long>(batch), args.batch == kAutoBatch ? " (auto)" : "");
  std::vector<BatchRecord> records;
  BatchRunner runner(args, input, scan, *session, batch);
  PBMEM_RETURN_IF_ERROR(runner.run_all(&records));

  SessionStats stats = session->stats();
  std::optional<int64_t> peak_rss = peak_rss_bytes();
  if (!args.stats_json.empty()) {
    nlohmann::json json = stats_json(stats, peak_rss);
    json["batch_size"] = batch;
    json["samples"] = scan.total_samples;
    json["files"] = scan.files.size();
    json["skipped_files"] = scan.skipped.size();
    json["batches"] = batches_json(records);
    Status written = write_json_file(args.stats_json, json);
    if (!written.ok()) return written.with_context("--stats-json");
  }
  std::printf("processed %lld samples from %zu files in %zu batches of up to %lld into %s; %zu file(s) skipped\n",
              static_cast<long long>(scan.total_samples), scan.files.size(), records.size(),
              static_cast<long long>(batch), args.output_dir.c_str(), scan.skipped.size());
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", run_summary_line(stats, session->last_plan(), peak_rss).c_str());
  return BatchRunOutcome{static_cast<int64_t>(scan.skipped.size())};
}

}  // namespace pbmem::cli

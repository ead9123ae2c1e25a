// `pbmem report MODEL [--batch N] [--input-shape NAME=d0,d1,...]... -o FILE.html [--threads N]`:
// plans the model for the given shapes (batch 1 where the first dim is unknown and nothing else
// was given) and writes one self-contained HTML page about its memory (html_report.h), plus
// what `fit` finds for a few common memory limits.
//
// Every flag and the output path are checked before the model is loaded, and the page is
// written to a temporary file renamed into place, so a failure leaves no partial file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>

#include "cli/commands.h"
#include "cli/html_report.h"
#include "cli/input_args.h"
#include "cli/memory_report.h"
#include "runtime/fit.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultBatch = 1;
constexpr int64_t kMiB = int64_t{1} << 20;
// The memory limits the fit table answers for: common container and device budgets.
constexpr int64_t kFitLimits[] = {64 * kMiB, 128 * kMiB, 256 * kMiB, 512 * kMiB, 1024 * kMiB,
                                  2048 * kMiB};

Status check_out_path(const std::string& path) {
  if (path.empty()) return invalid_argument("--out: the HTML file name is empty");
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return invalid_argument("--out '", path, "': directory '", parent.string(),
                            "' does not exist; create it first");
  }
  if (fs::is_directory(path, ec)) {
    return invalid_argument("--out '", path, "' is a directory; give a file name such as ",
                            (fs::path(path) / "report.html").string());
  }
  return ok_status();
}

// The report's shapes with the first dim of every batched input (unknown in the graph) set to
// `batch`; with kUnknownDim, these are fit's search shapes: the batch searched, other dims kept.
std::map<std::string, Shape> at_batch(const Model& model, std::map<std::string, Shape> shapes,
                                      int64_t batch) {
  for (const TensorSpec& spec : model.inputs()) {
    auto it = shapes.find(spec.name);
    if (it == shapes.end() || spec.has_default || !spec.shape.known_rank() ||
        spec.shape.rank() == 0 || spec.shape.dim(0) != kUnknownDim) {
      continue;
    }
    it->second.dim(0) = batch;
  }
  return shapes;
}

// One row per limit, largest limit first so that each answer caps the next search (a smaller
// limit never fits a larger batch). A row whose search failed because not even the weights fit
// gets peak_at_1 = kPeakUnknown (the caller plans batch 1 for it).
constexpr int64_t kPeakUnknown = -1;
std::vector<FitRow> fit_rows(const std::shared_ptr<const Model>& model,
                             const std::map<std::string, Shape>& shapes, int threads,
                             WeightsMode weights) {
  std::vector<FitRow> rows;
  FitOptions options;
  options.input_shapes = shapes;
  options.num_threads = threads;
  options.weights = weights;
  for (auto it = std::rbegin(kFitLimits); it != std::rend(kFitLimits); ++it) {
    FitRow row;
    row.limit_bytes = *it;
    row.peak_at_1 = kPeakUnknown;
    options.memory_limit = *it;
    Result<FitResult> fit = fit_batch(model, options);
    if (fit.ok()) {
      row.fits = fit->max_batch > 0;
      row.max_batch = fit->max_batch;
      row.capped = fit->max_batch > 0 && fit->max_batch == options.max_batch;
      row.peak_at_max = fit->peak_bytes_at_max;
      row.peak_at_next = fit->peak_bytes_at_next;
      row.peak_at_1 = fit->peak_bytes_at_1;
      // The same ceiling as before once a search ended at it, else no larger batch than this.
      if (fit->max_batch > 0 && !row.capped) options.max_batch = fit->max_batch + 1;
    } else if (fit.status().code() != StatusCode::kResourceExhausted) {
      row.error = fit.status().message();
    }
    rows.push_back(row);
  }
  std::reverse(rows.begin(), rows.end());
  return rows;
}

}  // namespace

Status report_command(const ReportArgs& args) {
  if (args.threads < 0) {
    return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  }
  PBMEM_RETURN_IF_ERROR(check_out_path(args.out));
  int64_t batch = 0;
  if (args.has_batch) {
    PBMEM_ASSIGN_OR_RETURN(batch, parse_batch_flag(args.batch));
  }
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(auto shapes, parse_input_shapes(*model, args.input_shapes));
  std::string shapes_note;
  if (args.has_batch) {
    PBMEM_RETURN_IF_ERROR(apply_batch(*model, batch, &shapes));
    shapes_note = str_cat("--batch ", batch);
  } else if (has_unknown_batch(*model)) {
    PBMEM_RETURN_IF_ERROR(apply_batch(*model, kDefaultBatch, &shapes));
    shapes_note = str_cat("batch ", kDefaultBatch, " by default; set it with --batch N");
  }

  SessionOptions options;
  options.num_threads = args.threads;
  PBMEM_ASSIGN_OR_RETURN(options.weights, parse_weights_flag(args.weights));
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, options));
  PBMEM_ASSIGN_OR_RETURN(MemoryPlanReport plan, session->plan(shapes));
  session.reset();  // the plan is all the page needs; fit makes its own sessions

  HtmlReportParams params;
  params.model_path = model->path();
  std::error_code ec;
  const uintmax_t file_bytes = fs::file_size(model->path(), ec);
  params.file_bytes = ec ? 0 : static_cast<uint64_t>(file_bytes);
  params.shapes_note = shapes_note;
  params.plan = &plan;
  if (!has_unknown_batch(*model)) {
    params.fit_note = "The model has no batch dimension (no required input with an unknown first "
                      "dimension): its memory does not depend on a batch size.";
  } else {
    params.fit_rows = fit_rows(model, at_batch(*model, shapes, kUnknownDim), args.threads,
                               options.weights);
    // Limits that not even the weights fit: the batch-1 peak from a plan without a limit.
    int64_t peak_at_1 = kPeakUnknown;
    for (FitRow& row : params.fit_rows) {
      if (row.error.empty() && row.peak_at_1 == kPeakUnknown) {
        if (peak_at_1 == kPeakUnknown) {
          PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> probe, Session::create(model, options));
          PBMEM_ASSIGN_OR_RETURN(MemoryPlanReport at_1, probe->plan(at_batch(*model, shapes, 1)));
          peak_at_1 = at_1.predicted_peak_bytes;
        }
        row.peak_at_1 = peak_at_1;
      }
    }
  }

  Status written = write_text_file(args.out, render_html_report(params));
  if (!written.ok()) return written.with_context("--out");
  std::printf("wrote %s (predicted peak %s at step %d, node '%s')\n", args.out.c_str(),
              human_bytes(plan.predicted_peak_bytes).c_str(), plan.peak_step,
              plan.peak_node.c_str());
  return ok_status();
}

}  // namespace pbmem::cli

// `pbmem report MODEL [--batch N] [--input-shape NAME=d0,d1,...]... -o FILE.html [--threads N]`:
// plans the model for the given shapes (batch 1 where the first dim is unknown and nothing else
// was given) and writes one self-contained HTML page about its memory (html_report.h), plus
// what `fit` finds for a few common memory limits.
//
// Every flag and the output path are checked before the model is loaded, and the page is
// written to a temporary file renamed into place, so a failure leaves no partial file.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/html_report.h"
#include "cli/input_args.h"
#include "cli/memory_report.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultBatch = 1;

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
  params.fit_note = "fit is not available in this build";

  Status written = write_text_file(args.out, render_html_report(params));
  if (!written.ok()) return written.with_context("--out");
  std::printf("wrote %s (predicted peak %s at step %d, node '%s')\n", args.out.c_str(),
              human_bytes(plan.predicted_peak_bytes).c_str(), plan.peak_step,
              plan.peak_node.c_str());
  return ok_status();
}

}  // namespace pbmem::cli

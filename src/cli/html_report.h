// `pbmem report`: one self-contained HTML page about a model's memory plan. Everything is inline
// (CSS and SVG; no scripts, fonts or images from elsewhere), so the file can be mailed or
// attached to a bug and opens anywhere.
//
// Sections: a header (model, file size, input shapes, predicted peak and its parts, arena vs the
// live-bytes lower bound, the planner), an SVG plot of the planned bytes in use per schedule
// step with the peak marked, the largest tensors live at the peak with their producers and
// readers, the weights by layer, and the largest batch that fits common memory limits.
// Every string that comes from the model (node names, ops, paths) goes through html_escape().
// The figures are MemoryPlanReport's, as the runtime planned them; nothing is recomputed here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model.h"

namespace pbmem::cli {

// What `fit` says for one memory limit.
struct FitRow {
  int64_t limit_bytes = 0;
  bool fits = false;           // batch 1 fits the limit
  int64_t max_batch = 0;       // the largest batch that fits (when fits)
  bool capped = false;         // max_batch is the search's cap: larger batches may fit too
  int64_t peak_at_max = 0;     // predicted peak at max_batch
  int64_t peak_at_next = 0;    // at max_batch + 1 (0: unknown)
  int64_t peak_at_1 = 0;       // predicted peak at batch 1
  std::string error;           // fit itself failed: this message instead of the figures
};

struct HtmlReportParams {
  std::string model_path;
  uint64_t file_bytes = 0;
  std::string shapes_note;  // how the input shapes were chosen, e.g. "--batch 4"
  const MemoryPlanReport* plan = nullptr;
  std::vector<FitRow> fit_rows;
  std::string fit_note;     // why there is no fit table (e.g. no batch dimension), else ""
};

// `text` with & < > " ' replaced by character references: safe in elements and in quoted
// attribute values.
std::string html_escape(std::string_view text);

// The whole page. params.plan must be set.
std::string render_html_report(const HtmlReportParams& params);

// The plot (an <svg> element): stacked planned bytes per step — packed weights, scratch and I/O
// (constant over the run), then the live activation bytes — the arena's top (the predicted
// peak) dashed, and the live-bytes peak marked with its step and node (html_plot.cc).
std::string render_plan_svg(const MemoryPlanReport& plan);

}  // namespace pbmem::cli

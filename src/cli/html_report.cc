// The report page around the plot: header, tables and styles (see html_report.h).
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cli/html_report.h"
#include "cli/memory_report.h"
#include "cli/version.h"

namespace pbmem::cli {

namespace {

constexpr size_t kTopLiveRows = 20;    // tensors listed in "live at the peak"
constexpr size_t kTopWeightRows = 25;  // layers listed in "weights by layer"
constexpr size_t kMaxConsumersShown = 6;
constexpr double kPercent = 100.0;

constexpr char kStyle[] = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222;
       max-width: 1100px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { border-bottom: 1px solid #bbb; }
tr:nth-child(even) td { background: #f6f6f6; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.kv th { border: none; font-weight: 600; padding-right: 16px; white-space: nowrap; }
code, .name { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
              word-break: break-all; }
.bar { background: #8da0cb; height: 10px; display: inline-block; vertical-align: middle; }
td.share-bar { width: 160px; }
.note { color: #666; font-size: 13px; }
svg text { font-size: 12px; fill: #333; }
svg .grid { stroke: #e4e4e4; }
svg .axis line { stroke: #888; }
svg .hover rect { fill: transparent; }
svg .hover rect:hover { fill: rgba(0, 0, 0, 0.08); }
svg .layer { stroke: none; }
.fits { color: #1a7f37; }
.nofit { color: #b42318; }
)css";

std::string sized(int64_t bytes) {
  return str_cat(human_bytes(bytes), " <span class=\"note\">(", bytes, " B)</span>");
}

std::string percent(double part, double whole) {
  if (whole <= 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", kPercent * part / whole);
  return text;
}

std::string ratio(int64_t numerator, int64_t denominator) {
  if (denominator <= 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), "%.4f", static_cast<double>(numerator) / denominator);
  return text;
}

std::string kv_row(const std::string& key, const std::string& value_html) {
  return "<tr><th>" + html_escape(key) + "</th><td>" + value_html + "</td></tr>\n";
}

std::string shapes_text(const MemoryPlanReport& plan) {
  std::string text;
  for (const auto& [name, shape] : plan.input_shapes) {
    text += str_cat(text.empty() ? "" : ", ", name, " ", shape.str());
  }
  return text.empty() ? "(no inputs fed)" : text;
}

std::string header(const HtmlReportParams& params) {
  const MemoryPlanReport& plan = *params.plan;
  std::ostringstream out;
  out << "<section id=\"summary\"><table class=\"kv\">\n"
      << kv_row("model", "<code>" + html_escape(params.model_path) + "</code>")
      << kv_row("file size", sized(static_cast<int64_t>(params.file_bytes)))
      << kv_row("input shapes", "<code>" + html_escape(shapes_text(plan)) + "</code>" +
                                    (params.shapes_note.empty()
                                         ? ""
                                         : " <span class=\"note\">(" +
                                               html_escape(params.shapes_note) + ")</span>"))
      << kv_row("schedule", str_cat(plan.num_steps, " steps"))
      << kv_row("predicted peak",
                "<b id=\"predicted-peak\" data-bytes=\"" +
                    std::to_string(plan.predicted_peak_bytes) + "\">" +
                    human_bytes(plan.predicted_peak_bytes) + "</b> = packed weights " +
                    human_bytes(plan.weights_packed_bytes) + " + arena " +
                    human_bytes(plan.arena_bytes) + " + scratch " +
                    human_bytes(plan.scratch_bytes) + " + graph outputs " +
                    human_bytes(plan.io_bytes) +
                    " <span class=\"note\">(what a run's max_bytes_in_use will be)</span>")
      << kv_row("weights mapped",
                sized(plan.weights_mapped_bytes) +
                    " <span class=\"note\">read in place from the file: page cache, not "
                    "allocated</span>")
      << kv_row("arena vs lower bound",
                human_bytes(plan.arena_bytes) + " vs " + human_bytes(plan.lower_bound_bytes) +
                    " = <b id=\"arena-ratio\">" + ratio(plan.arena_bytes, plan.lower_bound_bytes) +
                    "</b> <span class=\"note\">(lower bound: the most activation bytes live at "
                    "one step; naive, one buffer each: " +
                    human_bytes(plan.naive_bytes) + ")</span>")
      << kv_row("op order",
                "live-bytes peak " + human_bytes(plan.scheduled_order_lower_bound_bytes) +
                    " scheduled vs " + human_bytes(plan.default_order_lower_bound_bytes) +
                    " in file order")
      << kv_row("planner", "<code>" + html_escape(plan.planner) + "</code>")
      << "</table></section>\n";
  return out.str();
}

std::string consumers_html(const std::vector<std::string>& consumers) {
  std::string out;
  for (size_t i = 0; i < consumers.size() && i < kMaxConsumersShown; ++i) {
    out += (i ? ", " : "") + html_escape(consumers[i]);
  }
  if (consumers.size() > kMaxConsumersShown) {
    out += str_cat(" <span class=\"note\">and ", consumers.size() - kMaxConsumersShown,
                   " more</span>");
  }
  return out.empty() ? "<span class=\"note\">(none: a graph output or unread)</span>" : out;
}

std::string live_table(const MemoryPlanReport& plan) {
  std::ostringstream out;
  out << "<section id=\"live\"><h2>Tensors live at the peak</h2>\n";
  if (plan.peak_step < 0) {
    out << "<p class=\"note\">No activations are live at any step.</p></section>\n";
    return out.str();
  }
  int64_t total = 0;
  for (const LiveTensor& t : plan.live_at_peak) total += t.bytes;
  out << "<p>Step <b>" << plan.peak_step << "</b>, node <code>" << html_escape(plan.peak_node)
      << "</code>: " << plan.live_at_peak.size() << " buffers, " << human_bytes(total)
      << " (aligned: " << human_bytes(plan.lower_bound_bytes) << ").</p>\n"
      << "<table id=\"live-at-peak\"><tr><th>tensor</th><th class=\"num\">bytes</th>"
         "<th>shape</th><th class=\"num\">steps</th><th>produced by</th><th>read by</th></tr>\n";
  const size_t shown = std::min(kTopLiveRows, plan.live_at_peak.size());
  for (size_t i = 0; i < shown; ++i) {
    const LiveTensor& t = plan.live_at_peak[i];
    out << "<tr><td class=\"name\">" << html_escape(t.name) << "</td><td class=\"num\">"
        << human_bytes(t.bytes) << "</td><td><code>" << html_escape(t.shape.str())
        << "</code></td><td class=\"num\">" << t.first_step << ".." << t.last_step
        << "</td><td class=\"name\">" << html_escape(t.producer) << " <span class=\"note\">("
        << html_escape(t.op) << ")</span></td><td class=\"name\">" << consumers_html(t.consumers)
        << "</td></tr>\n";
  }
  out << "</table>\n";
  if (shown < plan.live_at_peak.size()) {
    int64_t rest = 0;
    for (size_t i = shown; i < plan.live_at_peak.size(); ++i) rest += plan.live_at_peak[i].bytes;
    out << "<p class=\"note\">" << plan.live_at_peak.size() - shown << " smaller tensors, "
        << human_bytes(rest) << " in all.</p>\n";
  }
  out << "</section>\n";
  return out.str();
}

std::string weights_table(const MemoryPlanReport& plan) {
  std::ostringstream out;
  out << "<section id=\"weights\"><h2>Weights by layer</h2>\n";
  const double total =
      static_cast<double>(plan.weights_packed_bytes) + static_cast<double>(plan.weights_mapped_bytes);
  if (plan.weights_by_layer.empty()) {
    out << "<p class=\"note\">The model has no weights.</p></section>\n";
    return out.str();
  }
  out << "<p>" << human_bytes(plan.weights_packed_bytes + plan.weights_mapped_bytes)
      << " in " << plan.weights_by_layer.size() << " layers: " << human_bytes(plan.weights_packed_bytes)
      << " packed (allocated, counted in the peak) + " << human_bytes(plan.weights_mapped_bytes)
      << " mapped (read in place from the file).</p>\n"
      << "<table id=\"weights-by-layer\"><tr><th>layer</th><th>op</th><th class=\"num\">packed"
         "</th><th class=\"num\">mapped</th><th class=\"num\">share</th><th></th></tr>\n";
  const size_t shown = std::min(kTopWeightRows, plan.weights_by_layer.size());
  for (size_t i = 0; i < shown; ++i) {
    const LayerWeights& w = plan.weights_by_layer[i];
    const double bytes = static_cast<double>(w.packed_bytes) + static_cast<double>(w.mapped_bytes);
    const std::string share = percent(bytes, total);
    out << "<tr><td class=\"name\">" << html_escape(w.node) << "</td><td>" << html_escape(w.op)
        << "</td><td class=\"num\">" << human_bytes(w.packed_bytes) << "</td><td class=\"num\">"
        << human_bytes(w.mapped_bytes) << "</td><td class=\"num\">" << share
        << "</td><td class=\"share-bar\"><span class=\"bar\" style=\"width:" << (total > 0 ? share : "0%")
        << "\"></span></td></tr>\n";
  }
  out << "</table>\n";
  if (shown < plan.weights_by_layer.size()) {
    int64_t rest = 0;
    for (size_t i = shown; i < plan.weights_by_layer.size(); ++i) {
      rest += plan.weights_by_layer[i].packed_bytes + plan.weights_by_layer[i].mapped_bytes;
    }
    out << "<p class=\"note\">" << plan.weights_by_layer.size() - shown << " smaller layers, "
        << human_bytes(rest) << " in all (" << percent(static_cast<double>(rest), total)
        << ").</p>\n";
  }
  out << "</section>\n";
  return out.str();
}

std::string fit_table(const HtmlReportParams& params) {
  std::ostringstream out;
  out << "<section id=\"fit\"><h2>Largest batch per memory limit</h2>\n";
  if (!params.fit_note.empty()) {
    out << "<p id=\"fit-note\">" << html_escape(params.fit_note) << "</p></section>\n";
    return out.str();
  }
  out << "<p class=\"note\">What <code>pbmem fit</code> finds: the largest batch whose predicted "
         "peak stays within the limit (other input dims as above).</p>\n"
      << "<table id=\"fit-table\"><tr><th class=\"num\">limit</th><th class=\"num\">max batch"
         "</th><th class=\"num\">peak at max batch</th><th>note</th></tr>\n";
  for (const FitRow& row : params.fit_rows) {
    out << "<tr data-limit=\"" << row.limit_bytes << "\" data-max-batch=\""
        << (row.error.empty() ? row.max_batch : -1) << "\"><td class=\"num\">"
        << human_bytes(row.limit_bytes) << "</td>";
    if (!row.error.empty()) {
      out << "<td class=\"num\">-</td><td class=\"num\">-</td><td class=\"nofit\">"
          << html_escape(row.error) << "</td></tr>\n";
    } else if (!row.fits) {
      out << "<td class=\"num nofit\">-</td><td class=\"num\">-</td><td class=\"nofit\">does not "
             "fit (batch 1 needs "
          << human_bytes(row.peak_at_1) << ")</td></tr>\n";
    } else {
      out << "<td class=\"num fits\">" << row.max_batch << (row.capped ? "+" : "")
          << "</td><td class=\"num\">" << sized(row.peak_at_max) << "</td><td>";
      if (row.capped) {
        out << "the search stopped at its cap; larger batches may fit";
      } else if (row.peak_at_next > 0) {
        // Exact bytes: near the limit, both sides round to the same binary unit.
        out << "batch " << row.max_batch + 1 << " needs " << sized(row.peak_at_next);
      }
      out << "</td></tr>\n";
    }
  }
  out << "</table></section>\n";
  return out.str();
}

// The file name, for the page title.
std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_html_report(const HtmlReportParams& params) {
  const MemoryPlanReport& plan = *params.plan;
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<title>pbmem memory report: " << html_escape(base_name(params.model_path))
      << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
      << "<h1>Memory report: <code>" << html_escape(base_name(params.model_path))
      << "</code></h1>\n"
      << header(params)
      << "<section id=\"plot\"><h2>Bytes in use over the schedule</h2>\n"
      << render_plan_svg(plan)
      << "<p class=\"note\">Planned by the runtime for these input shapes. Packed weights, "
         "scratch and graph outputs are allocated before the run and held through it; the "
         "activations live in one arena whose size (dashed) is set by the busiest step. Hover "
         "a step for its node.</p></section>\n"
      << live_table(plan) << weights_table(plan) << fit_table(params)
      << "<footer class=\"note\"><p>pbmem " << kPbmemVersion << "</p></footer>\n"
      << "</body>\n</html>\n";
  return out.str();
}

}  // namespace pbmem::cli

// The report's SVG plot of planned bytes in use over the schedule steps (see html_report.h).
//
// Step k covers x in [k, k+1): each series is drawn as a step function. The layers stack in
// the order the allocator holds them: packed weights, scratch and I/O are flat (allocated at
// prepare, held through the run), the live activation bytes of the arena vary per step, and
// the dashed line on top is the arena's full size plus those constant parts, i.e. the
// predicted peak (= max_bytes_in_use). Axis ticks are 1, 2 or 5 times a power of ten in the
// binary unit (KiB, MiB, GiB) that suits the largest value.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "cli/html_report.h"
#include "cli/memory_report.h"

namespace pbmem::cli {

namespace {

constexpr double kWidth = 960;
constexpr double kHeight = 400;
constexpr double kMarginLeft = 90;
constexpr double kMarginRight = 24;
constexpr double kMarginTop = 56;  // room for the legend
constexpr double kMarginBottom = 52;
constexpr double kHeadroom = 1.15;  // the y axis ends this much above the predicted peak
constexpr int kTargetTicks = 6;
constexpr double kBytesPerUnitStep = 1024.0;
constexpr const char* kUnitNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
constexpr int kNumUnits = sizeof(kUnitNames) / sizeof(kUnitNames[0]);
constexpr double kNiceFactors[] = {1, 2, 5, 10};
constexpr int kMaxHoverSteps = 5000;  // per-step tooltips only for plans up to this size
constexpr double kLegendSwatch = 12;
constexpr double kLegendGap = 150;
constexpr double kTickLength = 5;
constexpr double kLabelOffset = 8;
constexpr double kPeakRadius = 4;
// The peak label is anchored at its end when the marker is in the right part of the plot.
constexpr double kRightAnchorFraction = 0.6;

struct Layer {
  const char* name;
  const char* color;
};
constexpr Layer kWeightsLayer = {"packed weights", "#8da0cb"};
constexpr Layer kScratchLayer = {"scratch", "#e78ac3"};
constexpr Layer kIoLayer = {"graph outputs (I/O)", "#a6d854"};
constexpr Layer kLiveLayer = {"live activations", "#fc8d62"};
constexpr const char* kArenaColor = "#444";
constexpr const char* kPeakColor = "#d62728";

struct Frame {
  int num_steps = 1;
  double y_max = 1;  // bytes at the top of the plot area
  double x(double step) const {
    return kMarginLeft + (kWidth - kMarginLeft - kMarginRight) * step / num_steps;
  }
  double y(double bytes) const {
    return kHeight - kMarginBottom - (kHeight - kMarginTop - kMarginBottom) * bytes / y_max;
  }
};

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", v);
  return text;
}

// The smallest 1/2/5 x 10^k that is at least `raw` (raw > 0).
double nice_step(double raw) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : kNiceFactors) {
    if (factor * magnitude >= raw) return factor * magnitude;
  }
  return raw;
}

struct Ticks {
  double step = 1;       // in the unit below
  double unit_bytes = 1;
  const char* unit = "B";
};

Ticks byte_ticks(double max_bytes) {
  Ticks ticks;
  int unit = 0;
  while (unit + 1 < kNumUnits && max_bytes >= ticks.unit_bytes * kBytesPerUnitStep) {
    ticks.unit_bytes *= kBytesPerUnitStep;
    ++unit;
  }
  ticks.unit = kUnitNames[unit];
  ticks.step = nice_step(std::max(max_bytes / ticks.unit_bytes / kTargetTicks, 1e-9));
  if (unit == 0) ticks.step = std::max(ticks.step, 1.0);
  return ticks;
}

std::string tick_label(double value, const char* unit) {
  char text[48];
  std::snprintf(text, sizeof(text), "%g %s", value, unit);
  return text;
}

// A step function over the steps: the top edge at base + value[k], closed along `base`.
std::string stacked_polygon(const Frame& f, const std::vector<double>& base,
                            const std::vector<double>& top, const char* color,
                            const std::string& title) {
  std::ostringstream points;
  for (size_t k = 0; k < top.size(); ++k) {
    points << num(f.x(static_cast<double>(k))) << ',' << num(f.y(top[k])) << ' '
           << num(f.x(static_cast<double>(k + 1))) << ',' << num(f.y(top[k])) << ' ';
  }
  for (size_t k = base.size(); k-- > 0;) {
    points << num(f.x(static_cast<double>(k + 1))) << ',' << num(f.y(base[k])) << ' '
           << num(f.x(static_cast<double>(k))) << ',' << num(f.y(base[k])) << ' ';
  }
  return "<polygon class=\"layer\" fill=\"" + std::string(color) + "\" points=\"" +
         points.str() + "\"><title>" + html_escape(title) + "</title></polygon>\n";
}

std::string axes(const Frame& f) {
  std::ostringstream out;
  const double left = kMarginLeft;
  const double right = kWidth - kMarginRight;
  const double bottom = kHeight - kMarginBottom;
  const Ticks y_ticks = byte_ticks(f.y_max);
  out << "<g class=\"axis\" id=\"y-axis\">\n";
  for (int i = 0; i * y_ticks.step * y_ticks.unit_bytes <= f.y_max; ++i) {
    const double v = i * y_ticks.step;
    const double y = f.y(v * y_ticks.unit_bytes);
    out << "<line class=\"grid\" x1=\"" << num(left) << "\" x2=\"" << num(right) << "\" y1=\""
        << num(y) << "\" y2=\"" << num(y) << "\"/>"
        << "<text x=\"" << num(left - kLabelOffset) << "\" y=\"" << num(y)
        << "\" text-anchor=\"end\" dominant-baseline=\"middle\">"
        << html_escape(tick_label(v, y_ticks.unit)) << "</text>\n";
  }
  out << "<text x=\"" << num(kLabelOffset) << "\" y=\"" << num(kMarginTop - kLabelOffset)
      << "\">bytes in use (planned)</text>\n</g>\n";
  out << "<g class=\"axis\" id=\"x-axis\">\n";
  const double x_step = std::max(1.0, nice_step(static_cast<double>(f.num_steps) / kTargetTicks));
  for (int i = 0; i * x_step <= f.num_steps; ++i) {
    const double s = i * x_step;
    const double x = f.x(s);
    out << "<line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\"" << num(bottom)
        << "\" y2=\"" << num(bottom + kTickLength) << "\"/>"
        << "<text x=\"" << num(x) << "\" y=\"" << num(bottom + kTickLength + 2 * kLabelOffset)
        << "\" text-anchor=\"middle\">" << static_cast<long long>(s) << "</text>\n";
  }
  out << "<line x1=\"" << num(left) << "\" x2=\"" << num(right) << "\" y1=\"" << num(bottom)
      << "\" y2=\"" << num(bottom) << "\"/>\n"
      << "<text x=\"" << num((left + right) / 2) << "\" y=\"" << num(kHeight - kLabelOffset)
      << "\" text-anchor=\"middle\">schedule step</text>\n</g>\n";
  return out.str();
}

std::string legend() {
  std::ostringstream out;
  out << "<g class=\"legend\">\n";
  double x = kMarginLeft;
  for (const Layer& layer : {kWeightsLayer, kScratchLayer, kIoLayer, kLiveLayer}) {
    out << "<rect x=\"" << num(x) << "\" y=\"" << num(kLabelOffset) << "\" width=\""
        << num(kLegendSwatch) << "\" height=\"" << num(kLegendSwatch) << "\" fill=\""
        << layer.color << "\"/><text x=\"" << num(x + kLegendSwatch + kTickLength) << "\" y=\""
        << num(kLabelOffset + kLegendSwatch - 1) << "\">" << layer.name << "</text>\n";
    x += kLegendGap;
  }
  out << "<line x1=\"" << num(x) << "\" x2=\"" << num(x + kLegendSwatch) << "\" y1=\""
      << num(kLabelOffset + kLegendSwatch / 2) << "\" y2=\"" << num(kLabelOffset + kLegendSwatch / 2)
      << "\" stroke=\"" << kArenaColor << "\" stroke-dasharray=\"4 3\"/><text x=\""
      << num(x + kLegendSwatch + kTickLength) << "\" y=\"" << num(kLabelOffset + kLegendSwatch - 1)
      << "\">arena size (predicted peak)</text>\n</g>\n";
  return out.str();
}

std::string peak_marker(const Frame& f, const MemoryPlanReport& plan, double constant_bytes) {
  if (plan.peak_step < 0 || plan.peak_step >= static_cast<int>(plan.steps.size())) {
    return "<g id=\"peak-marker\" data-peak-step=\"-1\" data-peak-node=\"\"></g>\n";
  }
  const PlanStep& step = plan.steps[static_cast<size_t>(plan.peak_step)];
  const double x = f.x(plan.peak_step + 0.5);
  const double y = f.y(constant_bytes + static_cast<double>(step.live_bytes));
  const bool anchor_end = x > kMarginLeft + kRightAnchorFraction * (kWidth - kMarginLeft);
  const std::string label = str_cat("peak: step ", plan.peak_step, ", ", plan.peak_node, " (",
                                    human_bytes(step.live_bytes), " live activations)");
  std::ostringstream out;
  out << "<g id=\"peak-marker\" data-peak-step=\"" << plan.peak_step << "\" data-peak-node=\""
      << html_escape(plan.peak_node) << "\" data-live-bytes=\"" << step.live_bytes << "\">"
      << "<line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\""
      << num(kHeight - kMarginBottom) << "\" y2=\"" << num(y) << "\" stroke=\"" << kPeakColor
      << "\" stroke-dasharray=\"3 2\"/><circle cx=\"" << num(x) << "\" cy=\"" << num(y)
      << "\" r=\"" << num(kPeakRadius) << "\" fill=\"" << kPeakColor << "\"/><text x=\""
      << num(anchor_end ? x - kLabelOffset : x + kLabelOffset) << "\" y=\""
      << num(y - kLabelOffset) << "\" text-anchor=\"" << (anchor_end ? "end" : "start")
      << "\" fill=\"" << kPeakColor << "\">" << html_escape(label) << "</text></g>\n";
  return out.str();
}

// Transparent full-height bands, one per step, whose tooltips name the step's node.
std::string hover_bands(const Frame& f, const MemoryPlanReport& plan) {
  if (plan.steps.size() > static_cast<size_t>(kMaxHoverSteps)) return "";
  std::ostringstream out;
  out << "<g class=\"hover\">\n";
  for (size_t k = 0; k < plan.steps.size(); ++k) {
    const PlanStep& step = plan.steps[k];
    out << "<rect x=\"" << num(f.x(static_cast<double>(k))) << "\" y=\"" << num(kMarginTop)
        << "\" width=\"" << num(f.x(static_cast<double>(k + 1)) - f.x(static_cast<double>(k)))
        << "\" height=\"" << num(kHeight - kMarginTop - kMarginBottom) << "\"><title>"
        << html_escape(str_cat("step ", k, ": ", step.node, " (", step.op, "), ",
                               human_bytes(step.live_bytes), " live"))
        << "</title></rect>\n";
  }
  out << "</g>\n";
  return out.str();
}

}  // namespace

std::string render_plan_svg(const MemoryPlanReport& plan) {
  Frame f;
  f.num_steps = std::max(1, static_cast<int>(plan.steps.size()));
  f.y_max = std::max(1.0, static_cast<double>(plan.predicted_peak_bytes) * kHeadroom);
  const size_t n = plan.steps.size();
  const double weights = static_cast<double>(plan.weights_packed_bytes);
  const double scratch = weights + static_cast<double>(plan.scratch_bytes);
  const double io = scratch + static_cast<double>(plan.io_bytes);
  std::vector<double> zero(n, 0), weights_top(n, weights), scratch_top(n, scratch), io_top(n, io);
  std::vector<double> live_top(n);
  for (size_t k = 0; k < n; ++k) live_top[k] = io + static_cast<double>(plan.steps[k].live_bytes);

  std::ostringstream out;
  out << "<svg id=\"memory-plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
      << num(kWidth) << ' ' << num(kHeight) << "\" width=\"" << num(kWidth) << "\" height=\""
      << num(kHeight) << "\" role=\"img\" aria-label=\"planned bytes in use per schedule step\">\n";
  out << axes(f) << legend();
  if (n > 0) {
    out << stacked_polygon(f, zero, weights_top, kWeightsLayer.color,
                           "packed weights: " + human_bytes(plan.weights_packed_bytes))
        << stacked_polygon(f, weights_top, scratch_top, kScratchLayer.color,
                           "scratch: " + human_bytes(plan.scratch_bytes))
        << stacked_polygon(f, scratch_top, io_top, kIoLayer.color,
                           "graph outputs: " + human_bytes(plan.io_bytes))
        << stacked_polygon(f, io_top, live_top, kLiveLayer.color,
                           "live activations, peak " + human_bytes(plan.lower_bound_bytes));
  }
  const double arena_y = f.y(io + static_cast<double>(plan.arena_bytes));
  out << "<line id=\"arena-line\" x1=\"" << num(kMarginLeft) << "\" x2=\""
      << num(kWidth - kMarginRight) << "\" y1=\"" << num(arena_y) << "\" y2=\"" << num(arena_y)
      << "\" stroke=\"" << kArenaColor << "\" stroke-dasharray=\"4 3\"><title>"
      << html_escape("predicted peak " + human_bytes(plan.predicted_peak_bytes)) << "</title></line>\n"
      << "<text x=\"" << num(kWidth - kMarginRight) << "\" y=\"" << num(arena_y - kTickLength)
      << "\" text-anchor=\"end\">"
      << html_escape("predicted peak " + human_bytes(plan.predicted_peak_bytes)) << "</text>\n";
  out << hover_bands(f, plan) << peak_marker(f, plan, io) << "</svg>\n";
  return out.str();
}

}  // namespace pbmem::cli

// Memory figures for people (sizes in KiB/MiB with exact bytes) and for scripts (JSON with TF's
// AllocatorStats field names). See memory_report.h.
#include "cli/memory_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kBytesPerKiB = 1024;
constexpr int kJsonIndent = 2;
constexpr size_t kTopLiveTensors = 10;  // rows of the "live at the peak" table
constexpr double kPercent = 100.0;
constexpr char kProcStatus[] = "/proc/self/status";
constexpr char kPeakRssField[] = "VmHWM:";

nlohmann::json allocator_json(const AllocatorStats& stats) {
  return {{"num_allocs", stats.num_allocs},
          {"bytes_in_use", stats.bytes_in_use},
          {"peak_bytes_in_use", stats.peak_bytes_in_use},
          {"largest_alloc_size", stats.largest_alloc_size},
          {"bytes_limit", stats.bytes_limit}};
}

std::string ratio_text(int64_t numerator, int64_t denominator) {
  if (denominator <= 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), "%.4f",
                static_cast<double>(numerator) / static_cast<double>(denominator));
  return text;
}

// "(-3.2% vs the default order)", or "" when the orders tie.
std::string change_text(int64_t scheduled, int64_t default_order) {
  if (default_order <= 0 || scheduled == default_order) return "(same as the default order)";
  char text[64];
  std::snprintf(text, sizeof(text), "(%+.1f%% vs the default order)",
                kPercent * static_cast<double>(scheduled - default_order) /
                    static_cast<double>(default_order));
  return text;
}

void print_row(const char* label, const std::string& value, const std::string& note = "") {
  if (note.empty()) {
    std::printf("  %-16s %s\n", label, value.c_str());
  } else {
    std::printf("  %-16s %-28s %s\n", label, value.c_str(), note.c_str());
  }
}

void print_live_at_peak(const MemoryPlanReport& report) {
  if (report.peak_step < 0) {
    std::printf("peak: no activations are live at any step\n");
    return;
  }
  size_t shown = std::min(kTopLiveTensors, report.live_at_peak.size());
  std::printf("peak at step %d of %d, node '%s'; live there (largest %zu of %zu):\n",
              report.peak_step, report.num_steps, report.peak_node.c_str(), shown,
              report.live_at_peak.size());
  int op_width = static_cast<int>(std::string("op").size());
  for (size_t i = 0; i < shown; ++i) {
    op_width = std::max(op_width, static_cast<int>(report.live_at_peak[i].op.size()));
  }
  std::printf("  %-28s %-13s %-*s %s\n", "bytes", "steps", op_width, "op", "tensor");
  for (size_t i = 0; i < shown; ++i) {
    const LiveTensor& t = report.live_at_peak[i];
    std::string steps = str_cat(t.first_step, "..", t.last_step);
    std::printf("  %-28s %-13s %-*s %s\n", describe_bytes(t.bytes).c_str(), steps.c_str(), op_width,
                t.op.c_str(), t.name.c_str());
  }
}

}  // namespace

nlohmann::json shape_json(const Shape& shape) {
  if (!shape.known_rank()) return nullptr;
  nlohmann::json dims = nlohmann::json::array();
  for (int64_t d : shape.dims()) {
    if (d == kUnknownDim) {
      dims.push_back(nullptr);
    } else {
      dims.push_back(d);
    }
  }
  return dims;
}

nlohmann::json plan_json(const MemoryPlanReport& report, bool with_ascii) {
  nlohmann::json shapes = nlohmann::json::object();
  for (const auto& [name, shape] : report.input_shapes) shapes[name] = shape_json(shape);
  nlohmann::json live = nlohmann::json::array();
  for (const LiveTensor& t : report.live_at_peak) {
    live.push_back({{"name", t.name},
                    {"op", t.op},
                    {"bytes", t.bytes},
                    {"first_step", t.first_step},
                    {"last_step", t.last_step}});
  }
  nlohmann::json out = {
      {"predicted_peak_bytes", report.predicted_peak_bytes},
      {"arena_bytes", report.arena_bytes},
      {"lower_bound_bytes", report.lower_bound_bytes},
      {"naive_bytes", report.naive_bytes},
      {"weights_bytes", report.weights_packed_bytes + report.weights_mapped_bytes},
      {"weights_packed_bytes", report.weights_packed_bytes},
      {"weights_mapped_bytes", report.weights_mapped_bytes},
      {"weights_mapped_layers", report.weights_mapped_layers},
      {"weights_packed_layers", report.weights_packed_layers},
      {"scratch_bytes", report.scratch_bytes},
      {"io_bytes", report.io_bytes},
      {"peak_step", report.peak_step},
      {"peak_node", report.peak_node},
      {"default_order_lower_bound_bytes", report.default_order_lower_bound_bytes},
      {"scheduled_order_lower_bound_bytes", report.scheduled_order_lower_bound_bytes},
      {"num_steps", report.num_steps},
      {"fused_nodes", report.fused_nodes},
      {"input_shapes", shapes},
      {"live_at_peak", live},
  };
  if (with_ascii) out["ascii_plan"] = report.ascii_plan;
  return out;
}

void print_plan(const std::string& model_path, const MemoryPlanReport& report, bool with_ascii) {
  std::printf("model: %s\n", model_path.c_str());
  std::string shapes;
  for (const auto& [name, shape] : report.input_shapes) {
    shapes += str_cat(shapes.empty() ? "" : ", ", name, " ", shape.str());
  }
  std::printf("input shapes: %s\n", shapes.empty() ? "(none fed)" : shapes.c_str());
  std::printf("steps: %d (%d nodes computed by a neighbour (fusion))\n\n", report.num_steps,
              report.fused_nodes);

  std::printf("predicted peak: %s = packed weights + arena + scratch + I/O\n",
              describe_bytes(report.predicted_peak_bytes).c_str());
  print_row("weights packed", describe_bytes(report.weights_packed_bytes),
            "reordered/folded weights we allocate");
  print_row("arena", describe_bytes(report.arena_bytes), "activations, one planned block");
  print_row("scratch", describe_bytes(report.scratch_bytes), "kernel scratchpads, shared by steps");
  print_row("I/O", describe_bytes(report.io_bytes), "graph outputs");
  int64_t weights = report.weights_packed_bytes + report.weights_mapped_bytes;
  std::printf("weights: %s = %s mapped (file pages, not allocated) + %s packed\n",
              describe_bytes(weights).c_str(), human_bytes(report.weights_mapped_bytes).c_str(),
              human_bytes(report.weights_packed_bytes).c_str());
  std::printf("layers with weights: %d mapped, %d packed\n\n", report.weights_mapped_layers,
              report.weights_packed_layers);

  std::printf("activations:\n");
  print_row("lower bound", describe_bytes(report.lower_bound_bytes),
            "max over steps of the live activation bytes");
  print_row("arena", describe_bytes(report.arena_bytes),
            "arena / lower bound = " + ratio_text(report.arena_bytes, report.lower_bound_bytes));
  print_row("naive sum", describe_bytes(report.naive_bytes), "every activation in its own buffer");
  std::printf("op order (live-bytes peak, before buffers are shared):\n");
  print_row("default order", describe_bytes(report.default_order_lower_bound_bytes));
  print_row("scheduled order", describe_bytes(report.scheduled_order_lower_bound_bytes),
            change_text(report.scheduled_order_lower_bound_bytes,
                        report.default_order_lower_bound_bytes));
  std::printf("\n");
  print_live_at_peak(report);
  if (with_ascii) std::printf("\nplan:\n%s", report.ascii_plan.c_str());
}

std::optional<int64_t> peak_rss_bytes() {
  std::ifstream status(kProcStatus);
  std::string line;
  const std::string field = kPeakRssField;
  while (std::getline(status, line)) {
    if (line.compare(0, field.size(), field) != 0) continue;
    long long kib = 0;
    if (std::sscanf(line.c_str() + field.size(), "%lld", &kib) != 1 || kib < 0) return std::nullopt;
    return static_cast<int64_t>(kib) * kBytesPerKiB;
  }
  return std::nullopt;
}

nlohmann::json stats_json(const SessionStats& stats, std::optional<int64_t> peak_rss) {
  nlohmann::json by_category = nlohmann::json::object();
  for (int c = 0; c < kNumMemoryCategories; ++c) {
    by_category[memory_category_name(static_cast<MemoryCategory>(c))] =
        stats.run_peak_by_category[static_cast<size_t>(c)];
  }
  return {
      {"max_bytes_in_use", stats.run.peak_bytes_in_use},
      {"bytes_in_use", stats.run.bytes_in_use},
      {"bytes_limit", stats.run.bytes_limit},
      {"num_allocs", stats.run.num_allocs},
      {"largest_alloc_size", stats.run.largest_alloc_size},
      {"predicted_peak_bytes", stats.predicted_peak_bytes},
      {"weights_mapped_bytes", stats.weights_mapped_bytes},
      {"peak_rss_bytes", peak_rss ? nlohmann::json(*peak_rss) : nlohmann::json(nullptr)},
      {"by_category", by_category},
      {"lifetime", allocator_json(stats.lifetime)},
  };
}

std::string run_summary_line(const SessionStats& stats, const MemoryPlanReport& plan,
                             std::optional<int64_t> peak_rss) {
  return str_cat("pbmem: max_bytes_in_use ", human_bytes(stats.run.peak_bytes_in_use),
                 " (predicted ", human_bytes(stats.predicted_peak_bytes), "), arena ",
                 human_bytes(plan.arena_bytes), ", weights ",
                 human_bytes(stats.weights_mapped_bytes), " mapped + ",
                 human_bytes(plan.weights_packed_bytes), " packed, peak RSS ",
                 peak_rss ? human_bytes(*peak_rss) : std::string("unknown"));
}

Status write_json_file(const std::string& path, const nlohmann::json& value) {
  return write_text_file(
      path, value.dump(kJsonIndent, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

Status write_text_file(const std::string& path, const std::string& text) {
  std::string tmp = str_cat(path, ".tmp", static_cast<long long>(getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot write '", tmp, "'");
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return io_error("cannot write '", tmp, "'");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return io_error("cannot rename '", tmp, "' to '", path, "': ", ec.message());
  }
  return ok_status();
}

}  // namespace pbmem::cli

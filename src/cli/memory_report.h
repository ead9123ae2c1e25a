// How the CLI shows memory: the plan of `pbmem plan` (text and JSON), the run stats of
// `pbmem run --stats-json` and its one-line summary. Field names follow TF's AllocatorStats and
// the Python API (docs/PYTHON_API.md), so scripts can read either.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/byte_size.h"
#include "core/shape.h"
#include "core/status.h"
#include "runtime/model.h"

namespace pbmem::cli {

// Byte counts are shown with core/byte_size.h's human_bytes ("12.3 MiB") and describe_bytes
// ("12.3 MiB (12897280 bytes)").

// A shape as JSON: [d0, d1, ...] with null for unknown dims; null for an unknown rank.
nlohmann::json shape_json(const Shape& shape);

// `pbmem plan --json`: the plan's fields, weights_bytes = packed + mapped, input_shapes as
// {name: [dims]} and live_at_peak as [{name, op, bytes, first_step, last_step}].
nlohmann::json plan_json(const MemoryPlanReport& report, bool with_ascii);

// `pbmem plan` text: the peak and its parts, bounds, schedule, the peak step and what is live
// there (the largest tensors), and with_ascii the plan picture.
void print_plan(const std::string& model_path, const MemoryPlanReport& report, bool with_ascii);

// The process's peak resident set (VmHWM in /proc/self/status) in bytes; nullopt where the
// kernel does not report it.
std::optional<int64_t> peak_rss_bytes();

// `pbmem run --stats-json`: the run's AllocatorStats (max_bytes_in_use is its peak), the plan's
// prediction, mapped weights, peak RSS (null when unknown), the per-category run peaks and the
// lifetime AllocatorStats.
nlohmann::json stats_json(const SessionStats& stats, std::optional<int64_t> peak_rss);

// "pbmem: max_bytes_in_use 12.3 MiB (predicted 12.3 MiB), arena 8.1 MiB, weights 16.2 MiB
// mapped + 0.4 MiB packed, peak RSS 48.0 MiB".
std::string run_summary_line(const SessionStats& stats, const MemoryPlanReport& plan,
                             std::optional<int64_t> peak_rss);

// Writes `value` to a temporary file next to `path` and renames it over `path`, so a reader
// never sees a half-written file.
Status write_json_file(const std::string& path, const nlohmann::json& value);
// The same for any text (an HTML report).
Status write_text_file(const std::string& path, const std::string& text);

}  // namespace pbmem::cli

// See batch_progress.h.
#include "cli/batch_progress.h"

#include <cmath>
#include <unistd.h>

#include "cli/memory_report.h"

namespace pbmem::cli {

namespace {

// Erases the terminal line the cursor is on (carriage return, then ANSI "erase in line").
constexpr char kRedrawLine[] = "\r\x1b[K";

std::string describe_seconds(double seconds) {
  constexpr int64_t kSecondsPerMinute = 60;
  int64_t whole = static_cast<int64_t>(std::ceil(seconds));
  if (whole < kSecondsPerMinute) return std::to_string(whole) + "s";
  return std::to_string(whole / kSecondsPerMinute) + "m" + std::to_string(whole % kSecondsPerMinute) + "s";
}

}  // namespace

BatchProgress::BatchProgress(std::FILE* out, int64_t total_samples)
    : out_(out), tty_(::isatty(::fileno(out)) == 1), total_(total_samples), start_(Clock::now()),
      last_plain_(start_) {}

std::string BatchProgress::describe(int64_t done, int64_t total, double seconds, int64_t max_bytes_in_use) {
  std::string line = std::to_string(done) + "/" + std::to_string(total) + " samples";
  if (seconds > 0 && done > 0) {
    double rate = static_cast<double>(done) / seconds;
    char text[64];
    std::snprintf(text, sizeof(text), ", %.1f samples/s", rate);
    line += text;
    line += ", ETA " + describe_seconds(static_cast<double>(total - done) / rate);
  }
  line += ", max_bytes_in_use " + human_bytes(max_bytes_in_use);
  return line;
}

void BatchProgress::update(int64_t done, int64_t max_bytes_in_use) {
  Clock::time_point now = Clock::now();
  double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = describe(done, total_, seconds, max_bytes_in_use);
  if (tty_) {
    std::fprintf(out_, "%spbmem: %s", kRedrawLine, line.c_str());
    line_open_ = true;
  } else if (!printed_ || done == total_ || now - last_plain_ >= kPlainInterval) {
    std::fprintf(out_, "pbmem: progress: %s\n", line.c_str());
    last_plain_ = now;
    printed_ = true;
  }
  std::fflush(out_);
}

void BatchProgress::finish() {
  if (line_open_) std::fprintf(out_, "\n");
  line_open_ = false;
  std::fflush(out_);
}

}  // namespace pbmem::cli

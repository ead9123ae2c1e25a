// Progress of `pbmem run --input-dir` on stderr.
//
// On a terminal (isatty(stderr)) one line is redrawn in place after every batch: samples
// done/total, samples/s, ETA and the session's current MaxBytesInUse. Elsewhere (logs, pipes)
// plain lines are printed: after the first batch, then at most one per kPlainInterval, then
// after the last batch, so a long run neither floods a log nor stays silent.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace pbmem::cli {

class BatchProgress {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kPlainInterval{2};

  BatchProgress(std::FILE* out, int64_t total_samples);
  // After a batch: `done` samples so far, the session's MaxBytesInUse for that batch.
  void update(int64_t done, int64_t max_bytes_in_use);
  // Ends the redrawn line (on a terminal).
  void finish();

  // "37/1000 samples, 412.3 samples/s, ETA 2s, max_bytes_in_use 1.2 MiB"
  static std::string describe(int64_t done, int64_t total, double seconds, int64_t max_bytes_in_use);

 private:
  std::FILE* out_;
  bool tty_;
  int64_t total_;
  Clock::time_point start_;
  Clock::time_point last_plain_;
  bool printed_ = false;
  bool line_open_ = false;
};

}  // namespace pbmem::cli

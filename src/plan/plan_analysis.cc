// Checks and views of a plan: the no-overlap self-check, the live-bytes lower bound and the
// ASCII picture. They take plain records, so tests and tools can use them on any plan.
#include <algorithm>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "plan/memory_planner.h"

namespace pbmem {
namespace {

constexpr int kMaxDumpWidth = 1000;
constexpr int64_t kMaxDumpSteps = 10000;  // longer plans are cut off with a note
constexpr int kDigits = 10;
constexpr int kLetters = 26;

// Planned (non-alias) records whose fields are usable; the aligned size goes in *aligned.
bool usable_root(const UsageRecord& r, int64_t* aligned) {
  return r.alias_of < 0 && r.first_step >= 0 && r.first_step <= r.last_step &&
         align_plan_size(r.size, aligned);
}

char ordinal_char(int id) {
  if (id < kDigits) return static_cast<char>('0' + id);
  if (id < kDigits + kLetters) return static_cast<char>('a' + id - kDigits);
  if (id < kDigits + 2 * kLetters) return static_cast<char>('A' + id - kDigits - kLetters);
  return '*';
}

int64_t saturate(__int128 v) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return v > kMax ? kMax : static_cast<int64_t>(v);
}

}  // namespace

Status check_no_overlap(const std::vector<UsageRecord>& records, int64_t arena_size) {
  const int n = static_cast<int>(records.size());
  std::vector<int64_t> aligned(n, 0);
  std::vector<int> root_of(n);
  std::vector<int> roots;
  for (int i = 0; i < n; ++i) {
    const UsageRecord& r = records[i];
    if (r.alias_of >= 0) {
      if (r.alias_of >= i) {
        return invalid_argument("record ", i, ": alias_of ", r.alias_of,
                                " must name an earlier record");
      }
      root_of[i] = root_of[r.alias_of];
      if (r.offset != records[root_of[i]].offset) {
        return invalid_argument("record ", i, " (alias of ", r.alias_of, ") has offset ", r.offset,
                                " but its root record ", root_of[i], " has offset ",
                                records[root_of[i]].offset);
      }
      continue;
    }
    root_of[i] = i;
    if (r.first_step < 0 || r.first_step > r.last_step) {
      return invalid_argument("record ", i, ": lifetime [", r.first_step, ", ", r.last_step,
                              "] must have 0 <= first_step <= last_step");
    }
    if (!align_plan_size(r.size, &aligned[i])) {
      return invalid_argument("record ", i, ": size ", r.size, " is negative or too large");
    }
    if (r.offset < 0 || r.offset % kPlanAlignment != 0) {
      return invalid_argument("record ", i, ": offset ", r.offset,
                              " must be >= 0 and a multiple of ", kPlanAlignment);
    }
    int64_t end = 0;
    if (__builtin_add_overflow(r.offset, aligned[i], &end) ||
        (arena_size >= 0 && end > arena_size)) {
      return invalid_argument("record ", i, ": bytes [", r.offset, ", ", r.offset, " + ",
                              aligned[i], ") end outside the arena of ", arena_size, " bytes");
    }
    roots.push_back(i);
  }
  std::sort(roots.begin(), roots.end(), [&](int a, int b) {
    if (records[a].first_step != records[b].first_step) {
      return records[a].first_step < records[b].first_step;
    }
    return a < b;
  });
  std::vector<int> live;  // records whose lifetime reaches the current first_step
  for (int i : roots) {
    const UsageRecord& r = records[i];
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](int j) { return records[j].last_step < r.first_step; }),
               live.end());
    for (int j : live) {
      const UsageRecord& o = records[j];
      if (aligned[i] > 0 && aligned[j] > 0 && r.offset < o.offset + aligned[j] &&
          o.offset < r.offset + aligned[i]) {
        return invalid_argument("records ", j, " and ", i, " are live together (steps [",
                                o.first_step, ", ", o.last_step, "] and [", r.first_step, ", ",
                                r.last_step, "]) but overlap in bytes ([", o.offset, ", ",
                                o.offset + aligned[j], ") and [", r.offset, ", ",
                                r.offset + aligned[i], "))");
      }
    }
    live.push_back(i);
  }
  return ok_status();
}

LiveBytesPeak live_bytes_peak(const std::vector<UsageRecord>& records) {
  std::vector<std::pair<int64_t, int64_t>> events;  // (step, +size at first / -size after last)
  events.reserve(2 * records.size());
  for (const UsageRecord& r : records) {
    int64_t aligned = 0;
    if (!usable_root(r, &aligned) || aligned == 0) continue;
    events.emplace_back(r.first_step, aligned);
    events.emplace_back(static_cast<int64_t>(r.last_step) + 1, -aligned);
  }
  std::sort(events.begin(), events.end());
  LiveBytesPeak peak;
  __int128 live = 0, best = 0;
  for (size_t i = 0; i < events.size();) {
    const int64_t step = events[i].first;
    for (; i < events.size() && events[i].first == step; ++i) live += events[i].second;
    if (live > best) {  // only a first_step can raise the total, so `step` fits in int
      best = live;
      peak.step = static_cast<int>(step);
    }
  }
  peak.bytes = saturate(best);
  return peak;
}

std::vector<int64_t> live_bytes_per_step(const std::vector<UsageRecord>& records, int num_steps) {
  if (num_steps <= 0) return {};
  const size_t n = static_cast<size_t>(num_steps);
  std::vector<__int128> delta(n + 1, 0);
  for (const UsageRecord& r : records) {
    int64_t aligned = 0;
    if (!usable_root(r, &aligned) || aligned == 0 || r.first_step >= num_steps) continue;
    delta[static_cast<size_t>(r.first_step)] += aligned;
    delta[std::min(n, static_cast<size_t>(r.last_step) + 1)] -= aligned;
  }
  std::vector<int64_t> live(n, 0);
  __int128 running = 0;
  for (size_t step = 0; step < n; ++step) {
    running += delta[step];
    live[step] = saturate(running);
  }
  return live;
}

std::string dump_plan_ascii(const std::vector<UsageRecord>& records, int width) {
  width = std::clamp(width, 1, kMaxDumpWidth);
  const int n = static_cast<int>(records.size());
  std::vector<int64_t> aligned(n, 0);
  std::vector<char> drawn(n, 0);
  __int128 arena = 0;
  int64_t first = std::numeric_limits<int64_t>::max(), last = -1;
  int num_roots = 0;
  for (int i = 0; i < n; ++i) {
    const UsageRecord& r = records[i];
    if (!usable_root(r, &aligned[i])) continue;
    ++num_roots;
    first = std::min<int64_t>(first, r.first_step);
    last = std::max<int64_t>(last, r.last_step);
    if (r.offset < 0) continue;
    drawn[i] = 1;
    arena = std::max(arena, static_cast<__int128>(r.offset) + aligned[i]);
  }
  const LiveBytesPeak bound = live_bytes_peak(records);
  std::ostringstream out;
  out << "arena " << saturate(arena) << " bytes, live-bytes lower bound " << bound.bytes
      << " bytes at step " << bound.step << ", " << num_roots << " buffers\n";
  for (int i = 0; i < n; ++i) {
    const UsageRecord& r = records[i];
    if (r.alias_of >= 0 && r.alias_of < n) {
      out << "  " << ordinal_char(i) << " (" << i << "): alias of " << r.alias_of << ", steps "
          << r.first_step << ".." << r.last_step << "\n";
    } else if (drawn[i]) {
      out << "  " << ordinal_char(i) << " (" << i << "): " << aligned[i] << " bytes at "
          << r.offset << ", steps " << r.first_step << ".." << r.last_step << "\n";
    }
  }
  const int64_t end = last < 0 ? -1 : std::min(last, first + kMaxDumpSteps - 1);
  for (int64_t step = first; step <= end; ++step) {
    std::string line(static_cast<size_t>(width), '.');
    __int128 live = 0;
    for (int i = 0; i < n; ++i) {
      const UsageRecord& r = records[i];
      if (!drawn[i] || step < r.first_step || step > r.last_step || aligned[i] == 0) continue;
      live += aligned[i];
      const __int128 lo = static_cast<__int128>(r.offset) * width / arena;
      const __int128 end = static_cast<__int128>(r.offset) + aligned[i];
      const __int128 hi = (end * width + arena - 1) / arena;  // rounded up: a sliver shows
      for (__int128 c = lo; c < hi && c < width; ++c) {
        line[static_cast<size_t>(c)] = ordinal_char(i);
      }
    }
    out << "step " << step << " |" << line << "| " << saturate(live) << "\n";
  }
  if (last > end) out << "... " << (last - end) << " more steps\n";
  return out.str();
}

}  // namespace pbmem

// The scheduler's driver: split the core graph at its cut nodes (nodes every other node is an
// ancestor or a descendant of, so every topological order runs them at the same place), rate the
// default order and the greedy orders per segment, search the segments with widening beams while
// the budget lasts (highest peaks first), and stitch the best order of each segment together.
#include "plan/schedule.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "plan/schedule_internal.h"

namespace pbmem {

using namespace schedule_detail;  // NOLINT: this file is the front end of those internals

namespace {

// The first round's beam (states kept per layer) and its growth per round.
constexpr int kFirstBeamWidth = 4;
constexpr int kBeamGrowth = 4;

struct Segment {
  int begin = 0;  // core positions [begin, end)
  int end = 0;
};

// Cut test for the node c at position i of a topological order of a DAG: every earlier node
// reaches c iff each has a successor and the only edges leaving the prefix enter c (follow
// successors: they stay in the prefix, moving forward, until one enters c); symmetrically for
// the later nodes. Edge counts per boundary come from a difference array: O(V + E).
std::vector<Segment> find_segments(const ScheduleGraph& g, const CoreGraph& core) {
  const std::vector<int>& order = core.default_core_order;
  const int m = static_cast<int>(order.size());
  std::vector<int64_t> crossing(m + 1, 0);  // crossing[b]: edges from positions < b to >= b
  std::vector<char> sink_before(m + 1, 0);  // some node at a position < b has no successor
  std::vector<char> source_after(m + 1, 0); // some node at a position > i has no core pred
  for (int i = 0; i < m; ++i) {
    for (int w : g.succs[order[i]]) {
      ++crossing[i + 1];
      --crossing[core.core_pos[w] + 1];
    }
    sink_before[i + 1] = sink_before[i] || g.succs[order[i]].empty();
  }
  for (int b = 1; b <= m; ++b) crossing[b] += crossing[b - 1];
  for (int i = m - 1; i > 0; --i) {
    source_after[i - 1] = source_after[i] || core.core_preds[order[i]].empty();
  }
  std::vector<Segment> segments;
  int start = 0;
  for (int i = 0; i < m; ++i) {
    const int v = order[i];
    const bool ancestors_before =
        i == 0 || (!sink_before[i] &&
                   crossing[i] == static_cast<int64_t>(core.core_preds[v].size()));
    const bool descendants_after =
        i == m - 1 || (!source_after[i] &&
                       crossing[i + 1] == static_cast<int64_t>(g.succs[v].size()));
    if (!ancestors_before || !descendants_after) continue;
    if (start < i) segments.push_back({start, i});
    segments.push_back({i, i + 1});
    start = i + 1;
  }
  if (start < m) segments.push_back({start, m});
  return segments;
}

// A complete core order rated per segment.
struct Candidate {
  std::vector<int> core_order;
  std::vector<int64_t> segment_peak;
};

Candidate rate(const ScheduleGraph& g, const CoreGraph& core, const std::vector<Segment>& segments,
               std::vector<int> core_order, std::vector<int64_t>* live_at_start) {
  Candidate c;
  std::vector<int> group_end;
  const Simulation sim = simulate(g, materialize(g, core, core_order, &group_end));
  c.core_order = std::move(core_order);
  for (const Segment& s : segments) {
    const int from = s.begin == 0 ? 0 : group_end[s.begin - 1];
    const int64_t peak = *std::max_element(sim.step_bytes.begin() + from,
                                           sim.step_bytes.begin() + group_end[s.end - 1]);
    c.segment_peak.push_back(peak);
    if (live_at_start) {
      live_at_start->push_back(from == 0 ? g.initial_live : sim.live_after[from - 1]);
    }
  }
  return c;
}

// Rounds of beam searches, each round wider, over the segments not yet solved exactly, the
// highest peaks first (they decide the overall peak), until the budget runs out. Lowers
// best_peak where an order beats it and returns those orders (empty: keep the candidate's);
// fills the result's search counters.
std::vector<std::vector<int>> search_in_rounds(const ScheduleGraph& g, const CoreGraph& core,
                                               const std::vector<Segment>& segments,
                                               const std::vector<int64_t>& live_at_start,
                                               Clock::time_point deadline, int max_states,
                                               std::vector<int64_t>& best_peak,
                                               ScheduleResult& result) {
  const int num_segments = static_cast<int>(segments.size());
  std::vector<int> segment_of(g.num_nodes, -1);
  std::vector<int> open;  // segments of 2+ nodes not solved exactly yet
  for (int k = 0; k < num_segments; ++k) {
    for (int i = segments[k].begin; i < segments[k].end; ++i) {
      segment_of[core.default_core_order[i]] = k;
    }
    if (segments[k].end - segments[k].begin >= 2) open.push_back(k);
  }
  std::vector<std::vector<int>> searched_order(num_segments);
  std::vector<char> searched(num_segments, 0);
  int width = std::min(kFirstBeamWidth, max_states);
  while (!open.empty() && !result.out_of_time) {
    std::stable_sort(open.begin(), open.end(),
                     [&](int a, int b) { return best_peak[a] > best_peak[b]; });
    std::vector<int> still_open;
    for (int k : open) {
      SegmentSearchResult found;
      if (Clock::now() < deadline) {
        SegmentProblem segment;
        segment.begin = segments[k].begin;
        segment.end = segments[k].end;
        segment.live_at_start = live_at_start[k];
        segment.upper_bound = best_peak[k];
        found = search_segment(g, core, segment_of, k, segment, deadline, width);
      }
      if (!found.completed) {
        result.out_of_time = true;
        break;
      }
      searched[k] = 1;
      if (found.found && found.peak < best_peak[k]) {
        best_peak[k] = found.peak;
        searched_order[k] = std::move(found.order);
      }
      if (found.exact) {
        ++result.segments_exact;
      } else {
        still_open.push_back(k);
      }
    }
    if (width >= max_states) break;
    width = static_cast<int>(
        std::min<int64_t>(max_states, static_cast<int64_t>(width) * kBeamGrowth));
    open = std::move(still_open);
  }
  result.segments_searched = static_cast<int>(std::count(searched.begin(), searched.end(), 1));
  return searched_order;
}

}  // namespace

Status validate_schedule(const ScheduleProblem& problem, const std::vector<int>& order) {
  PBMEM_ASSIGN_OR_RETURN(ScheduleGraph g, build_schedule_graph(problem));
  return check_order(g, order, "order");
}

int64_t simulate_peak(const ScheduleProblem& problem, const std::vector<int>& order) {
  Result<ScheduleGraph> g = build_schedule_graph(problem);
  if (!g.ok() || !check_order(*g, order, "order").ok()) return -1;
  return simulate(*g, order).peak;
}

Result<std::vector<UsageRecord>> schedule_lifetimes(const ScheduleProblem& problem,
                                                    const std::vector<int>& order) {
  PBMEM_ASSIGN_OR_RETURN(ScheduleGraph g, build_schedule_graph(problem));
  PBMEM_RETURN_IF_ERROR(check_order(g, order, "order"));
  const int n = g.num_nodes;
  const int last_step = std::max(0, n - 1);
  std::vector<int> position(n);
  for (int i = 0; i < n; ++i) position[order[i]] = i;
  std::vector<UsageRecord> records(g.bytes.size());
  for (size_t t = 0; t < records.size(); ++t) {
    UsageRecord& r = records[t];
    const int producer = g.producer[t];
    if (producer < 0 && g.consumers[t].empty() && !g.persistent[t]) continue;  // never live
    r.size = g.bytes[t];
    r.first_step = producer >= 0 ? position[producer] : 0;
    r.last_step = r.first_step;
    for (int u : g.consumers[t]) r.last_step = std::max(r.last_step, position[u]);
    if (g.persistent[t]) r.last_step = last_step;
  }
  return records;
}

Result<ScheduleResult> memory_aware_schedule(const ScheduleProblem& problem,
                                             const ScheduleOptions& options) {
  const Clock::time_point start = Clock::now();
  if (!(options.time_budget_ms >= 0) || !std::isfinite(options.time_budget_ms)) {
    return invalid_argument("schedule option time_budget_ms must be a finite number >= 0, got ",
                            options.time_budget_ms);
  }
  if (options.max_states_per_layer < 1) {
    return invalid_argument("schedule option max_states_per_layer must be >= 1, got ",
                            options.max_states_per_layer);
  }
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double, std::milli>(options.time_budget_ms));
  PBMEM_ASSIGN_OR_RETURN(ScheduleGraph g, build_schedule_graph(problem));
  PBMEM_RETURN_IF_ERROR(check_order(g, problem.default_order, "default_order"));

  ScheduleResult result;
  result.default_peak_bytes = simulate(g, problem.default_order).peak;
  const CoreGraph core = build_core_graph(g, problem.default_order);
  const std::vector<Segment> segments = find_segments(g, core);
  result.num_segments = static_cast<int>(segments.size());

  std::vector<int64_t> live_at_start;
  std::vector<Candidate> candidates;
  candidates.push_back(rate(g, core, segments, core.default_core_order, &live_at_start));
  for (GreedyRule rule : {GreedyRule::kLeastGrowth, GreedyRule::kSmallestStep}) {
    candidates.push_back(rate(g, core, segments, greedy_core_order(g, core, rule), nullptr));
  }
  // Per segment: the best candidate (earliest on ties, so the default order when nothing wins).
  const int num_segments = result.num_segments;
  std::vector<int> chosen(num_segments, 0);
  std::vector<int64_t> best_peak(num_segments);
  for (int k = 0; k < num_segments; ++k) {
    best_peak[k] = candidates[0].segment_peak[k];
    for (size_t c = 1; c < candidates.size(); ++c) {
      if (candidates[c].segment_peak[k] < best_peak[k]) {
        best_peak[k] = candidates[c].segment_peak[k];
        chosen[k] = static_cast<int>(c);
      }
    }
  }

  std::vector<std::vector<int>> searched_order =
      search_in_rounds(g, core, segments, live_at_start, deadline, options.max_states_per_layer,
                       best_peak, result);

  std::vector<int> core_order;
  core_order.reserve(core.default_core_order.size());
  for (int k = 0; k < num_segments; ++k) {
    if (!searched_order[k].empty()) {
      core_order.insert(core_order.end(), searched_order[k].begin(), searched_order[k].end());
    } else {
      const std::vector<int>& from = candidates[chosen[k]].core_order;
      core_order.insert(core_order.end(), from.begin() + segments[k].begin,
                        from.begin() + segments[k].end);
    }
  }
  result.order = materialize(g, core, core_order);
  PBMEM_RETURN_IF_ERROR(check_order(g, result.order, "the stitched schedule (a pbmem bug)"));
  result.peak_bytes = simulate(g, result.order).peak;
  if (result.peak_bytes > result.default_peak_bytes) {  // cannot happen; keep the promise anyway
    result.order = problem.default_order;
    result.peak_bytes = result.default_peak_bytes;
  }
  return result;
}

}  // namespace pbmem

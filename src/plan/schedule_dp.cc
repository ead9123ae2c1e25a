// The segment search (SERENITY's dynamic programming over scheduled sets): layer d holds every
// set of d segment nodes that is closed under predecessors, each with the lowest peak of any
// order reaching it. The live bytes after a set do not depend on the order, so the set plus the
// best peak is the whole state. Transitions whose peak reaches the upper bound (the best order
// already known) are pruned; a layer wider than the beam keeps its best states (then the result
// is a heuristic); the clock is checked as it goes.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <utility>

#include "plan/schedule_internal.h"

namespace pbmem {
namespace schedule_detail {
namespace {

constexpr int kBitsPerWord = 64;
constexpr int kClockCheckInterval = 256;  // transitions between looks at the clock
constexpr uint64_t kHashMultiplier = 0x9E3779B97F4A7C15ull;
constexpr int kHashShift = 29;
constexpr size_t kMinSlots = 16;
constexpr int kOverfill = 4;  // a layer under construction holds at most this many beams

// The states of one layer: sets as bit words, their live bytes and best peak, their ready nodes
// (a pooled list each) and how they were reached. A hash table finds a set while the layer is
// built.
struct Layer {
  explicit Layer(int words) : words(words) {}

  int size() const { return static_cast<int>(live.size()); }
  const uint64_t* bits_of(int i) const { return &bits[static_cast<size_t>(i) * words]; }

  // Index of the state with these bits, or -1; `hash` from hash_bits.
  int find(const uint64_t* key, uint64_t hash) const {
    if (slots.empty()) return -1;
    for (size_t s = hash & (slots.size() - 1);; s = (s + 1) & (slots.size() - 1)) {
      if (slots[s] < 0) return -1;
      if (std::memcmp(bits_of(slots[s]), key, sizeof(uint64_t) * words) == 0) return slots[s];
    }
  }

  void add(const uint64_t* key, uint64_t hash, int64_t state_live, int64_t state_peak,
           int from, int node) {
    bits.insert(bits.end(), key, key + words);
    live.push_back(state_live);
    peak.push_back(state_peak);
    parent.push_back(from);
    via.push_back(node);
    ready_begin.push_back(static_cast<int>(ready_pool.size()));
    if (2 * live.size() > slots.size()) {
      rehash(std::max(kMinSlots, 4 * live.size()));
    } else {
      insert_slot(size() - 1, hash);
    }
  }

  uint64_t hash_bits(const uint64_t* key) const {
    uint64_t h = 0;
    for (int w = 0; w < words; ++w) {
      h = (h ^ key[w]) * kHashMultiplier;
      h ^= h >> kHashShift;
    }
    return h;
  }

  void insert_slot(int index, uint64_t hash) {
    size_t s = hash & (slots.size() - 1);
    while (slots[s] >= 0) s = (s + 1) & (slots.size() - 1);
    slots[s] = index;
  }

  void rehash(size_t capacity) {
    size_t power = kMinSlots;
    while (power < capacity) power *= 2;
    slots.assign(power, -1);
    for (int i = 0; i < size(); ++i) insert_slot(i, hash_bits(bits_of(i)));
  }

  int words;
  std::vector<uint64_t> bits;
  std::vector<int64_t> live;
  std::vector<int64_t> peak;
  std::vector<int> parent;       // index in the previous layer
  std::vector<int> via;          // local index of the node run last
  std::vector<int> ready_begin;  // state i's ready list: ready_pool[ready_begin[i] .. next)
  std::vector<int> ready_pool;
  std::vector<int> slots;        // open addressing, -1 = empty
};

class SegmentSearch {
 public:
  SegmentSearch(const ScheduleGraph& g, const CoreGraph& core, const std::vector<int>& segment_of,
                int index, const SegmentProblem& segment)
      : g_(g), core_(core), segment_of_(segment_of), index_(index), segment_(segment),
        size_(segment.end - segment.begin), words_((size_ + kBitsPerWord - 1) / kBitsPerWord),
        local_preds_(size_), local_succs_(size_) {
    for (int j = 0; j < size_; ++j) {
      const int v = node(j);
      for (int p : core.core_preds[v]) {
        if (segment_of[p] != index) continue;
        local_preds_[j].push_back(local(p));
        local_succs_[local(p)].push_back(j);
      }
    }
  }

  SegmentSearchResult run(Clock::time_point deadline, int max_states) {
    SegmentSearchResult result;
    result.exact = true;
    Layer current(words_);
    std::vector<uint64_t> empty(words_, 0);
    current.add(empty.data(), current.hash_bits(empty.data()), segment_.live_at_start, 0, -1, -1);
    for (int j = 0; j < size_; ++j) {
      if (local_preds_[j].empty()) current.ready_pool.push_back(j);
    }
    std::vector<std::vector<std::pair<int, int>>> history;  // per layer: (parent, via)
    std::vector<uint64_t> next_bits(words_);
    int transitions = 0;
    for (int depth = 1; depth <= size_; ++depth) {
      Layer next(words_);
      for (int i = 0; i < current.size(); ++i) {
        const uint64_t* bits = current.bits_of(i);
        const int ready_end = i + 1 < current.size() ? current.ready_begin[i + 1]
                                                     : static_cast<int>(current.ready_pool.size());
        for (int r = current.ready_begin[i]; r < ready_end; ++r) {
          if (++transitions % kClockCheckInterval == 0 && Clock::now() > deadline) return result;
          const int j = current.ready_pool[r];
          int64_t step = 0, freed = 0;
          effect(bits, j, &step, &freed);
          const int64_t peak = std::max(current.peak[i], current.live[i] + step);
          if (peak >= segment_.upper_bound) continue;
          std::copy(bits, bits + words_, next_bits.begin());
          set_bit(next_bits.data(), j);
          const uint64_t hash = next.hash_bits(next_bits.data());
          const int found = next.find(next_bits.data(), hash);
          if (found >= 0) {
            if (peak < next.peak[found]) {
              next.peak[found] = peak;
              next.parent[found] = i;
              next.via[found] = j;
            }
            continue;
          }
          next.add(next_bits.data(), hash, current.live[i] + step - freed, peak, i, j);
          for (int q = current.ready_begin[i]; q < ready_end; ++q) {
            if (current.ready_pool[q] != j) next.ready_pool.push_back(current.ready_pool[q]);
          }
          for (int w : local_succs_[j]) {
            if (all_preds_in(next_bits.data(), w)) next.ready_pool.push_back(w);
          }
          if (next.size() >= kOverfill * max_states) {  // bound memory on very wide graphs
            next = keep_best(next, max_states);
            result.exact = false;
          }
        }
      }
      if (next.size() == 0) {  // everything reached the bound
        result.completed = true;
        return result;
      }
      if (next.size() > max_states) {
        next = keep_best(next, max_states);
        result.exact = false;
      }
      std::vector<std::pair<int, int>> links(next.size());
      for (int i = 0; i < next.size(); ++i) links[i] = {next.parent[i], next.via[i]};
      history.push_back(std::move(links));
      current = std::move(next);
    }
    result.completed = true;
    result.found = true;
    result.peak = current.peak[0];
    result.order.resize(size_);
    for (int depth = size_ - 1, state = 0; depth >= 0; --depth) {
      result.order[depth] = node(history[depth][state].second);
      state = history[depth][state].first;
    }
    return result;
  }

 private:
  int node(int j) const { return core_.default_core_order[segment_.begin + j]; }
  int local(int v) const { return core_.core_pos[v] - segment_.begin; }
  static bool has_bit(const uint64_t* bits, int j) {
    return (bits[j / kBitsPerWord] >> (j % kBitsPerWord)) & 1u;
  }
  static void set_bit(uint64_t* bits, int j) {
    bits[j / kBitsPerWord] |= uint64_t{1} << (j % kBitsPerWord);
  }

  bool all_preds_in(const uint64_t* bits, int j) const {
    for (int p : local_preds_[j]) {
      if (!has_bit(bits, p)) return false;
    }
    return true;
  }

  // Whether a node has run once the segment's set `bits` has (floating: any successor has).
  bool done(const uint64_t* bits, int v) const {
    if (core_.floating[v]) {
      for (int w : g_.succs[v]) {
        if (done(bits, w)) return true;
      }
      return false;
    }
    if (segment_of_[v] != index_) return segment_of_[v] < index_;
    return has_bit(bits, local(v));
  }

  // Bytes added at local node j's step (its outputs and those of attached floating nodes that
  // run with it) and bytes freed after it, given the set `bits` already ran.
  void effect(const uint64_t* bits, int j, int64_t* step, int64_t* freed) const {
    const int v = node(j);
    *step = g_.out_bytes[v];
    for (int s : core_.attached[v]) {
      if (!done(bits, s)) *step += g_.out_bytes[s];
    }
    *freed = g_.dead_bytes[v];
    for (int t : g_.inputs[v]) {
      if (!g_.freeable(t) || g_.bytes[t] == 0) continue;
      bool last = true;
      for (int u : g_.consumers[t]) {
        if (u != v && !done(bits, u)) {
          last = false;
          break;
        }
      }
      if (last) *freed += g_.bytes[t];
    }
  }

  // The `keep` states with the lowest (peak, live), in their original order, findable again.
  Layer keep_best(const Layer& layer, int keep) const {
    std::vector<int> ids(layer.size());
    std::iota(ids.begin(), ids.end(), 0);
    auto better = [&](int a, int b) {
      if (layer.peak[a] != layer.peak[b]) return layer.peak[a] < layer.peak[b];
      if (layer.live[a] != layer.live[b]) return layer.live[a] < layer.live[b];
      return a < b;
    };
    std::nth_element(ids.begin(), ids.begin() + keep, ids.end(), better);
    ids.resize(keep);
    std::sort(ids.begin(), ids.end());
    Layer kept(words_);
    for (int i : ids) {
      kept.bits.insert(kept.bits.end(), layer.bits_of(i), layer.bits_of(i) + words_);
      kept.live.push_back(layer.live[i]);
      kept.peak.push_back(layer.peak[i]);
      kept.parent.push_back(layer.parent[i]);
      kept.via.push_back(layer.via[i]);
      kept.ready_begin.push_back(static_cast<int>(kept.ready_pool.size()));
      const int end = i + 1 < layer.size() ? layer.ready_begin[i + 1]
                                           : static_cast<int>(layer.ready_pool.size());
      kept.ready_pool.insert(kept.ready_pool.end(), layer.ready_pool.begin() + layer.ready_begin[i],
                             layer.ready_pool.begin() + end);
    }
    kept.rehash(2 * static_cast<size_t>(keep));  // it may still be growing
    return kept;
  }

  const ScheduleGraph& g_;
  const CoreGraph& core_;
  const std::vector<int>& segment_of_;
  int index_;
  SegmentProblem segment_;
  int size_;
  int words_;
  std::vector<std::vector<int>> local_preds_;
  std::vector<std::vector<int>> local_succs_;
};

}  // namespace

SegmentSearchResult search_segment(const ScheduleGraph& g, const CoreGraph& core,
                                   const std::vector<int>& segment_of, int index,
                                   const SegmentProblem& segment, Clock::time_point deadline,
                                   int max_states_per_layer) {
  return SegmentSearch(g, core, segment_of, index, segment)
      .run(deadline, std::max(1, max_states_per_layer));
}

}  // namespace schedule_detail
}  // namespace pbmem

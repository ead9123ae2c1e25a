// Tests of the arena planners: hand-computed greedy and skyline offsets (best fit vs first fit),
// the linear baseline, aliases, alignment, compaction, the best-of planner, the self-check, the
// live-bytes lower bound, the ASCII dump, bad input, and thousands of seeded random lifetimes
// (valid, >= the bound, best-of <= greedy).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "plan/memory_planner.h"

namespace pbmem {
namespace {

constexpr int64_t kUnit = kPlanAlignment;

struct Buffer {
  int64_t size;
  int first;
  int last;
};

// P, Q, R, S, U are placed one above the other; V (steps 2..9) then sees two holes left by the
// short-lived Q (6 units at 20) and S (4 units at 31): best fit takes the 4-unit hole.
const std::vector<Buffer> kTwoHoles = {
    {20 * kUnit, 0, 9},      // P
    {6 * kUnit - 63, 0, 1},  // Q (rounds up to 6 units)
    {5 * kUnit, 0, 9},       // R
    {4 * kUnit - 63, 0, 1},  // S
    {3 * kUnit, 0, 9},       // U
    {3 * kUnit - 62, 2, 9},  // V: ties with U on size, loses on first_step
};

void add_all(MemoryPlanner& planner, const std::vector<Buffer>& buffers) {
  for (const Buffer& b : buffers) planner.add_buffer(b.size, b.first, b.last);
}

std::vector<int64_t> offsets(const MemoryPlanner& planner) {
  std::vector<int64_t> out;
  for (int i = 0; i < planner.num_records(); ++i) out.push_back(planner.offset_of(i));
  return out;
}

TEST(PlanGreedy, BestFitTakesTheSmallestHole) {
  GreedyPlanner planner;
  add_all(planner, kTwoHoles);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(offsets(planner),
            (std::vector<int64_t>{0, 20 * kUnit, 26 * kUnit, 31 * kUnit, 35 * kUnit, 31 * kUnit}));
  EXPECT_EQ(planner.arena_size(), 38 * kUnit);
  EXPECT_EQ(planner.arena_size(), live_bytes_lower_bound(planner.records()));
}

TEST(PlanGreedy, FirstFitTakesTheLowestHole) {
  GreedyPlanner planner(GreedyOrder::kSize, GapFit::kFirst);
  add_all(planner, kTwoHoles);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(offsets(planner),
            (std::vector<int64_t>{0, 20 * kUnit, 26 * kUnit, 31 * kUnit, 35 * kUnit, 20 * kUnit}));
  EXPECT_EQ(planner.arena_size(), 38 * kUnit);
}

TEST(PlanGreedy, ReusesBytesOfDeadBuffersInAChain) {
  // A chain a -> b -> c -> d: each buffer is live with its neighbours only.
  GreedyPlanner planner;
  planner.add_buffer(4 * kUnit, 0, 1);
  planner.add_buffer(8 * kUnit, 1, 2);
  planner.add_buffer(2 * kUnit, 2, 3);
  planner.add_buffer(8 * kUnit, 3, 4);
  ASSERT_TRUE(planner.plan().ok());
  // Sizes 8(b), 8(d), 4(a), 2(c): b at 0; d at 0 (no overlap with b); a above b; c above b
  // and d, since c overlaps both.
  EXPECT_EQ(offsets(planner), (std::vector<int64_t>{8 * kUnit, 0, 8 * kUnit, 0}));
  EXPECT_EQ(planner.arena_size(), 12 * kUnit);
}

TEST(PlanSkyline, FillsTheLowestStretchFirst) {
  // Two time sections, steps 0-1 and 2-9. By lifetime: P, R, U (0-9) stack up to 28 units; V
  // (2-9) goes on top at 28; the lowest stretch is then steps 0-1 (28), where Q fits; steps 2-9
  // (31) fit nothing left and rise to 34, where S goes.
  SkylinePlanner planner;
  add_all(planner, kTwoHoles);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(offsets(planner), (std::vector<int64_t>{0, 28 * kUnit, 20 * kUnit, 34 * kUnit,
                                                    25 * kUnit, 28 * kUnit}));
  EXPECT_EQ(planner.arena_size(), 38 * kUnit);
  EXPECT_EQ(planner.name(), "skyline(longest)");
}

TEST(PlanBest, StopsAtTheBoundAndNamesTheWinner) {
  auto planner = make_best_planner();
  add_all(*planner, kTwoHoles);
  ASSERT_TRUE(planner->plan().ok());
  EXPECT_EQ(planner->arena_size(), 38 * kUnit);
  EXPECT_EQ(planner->name(), "best-of(greedy(size, best-fit))");
}

TEST(PlanBest, LocalSearchIsDeterministicAndNeverWorse) {
  std::mt19937 rng(31);
  for (int c = 0; c < 20; ++c) {
    std::vector<Buffer> buffers;
    for (int i = 0; i < 60; ++i) {
      const int first = static_cast<int>(rng() % 40);
      buffers.push_back({static_cast<int64_t>(1 + rng() % 50) * kUnit, first,
                         first + static_cast<int>(rng() % 6)});
    }
    BestPlannerOptions no_search;
    no_search.search_work = 0;
    auto first = make_best_planner(), second = make_best_planner();
    auto heuristics_only = make_best_planner(no_search);
    for (MemoryPlanner* p : {first.get(), second.get(), heuristics_only.get()}) {
      add_all(*p, buffers);
      ASSERT_TRUE(p->plan().ok());
    }
    EXPECT_EQ(offsets(*first), offsets(*second)) << "case " << c;
    EXPECT_LE(first->arena_size(), heuristics_only->arena_size()) << "case " << c;
    EXPECT_GE(first->arena_size(), live_bytes_lower_bound(first->records()));
  }
}

TEST(PlanCompact, NeverMovesABufferUp) {
  std::mt19937 rng(5);
  for (int c = 0; c < 200; ++c) {
    std::vector<UsageRecord> roots;
    for (int i = 0; i < 30; ++i) {
      const int first = static_cast<int>(rng() % 20);
      roots.push_back({first, first + static_cast<int>(rng() % 8),
                       static_cast<int64_t>(1 + rng() % 20) * kUnit, -1, -1});
    }
    std::vector<int> order(roots.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(order.size() - 1 - i);
    const int64_t before = place_in_order(roots, order, GapFit::kBest);
    const std::vector<UsageRecord> placed = roots;
    const int64_t after = compact_down(roots);
    ASSERT_LE(after, before);
    ASSERT_TRUE(check_no_overlap(roots, after).ok());
    for (size_t i = 0; i < roots.size(); ++i) ASSERT_LE(roots[i].offset, placed[i].offset);
  }
}

TEST(PlanLinear, PlacesBuffersOneAfterAnother) {
  LinearPlanner planner;
  add_all(planner, kTwoHoles);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(offsets(planner), (std::vector<int64_t>{0, 20 * kUnit, 26 * kUnit, 31 * kUnit,
                                                    35 * kUnit, 38 * kUnit}));
  EXPECT_EQ(planner.arena_size(), 41 * kUnit);
  EXPECT_EQ(planner.name(), "linear");
}

TEST(PlanAlias, SharesTheRootOffsetAndExtendsItsLifetime) {
  GreedyPlanner planner;
  const int a = planner.add_buffer(10 * kUnit, 0, 2);
  const int view = planner.add_alias(a, 3, 5);
  const int b = planner.add_buffer(10 * kUnit, 3, 5);  // would reuse a's bytes without the alias
  const int view_of_view = planner.add_alias(view, 6, 7);
  ASSERT_EQ(view_of_view, 3);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(planner.offset_of(a), 0);
  EXPECT_EQ(planner.offset_of(view), 0);
  EXPECT_EQ(planner.offset_of(view_of_view), 0);
  EXPECT_EQ(planner.offset_of(b), 10 * kUnit);
  EXPECT_EQ(planner.records()[a].first_step, 0);
  EXPECT_EQ(planner.records()[a].last_step, 7);
  EXPECT_EQ(planner.arena_size(), 20 * kUnit);
  EXPECT_TRUE(check_no_overlap(planner.records(), planner.arena_size()).ok());
}

TEST(PlanAlias, WithoutTheAliasTheBytesAreReused) {
  GreedyPlanner planner;
  planner.add_buffer(10 * kUnit, 0, 2);
  planner.add_buffer(10 * kUnit, 3, 5);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(offsets(planner), (std::vector<int64_t>{0, 0}));
}

TEST(PlanAlignment, RoundsSizesAndKeepsOffsetsAligned) {
  int64_t aligned = 0;
  EXPECT_TRUE(align_plan_size(0, &aligned));
  EXPECT_EQ(aligned, 0);
  EXPECT_TRUE(align_plan_size(1, &aligned));
  EXPECT_EQ(aligned, kPlanAlignment);
  EXPECT_TRUE(align_plan_size(kPlanAlignment, &aligned));
  EXPECT_EQ(aligned, kPlanAlignment);
  EXPECT_TRUE(align_plan_size(kPlanAlignment + 1, &aligned));
  EXPECT_EQ(aligned, 2 * kPlanAlignment);
  EXPECT_FALSE(align_plan_size(-1, &aligned));
  EXPECT_FALSE(align_plan_size(std::numeric_limits<int64_t>::max(), &aligned));

  GreedyPlanner planner;
  planner.add_buffer(1, 0, 0);
  planner.add_buffer(65, 0, 0);
  planner.add_buffer(0, 0, 0);  // takes no bytes
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_EQ(offsets(planner), (std::vector<int64_t>{2 * kUnit, 0, 0}));
  EXPECT_EQ(planner.arena_size(), 3 * kUnit);
  EXPECT_EQ(planner.records()[0].size, 1);  // the requested size is kept
}

TEST(PlanCheck, CatchesCraftedOverlaps) {
  std::vector<UsageRecord> records(2);
  records[0] = {0, 3, 2 * kUnit, 0, -1};
  records[1] = {3, 5, kUnit, kUnit, -1};  // live with record 0 at step 3, inside its bytes
  const Status overlap = check_no_overlap(records);
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.message().find("records 0 and 1 are live together"), std::string::npos)
      << overlap.message();

  records[1].first_step = 4;  // no longer live together
  EXPECT_TRUE(check_no_overlap(records).ok());
  EXPECT_TRUE(check_no_overlap(records, 2 * kUnit).ok());
  EXPECT_FALSE(check_no_overlap(records, kUnit).ok());  // record 0 ends outside the arena

  records[1].offset = 2 * kUnit + 1;
  EXPECT_NE(check_no_overlap(records).message().find("multiple of"), std::string::npos);
  records[1].offset = -1;
  EXPECT_FALSE(check_no_overlap(records).ok());
  records[1].offset = 2 * kUnit;

  UsageRecord alias;
  alias.alias_of = 0;
  alias.offset = kUnit;  // not its root's offset
  records.push_back(alias);
  EXPECT_NE(check_no_overlap(records).message().find("its root record 0"), std::string::npos);
  records.back().offset = 0;
  EXPECT_TRUE(check_no_overlap(records).ok());
  records.back().alias_of = 2;  // itself
  EXPECT_NE(check_no_overlap(records).message().find("earlier record"), std::string::npos);
}

TEST(PlanLowerBound, HandExamples) {
  EXPECT_EQ(live_bytes_peak({}).bytes, 0);
  EXPECT_EQ(live_bytes_peak({}).step, -1);
  std::vector<UsageRecord> records(4);
  records[0] = {0, 1, 100, -1, -1};  // 128 aligned
  records[1] = {1, 2, 64, -1, -1};
  records[2] = {2, 4, 256, -1, -1};
  records[3] = {4, 4, 10, -1, -1};   // 64 aligned
  // Steps: 0 -> 128, 1 -> 192, 2 -> 320, 3 -> 256, 4 -> 320 (first reached at step 2).
  LiveBytesPeak peak = live_bytes_peak(records);
  EXPECT_EQ(peak.bytes, 320);
  EXPECT_EQ(peak.step, 2);
  UsageRecord alias;  // aliases add no bytes
  alias.first_step = 0;
  alias.last_step = 4;
  alias.size = 1000;
  alias.alias_of = 2;
  records.push_back(alias);
  EXPECT_EQ(live_bytes_lower_bound(records), 320);
  EXPECT_EQ(live_bytes_lower_bound({{7, 7, 1, -1, -1}}), 64);
  EXPECT_EQ(live_bytes_peak({{7, 7, 1, -1, -1}}).step, 7);
}

TEST(PlanDump, DrawsEachStepScaledToTheWidth) {
  GreedyPlanner planner;
  planner.add_buffer(kUnit, 0, 1);
  planner.add_buffer(kUnit, 1, 2);
  ASSERT_TRUE(planner.plan().ok());
  const std::string dump = dump_plan_ascii(planner.records(), 4);
  EXPECT_NE(dump.find("arena 128 bytes, live-bytes lower bound 128 bytes at step 1, 2 buffers\n"),
            std::string::npos)
      << dump;
  EXPECT_NE(dump.find("step 0 |00..| 64\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("step 1 |0011| 128\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("step 2 |..11| 64\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("  1 (1): 64 bytes at 64, steps 1..2\n"), std::string::npos) << dump;
}

TEST(PlanDump, UsesLettersBeyondNine) {
  LinearPlanner planner;
  for (int i = 0; i < 12; ++i) planner.add_buffer(kUnit, 0, 0);
  ASSERT_TRUE(planner.plan().ok());
  EXPECT_NE(dump_plan_ascii(planner.records(), 12).find("step 0 |0123456789ab| 768"),
            std::string::npos);
}

TEST(PlanErrors, RejectsBadBuffersAndAliases) {
  {
    GreedyPlanner planner;
    EXPECT_EQ(planner.add_buffer(-1, 0, 0), -1);
    const Status status = planner.plan();
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("buffer 0: size -1"), std::string::npos) << status.message();
  }
  {
    GreedyPlanner planner;
    planner.add_buffer(1, 0, 0);
    EXPECT_EQ(planner.add_buffer(1, 3, 2), -1);
    EXPECT_EQ(planner.add_buffer(1, -1, 2), -1);  // only the first error is reported
    EXPECT_NE(planner.plan().message().find("buffer 1: lifetime [3, 2]"), std::string::npos);
    EXPECT_EQ(planner.offset_of(0), -1);  // not planned
  }
  {
    GreedyPlanner planner;
    planner.add_buffer(1, 0, 0);
    EXPECT_EQ(planner.add_alias(1, 0, 0), -1);
    EXPECT_NE(planner.plan().message().find("alias 1: of_buffer 1"), std::string::npos);
  }
  {
    GreedyPlanner planner;
    planner.add_buffer(1, 0, 0);
    EXPECT_EQ(planner.add_alias(0, 2, 1), -1);
    EXPECT_FALSE(planner.plan().ok());
  }
  {
    GreedyPlanner planner;  // each size fits, their sum does not
    const int64_t half = std::numeric_limits<int64_t>::max() / 2;
    planner.add_buffer(half, 0, 0);
    planner.add_buffer(half, 0, 0);
    planner.add_buffer(half, 0, 0);
    const Status status = planner.plan();
    EXPECT_EQ(status.code(), StatusCode::kOutOfRange) << status.to_string();
  }
  {
    GreedyPlanner planner;
    ASSERT_TRUE(planner.plan().ok());  // nothing to plan is fine
    EXPECT_EQ(planner.arena_size(), 0);
    EXPECT_EQ(planner.offset_of(0), -1);
  }
}

TEST(PlanErrors, PlannersByName) {
  for (const char* name : {"linear", "greedy", "skyline", "best"}) {
    const Result<std::unique_ptr<MemoryPlanner>> planner = make_planner(name);
    ASSERT_TRUE(planner.ok()) << name;
    EXPECT_NE((*planner)->name().find(name == std::string("best") ? "best-of" : name),
              std::string::npos);
  }
  const Result<std::unique_ptr<MemoryPlanner>> unknown = make_planner("optimal");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown memory planner 'optimal'"),
            std::string::npos);
}

std::vector<std::unique_ptr<MemoryPlanner>> all_planners() {
  std::vector<std::unique_ptr<MemoryPlanner>> planners;
  planners.push_back(std::make_unique<LinearPlanner>());
  for (GreedyOrder order : {GreedyOrder::kSize, GreedyOrder::kSizeTimesLifetime,
                            GreedyOrder::kFirstStep, GreedyOrder::kPressure}) {
    for (GapFit fit : {GapFit::kBest, GapFit::kFirst}) {
      planners.push_back(std::make_unique<GreedyPlanner>(order, fit));
    }
  }
  for (SkylinePick pick : {SkylinePick::kLongestLifetime, SkylinePick::kLargestSize,
                           SkylinePick::kLargestArea}) {
    planners.push_back(std::make_unique<SkylinePlanner>(pick));
  }
  BestPlannerOptions quick;  // a short local search keeps thousands of cases fast
  quick.search_work = 100000;
  planners.push_back(make_best_planner(quick));
  return planners;
}

TEST(PlanRandom, EveryPlannerIsValidAndAboveTheBound) {
  constexpr int kCases = 1000;
  std::mt19937 rng(20240604);
  for (int c = 0; c < kCases; ++c) {
    const int steps = 1 + static_cast<int>(rng() % 30);
    const int count = 1 + static_cast<int>(rng() % 40);
    std::vector<std::unique_ptr<MemoryPlanner>> planners = all_planners();
    for (int i = 0; i < count; ++i) {
      const int first = static_cast<int>(rng() % steps);
      const int last = first + static_cast<int>(rng() % (steps - first));
      const bool alias = i > 0 && rng() % 8 == 0;
      const int of = alias ? static_cast<int>(rng() % i) : 0;
      const int64_t size = rng() % 4 == 0 ? static_cast<int64_t>(rng() % 100)
                                          : static_cast<int64_t>(rng() % 100000);
      for (auto& planner : planners) {
        const int id = alias ? planner->add_alias(of, first, last)
                             : planner->add_buffer(size, first, last);
        ASSERT_EQ(id, i);
      }
    }
    int64_t greedy_arena = 0;
    for (auto& planner : planners) {
      const Status status = planner->plan();
      ASSERT_TRUE(status.ok()) << planner->name() << " case " << c << ": " << status.to_string();
      ASSERT_TRUE(check_no_overlap(planner->records(), planner->arena_size()).ok());
      ASSERT_GE(planner->arena_size(), live_bytes_lower_bound(planner->records()))
          << planner->name() << " case " << c;
      if (planner->name() == "greedy(size, best-fit)") greedy_arena = planner->arena_size();
    }
    ASSERT_LE(planners.back()->arena_size(), greedy_arena) << "case " << c;
  }
}

TEST(PlanRandom, ManyLongLivedBuffers) {
  // Long lifetimes take the one-pass path and are not listed per section.
  std::mt19937 rng(17);
  std::vector<Buffer> buffers;
  for (int i = 0; i < 3000; ++i) {
    const int first = static_cast<int>(rng() % 500);
    const int last = rng() % 2 ? first + static_cast<int>(rng() % 3)
                               : 500 + static_cast<int>(rng() % 500);
    buffers.push_back({static_cast<int64_t>(1 + rng() % 100) * kUnit, first, last});
  }
  std::vector<std::unique_ptr<MemoryPlanner>> planners;
  planners.push_back(std::make_unique<GreedyPlanner>());
  planners.push_back(make_best_planner());
  for (auto& planner : planners) {
    add_all(*planner, buffers);
    ASSERT_TRUE(planner->plan().ok()) << planner->name();
    EXPECT_GE(planner->arena_size(), live_bytes_lower_bound(planner->records()));
  }
}

TEST(PlanRandom, ChainsAndSkipsComeCloseToTheBound) {
  // CNN-like lifetimes: a chain where each activation lives one step past its producer, plus
  // occasional long skip connections. The goal for real CNNs: within 2% of the bound.
  constexpr double kCnnGoal = 1.02;
  std::mt19937 rng(7);
  for (int c = 0; c < 50; ++c) {
    auto planner = make_best_planner();
    const int layers = 20 + static_cast<int>(rng() % 100);
    for (int i = 0; i < layers; ++i) {
      const int64_t size = (1 + static_cast<int64_t>(rng() % 64)) * 1024;
      const int span = rng() % 6 == 0 ? 2 + static_cast<int>(rng() % 4) : 1;
      planner->add_buffer(size, i, i + span);
    }
    ASSERT_TRUE(planner->plan().ok());
    const double bound = static_cast<double>(live_bytes_lower_bound(planner->records()));
    EXPECT_LE(static_cast<double>(planner->arena_size()), kCnnGoal * bound) << "case " << c;
  }
}

}  // namespace
}  // namespace pbmem

// Accounted allocation, the session's memory plan, and TF's memory-stats ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "graph/graphdef_writer.h"
#include "memory/allocator.h"
#include "runtime/model.h"

namespace pbmem {
namespace {

TEST(MemoryAccount, CountsPerRunAndLifetimeWithTfFieldNames) {
  auto account = MemoryAccount::create();
  auto a = account->allocate(1000, MemoryCategory::kActivations);
  ASSERT_TRUE(a.ok());
  account->begin_run();
  EXPECT_EQ(account->run_stats().num_allocs, 0);
  EXPECT_EQ(account->run_stats().peak_bytes_in_use, 1000);
  {
    auto b = account->allocate(500, MemoryCategory::kIo);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(account->run_stats().bytes_in_use, 1500);
  }
  AllocatorStats run = account->run_stats();
  EXPECT_EQ(run.num_allocs, 1);
  EXPECT_EQ(run.bytes_in_use, 1000);
  EXPECT_EQ(run.peak_bytes_in_use, 1500);
  EXPECT_EQ(run.largest_alloc_size, 500);
  EXPECT_EQ(account->lifetime_stats().num_allocs, 2);
  EXPECT_EQ(account->run_peak_by_category()[static_cast<int>(MemoryCategory::kIo)], 500);
  a->reset();
  EXPECT_EQ(account->lifetime_stats().bytes_in_use, 0);
}

TEST(MemoryAccount, RefusesBeyondTheLimitAndStaysUsable) {
  auto account = MemoryAccount::create();
  account->set_limit(4096);
  auto a = account->allocate(4000, MemoryCategory::kActivations);
  ASSERT_TRUE(a.ok());
  auto b = account->allocate(200, MemoryCategory::kScratch);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(b.status().message().find("limit of 4096"), std::string::npos) << b.status().message();
  EXPECT_EQ(account->lifetime_stats().bytes_in_use, 4000);
  a->reset();
  EXPECT_TRUE(account->allocate(4096, MemoryCategory::kActivations).ok());
}

TEST(MemoryAccount, ScopedAccountRoutesTensorAllocations) {
  auto account = MemoryAccount::create();
  {
    ScopedAccount scope(account, MemoryCategory::kWeightsPacked);
    auto t = Tensor::allocate(DType::kFloat, Shape{16});
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(account->bytes_in_use_by_category()[static_cast<int>(MemoryCategory::kWeightsPacked)], 64);
  }
  EXPECT_EQ(account->lifetime_stats().bytes_in_use, 0);
  auto untracked = Tensor::allocate(DType::kFloat, Shape{16});
  ASSERT_TRUE(untracked.ok());
  EXPECT_EQ(account->lifetime_stats().num_allocs, 1);
}

NodeDef placeholder(const std::string& name, Shape shape) {
  return NodeDef{name, "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", AttrDef::shape_of(shape)}}, ""};
}
NodeDef unary(const std::string& name, const std::string& op, const std::string& input) {
  return NodeDef{name, op, {input}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""};
}

std::shared_ptr<Model> load(const GraphDef& g) {
  auto model = Model::from_bytes(serialize_graphdef(g), Model::Options{});
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  return model.ok() ? *model : nullptr;
}

// x -> relu -> tanh -> sigmoid -> neg (output): with in-place reuse the three intermediates
// share one buffer; without it they need two (a producer's input and output overlap).
TEST(SessionMemory, InPlaceChainPlansOneBufferAndPredictsTheRunExactly) {
  constexpr int64_t kBatch = 4, kWidth = 256, kBytes = kBatch * kWidth * 4;
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{kUnknownDim, kWidth}));
  g.nodes.push_back(unary("relu", "Relu", "x"));
  g.nodes.push_back(unary("tanh", "Tanh", "relu"));
  g.nodes.push_back(unary("sig", "Sigmoid", "tanh"));
  g.nodes.push_back(unary("neg", "Neg", "sig"));
  auto model = load(g);
  ASSERT_TRUE(model);
  for (bool in_place : {true, false}) {
    SessionOptions options;
    options.in_place = in_place;
    auto session = Session::create(model, options).value();
    auto plan = session->plan({{"x", Shape{kBatch, kWidth}}});
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    EXPECT_EQ(plan->io_bytes, kBytes);
    EXPECT_EQ(plan->arena_bytes, in_place ? kBytes : 2 * kBytes);
    EXPECT_EQ(plan->lower_bound_bytes, in_place ? kBytes : 2 * kBytes);
    EXPECT_EQ(plan->naive_bytes, in_place ? kBytes : 3 * kBytes);
    EXPECT_EQ(plan->predicted_peak_bytes, plan->arena_bytes + plan->io_bytes + plan->scratch_bytes + plan->weights_packed_bytes);
    Tensor x = Tensor::allocate(DType::kFloat, Shape{kBatch, kWidth}).value();
    for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) - 3.0f;
    for (int repeat = 0; repeat < 2; ++repeat) {
      auto out = session->run({{"x", x}});
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      EXPECT_EQ(session->max_bytes_in_use(), plan->predicted_peak_bytes);
      EXPECT_EQ(session->stats().run.num_allocs, 0);  // pooled: nothing allocated while running
      float expect = -1.0f / (1.0f + std::exp(-std::tanh(std::max(0.0f, x.data<float>()[5]))));
      EXPECT_NEAR(out->at("neg").data<float>()[5], expect, 1e-6);
    }
  }
}

TEST(SessionMemory, MemoryStatsOpsReportTheAllocator) {
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{8, 8}));
  g.nodes.push_back(unary("relu", "Relu", "x"));
  g.nodes.push_back(NodeDef{"max_bytes", "MaxBytesInUse", {"^relu"}, {}, ""});
  g.nodes.push_back(NodeDef{"bytes", "BytesInUse", {"^relu"}, {}, ""});
  g.nodes.push_back(NodeDef{"limit", "BytesLimit", {}, {}, ""});
  auto model = load(g);
  ASSERT_TRUE(model);
  SessionOptions options;
  options.outputs = {"relu", "max_bytes", "bytes", "limit"};
  options.memory_limit = 1 << 20;
  auto session = Session::create(model, options).value();
  Tensor x = Tensor::allocate(DType::kFloat, Shape{8, 8}).value();
  auto out = session->run({{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->at("max_bytes").dtype(), DType::kInt64);
  EXPECT_EQ(*out->at("max_bytes").data<int64_t>(), session->max_bytes_in_use());
  EXPECT_EQ(*out->at("bytes").data<int64_t>(), session->bytes_in_use());
  EXPECT_EQ(*out->at("limit").data<int64_t>(), 1 << 20);
  EXPECT_EQ(session->bytes_limit(), 1 << 20);
}

// Resident bytes of the mappings of `path` (its pages the process has mapped), from smaps.
int64_t mapped_resident_bytes(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_file = false;
  int64_t total_kb = 0;
  while (std::getline(smaps, line)) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (first.find('-') != std::string::npos && first.back() != ':') {
      std::string perms, offset, dev, inode, name;
      fields >> perms >> offset >> dev >> inode >> name;
      in_file = name == path;
    } else if (in_file && first == "Rss:") {
      int64_t kb = 0;
      fields >> kb;
      total_kb += kb;
    }
  }
  return total_kb * 1024;
}

// Names, attributes and small constants are copied out of the mapping while parsing, and the
// pages parsing touched are given back; prepare gives back the pages of the weights it packed.
// So loading and planning leave none of the file resident, whatever the kernel mapped around
// the pages they read.
TEST(ModelFilePages, LoadAndPlanLeaveNoPageOfTheFileResident) {
  constexpr int64_t kIn = 256, kOut = 1024;  // a 1 MiB weight
  std::vector<float> weights(static_cast<size_t>(kIn * kOut));
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i % 17) * 0.01f;
  Tensor w = Tensor::allocate(DType::kFloat, Shape{kIn, kOut}).value();
  std::copy(weights.begin(), weights.end(), w.data<float>());
  Tensor b = Tensor::allocate(DType::kFloat, Shape{kOut}).value();
  std::fill(b.data<float>(), b.data<float>() + kOut, 0.5f);
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{kUnknownDim, kIn}));
  g.nodes.push_back(NodeDef{"w", "Const", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"value", AttrDef::tensor_of(std::move(w))}}, ""});
  g.nodes.push_back(NodeDef{"b", "Const", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"value", AttrDef::tensor_of(std::move(b))}}, ""});
  g.nodes.push_back(NodeDef{"mm", "MatMul", {"x", "w"}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""});
  g.nodes.push_back(NodeDef{"y", "BiasAdd", {"mm", "b"}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""});
  std::string path = ::testing::TempDir() + "pbmem_file_pages.pb";
  ASSERT_TRUE(write_graphdef(g, path).ok());

  auto model = Model::load(path, Model::Options{});
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ(mapped_resident_bytes(path), 0) << "after load";
  ModelSummary summary = (*model)->summary();
  EXPECT_EQ(summary.num_nodes, 5);
  EXPECT_EQ(mapped_resident_bytes(path), 0) << "after summary";

  auto session = Session::create(*model, SessionOptions{}).value();
  auto plan = session->plan({{"x", Shape{4, kIn}}});
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(mapped_resident_bytes(path), 0) << "after plan";
  // The weights still read right: they fault back in from the file when a run needs them.
  Tensor x = Tensor::allocate(DType::kFloat, Shape{4, kIn}).value();
  std::fill(x.data<float>(), x.data<float>() + 4 * kIn, 1.0f);
  auto out = session->run({{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  float expected = 0.5f;
  for (int64_t k = 0; k < kIn; ++k) expected += weights[static_cast<size_t>(k * kOut + 3)];
  EXPECT_NEAR(out->at("y").data<float>()[3], expected, 1e-3f);
  std::remove(path.c_str());
}

TEST(SessionMemory, PlanNeedsConcreteShapes) {
  GraphDef g;
  g.nodes.push_back(placeholder("x", Shape{kUnknownDim, 3}));
  g.nodes.push_back(unary("relu", "Relu", "x"));
  auto model = load(g);
  ASSERT_TRUE(model);
  auto session = Session::create(model, SessionOptions{}).value();
  auto plan = session->plan({});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("--input-shape"), std::string::npos);
  EXPECT_FALSE(session->plan({{"x", Shape{2, 4}}}).ok());
  EXPECT_TRUE(session->plan({{"x", Shape{2, 3}}}).ok());
}

}  // namespace
}  // namespace pbmem

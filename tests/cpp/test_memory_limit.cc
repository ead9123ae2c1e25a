// The hard memory limit: byte-size parsing, refusal before anything is allocated beyond the
// weights, run-time refusals, session reuse after a refusal, and fit_batch over the plan.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "core/byte_size.h"
#include "graph/graphdef_writer.h"
#include "runtime/fit.h"
#include "runtime/model.h"

namespace pbmem {
namespace {

int64_t parse(const std::string& text) {
  Result<int64_t> bytes = parse_byte_size(text, ByteSizeOptions{});
  EXPECT_TRUE(bytes.ok()) << text << ": " << bytes.status().to_string();
  return bytes.ok() ? *bytes : -1;
}

std::string parse_error(const std::string& text, bool allow_zero = false) {
  ByteSizeOptions options;
  options.what = "--memory-limit";
  options.allow_zero = allow_zero;
  Result<int64_t> bytes = parse_byte_size(text, options);
  EXPECT_FALSE(bytes.ok()) << text << " parsed as " << (bytes.ok() ? *bytes : 0);
  if (bytes.ok()) return "";
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bytes.status().message().find("--memory-limit: '" + text + "'"), std::string::npos)
      << bytes.status().message();
  return bytes.status().message();
}

TEST(ByteSize, DecimalAndBinaryUnits) {
  EXPECT_EQ(parse("123456"), 123456);
  EXPECT_EQ(parse("123456B"), 123456);
  EXPECT_EQ(parse("512k"), 512000);
  EXPECT_EQ(parse("512K"), 512000);
  EXPECT_EQ(parse("512KB"), 512000);
  EXPECT_EQ(parse("64MB"), 64000000);
  EXPECT_EQ(parse("64mb"), 64000000);
  EXPECT_EQ(parse("64M"), 64000000);
  EXPECT_EQ(parse("64MiB"), 64 * 1024 * 1024);
  EXPECT_EQ(parse("64mib"), 64 * 1024 * 1024);
  EXPECT_EQ(parse("1.5G"), 1500000000);
  EXPECT_EQ(parse("1.5GB"), 1500000000);
  EXPECT_EQ(parse("1.5GiB"), int64_t{3} << 29);
  EXPECT_EQ(parse("2T"), 2000000000000);
  EXPECT_EQ(parse("1TiB"), int64_t{1} << 40);
  EXPECT_EQ(parse("1KiB"), 1024);
  EXPECT_EQ(parse(" 64 MiB "), 64 * 1024 * 1024);
  EXPECT_EQ(parse("0.5k"), 500);
  EXPECT_EQ(parse("1.1GB"), 1100000000);  // exact, no floating-point rounding
  EXPECT_EQ(parse("9223372036854775807"), INT64_MAX);
}

TEST(ByteSize, Errors) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error("   ").find("empty"), std::string::npos);
  EXPECT_NE(parse_error("-1").find("negative"), std::string::npos);
  EXPECT_NE(parse_error("-64MB").find("negative"), std::string::npos);
  EXPECT_NE(parse_error("0").find("zero"), std::string::npos);
  EXPECT_NE(parse_error("0MiB").find("zero"), std::string::npos);
  EXPECT_NE(parse_error("abc").find("number"), std::string::npos);
  EXPECT_NE(parse_error("MB").find("number"), std::string::npos);
  EXPECT_NE(parse_error("12XB").find("unknown unit"), std::string::npos);
  EXPECT_NE(parse_error("1e9").find("unknown unit"), std::string::npos);
  EXPECT_NE(parse_error("64 MB extra").find("after the unit"), std::string::npos);
  EXPECT_NE(parse_error("1..5G").find("two decimal points"), std::string::npos);
  EXPECT_NE(parse_error("1.5").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error("1.5B").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error("1.0001KB").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error("9223372036854775808").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("8388608TiB").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("99999999999999999999999999999999999999").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("10000000T").find("too large"), std::string::npos);
  // Every error lists the accepted forms.
  EXPECT_NE(parse_error("x").find("64MiB"), std::string::npos);
  ByteSizeOptions zero_ok;
  zero_ok.allow_zero = true;
  EXPECT_EQ(parse_byte_size("0", zero_ok).value(), 0);
}

TEST(ByteSize, HumanUnits) {
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(describe_bytes(64 * 1024 * 1024), "64.0 MiB (67108864 bytes)");
}

// A copy whose kernel also allocates kRunTimeFactor times its input's bytes while it runs:
// run-time behaviour no built-in op has (they allocate nothing after prepare).
constexpr int64_t kRunTimeFactor = 4;
class AllocatingCopyKernel : public Kernel {
 public:
  Status infer(InferContext& ctx) override {
    ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
    return ok_status();
  }
  Status run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<void> temp,
                           allocate_accounted(kRunTimeFactor * static_cast<int64_t>(in.num_bytes())));
    std::memcpy(temp.get(), in.raw_data(), in.num_bytes());
    std::memcpy(ctx.output(0).raw_data(), temp.get(), in.num_bytes());
    return ok_status();
  }
};

constexpr int64_t kWidth = 256;
constexpr int64_t kFloatBytes = 4;

NodeDef placeholder(const std::string& name) {
  return NodeDef{name, "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", AttrDef::shape_of(Shape{kUnknownDim, kWidth})}}, ""};
}
NodeDef unary(const std::string& name, const std::string& op, const std::string& input) {
  return NodeDef{name, op, {input}, {{"T", AttrDef::dtype(DType::kFloat)}}, ""};
}

std::shared_ptr<Model> load(const GraphDef& g, const OpRegistry* extra = nullptr) {
  Model::Options options;
  options.extra_ops = extra;
  auto model = Model::from_bytes(serialize_graphdef(g), options);
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  return model.ok() ? *model : nullptr;
}

// x -> relu -> tanh -> exp (output): one arena buffer plus the output, both batch * kWidth floats.
std::shared_ptr<Model> chain_model() {
  GraphDef g;
  g.nodes.push_back(placeholder("x"));
  g.nodes.push_back(unary("relu", "Relu", "x"));
  g.nodes.push_back(unary("tanh", "Tanh", "relu"));
  g.nodes.push_back(unary("exp", "Exp", "tanh"));
  return load(g);
}

Tensor input(int64_t batch) {
  Tensor x = Tensor::allocate(DType::kFloat, Shape{batch, kWidth}).value();
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>(i % 11) - 5.0f;
  return x;
}

int64_t predicted_peak(const std::shared_ptr<Model>& model, int64_t batch) {
  auto session = Session::create(model, SessionOptions()).value();
  return session->plan({{"x", Shape{batch, kWidth}}}).value().predicted_peak_bytes;
}

TEST(MemoryLimit, RefusedBeforeAllocatingAndTheSameSessionRunsASmallerBatch) {
  auto model = chain_model();
  ASSERT_TRUE(model);
  constexpr int64_t kFits = 3, kTooBig = 8;
  SessionOptions options;
  options.memory_limit = (predicted_peak(model, kFits) + predicted_peak(model, kFits + 1)) / 2;
  auto session = Session::create(model, options).value();
  auto refused = session->run({{"x", input(kTooBig)}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  const std::string& message = refused.status().message();
  EXPECT_NE(message.find(str_cat("(", predicted_peak(model, kTooBig), " bytes)")), std::string::npos) << message;
  EXPECT_NE(message.find(str_cat("(", options.memory_limit, " bytes)")), std::string::npos) << message;
  EXPECT_NE(message.find(str_cat("largest batch of x that fits is ", kFits)), std::string::npos) << message;
  EXPECT_NE(message.find("node '"), std::string::npos) << message;
  EXPECT_LE(session->stats().lifetime.peak_bytes_in_use, options.memory_limit);
  EXPECT_EQ(session->stats().lifetime.bytes_in_use, 0);  // no weights here: nothing held

  auto out = session->run({{"x", input(kFits)}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(session->max_bytes_in_use(), predicted_peak(model, kFits));
  EXPECT_LE(session->stats().lifetime.peak_bytes_in_use, options.memory_limit);
  EXPECT_NEAR(out->at("exp").data<float>()[7], std::exp(std::tanh(2.0f)), 1e-5);

  // plan() refuses the same way; a new session with a larger limit runs the big batch.
  EXPECT_EQ(session->plan({{"x", Shape{kTooBig, kWidth}}}).status().code(), StatusCode::kResourceExhausted);
  options.memory_limit = predicted_peak(model, kTooBig);
  auto larger = Session::create(model, options).value();
  ASSERT_TRUE(larger->run({{"x", input(kTooBig)}}).ok());
  EXPECT_EQ(larger->max_bytes_in_use(), options.memory_limit);
}

TEST(MemoryLimit, ModelWithoutBatchDimensionSaysSo) {
  GraphDef g;
  g.nodes.push_back(NodeDef{"x", "Placeholder", {}, {{"dtype", AttrDef::dtype(DType::kFloat)}, {"shape", AttrDef::shape_of(Shape{4, kWidth})}}, ""});
  g.nodes.push_back(unary("relu", "Relu", "x"));
  auto model = load(g);
  ASSERT_TRUE(model);
  SessionOptions options;
  options.memory_limit = 1;
  auto session = Session::create(model, options).value();
  auto refused = session->run({{"x", input(4)}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no batch dimension"), std::string::npos) << refused.status().message();
  FitOptions fit;
  fit.memory_limit = 1 << 20;
  auto result = fit_batch(model, fit);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("no input"), std::string::npos) << result.status().message();
}

TEST(MemoryLimit, RunTimeAllocationOverTheLimitIsRefusedAndTheSessionStaysUsable) {
  OpRegistry extra;
  ASSERT_TRUE(extra.add("PbmemTestAllocatingCopy", op_record<AllocatingCopyKernel>().not_foldable()).ok());
  GraphDef g;
  g.nodes.push_back(placeholder("x"));
  g.nodes.push_back(unary("copy", "PbmemTestAllocatingCopy", "x"));
  auto model = load(g, &extra);
  ASSERT_TRUE(model);
  constexpr int64_t kBig = 8, kSmall = 1;
  const int64_t big_output = kBig * kWidth * kFloatBytes;
  SessionOptions options;
  // The plan (the output buffer) fits; the kernel's extra allocation at kBig does not.
  options.memory_limit = big_output + big_output;
  auto session = Session::create(model, options).value();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto refused = session->run({{"x", input(kBig)}});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(refused.status().message().find("(other)"), std::string::npos) << refused.status().message();
    EXPECT_NE(refused.status().message().find("copy"), std::string::npos) << refused.status().message();
    EXPECT_EQ(session->stats().lifetime.bytes_in_use, big_output);  // the refused block is not held
    EXPECT_LE(session->stats().lifetime.peak_bytes_in_use, options.memory_limit);
  }
  auto out = session->run({{"x", input(kSmall)}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->at("copy").data<float>()[3], input(kSmall).data<float>()[3]);
  EXPECT_EQ(session->max_bytes_in_use(), (1 + kRunTimeFactor) * kSmall * kWidth * kFloatBytes);
  EXPECT_LE(session->stats().lifetime.peak_bytes_in_use, options.memory_limit);
}

TEST(Fit, LargestBatchIsTheLastWhosePlanFits) {
  auto model = chain_model();
  ASSERT_TRUE(model);
  for (int64_t target : {1, 5, 37}) {
    FitOptions options;
    options.memory_limit = predicted_peak(model, target) + predicted_peak(model, 1) / 2;
    auto fit = fit_batch(model, options);
    ASSERT_TRUE(fit.ok()) << fit.status().to_string();
    EXPECT_EQ(fit->batched_inputs, "x");
    EXPECT_EQ(fit->peak_bytes_at_1, predicted_peak(model, 1));
    EXPECT_EQ(fit->peak_bytes_at_max, predicted_peak(model, fit->max_batch));
    EXPECT_EQ(fit->peak_bytes_at_next, predicted_peak(model, fit->max_batch + 1));
    EXPECT_LE(fit->peak_bytes_at_max, options.memory_limit);
    EXPECT_GT(fit->peak_bytes_at_next, options.memory_limit);
    EXPECT_EQ(fit->max_batch, target);
  }
  FitOptions tiny;
  tiny.memory_limit = predicted_peak(model, 1) - 1;
  auto none = fit_batch(model, tiny);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->max_batch, 0);
  EXPECT_EQ(none->peak_bytes_at_1, predicted_peak(model, 1));
  FitOptions capped;
  capped.memory_limit = int64_t{1} << 40;
  capped.max_batch = 100;
  auto ceiling = fit_batch(model, capped);
  ASSERT_TRUE(ceiling.ok());
  EXPECT_EQ(ceiling->max_batch, 100);
  EXPECT_EQ(ceiling->peak_bytes_at_next, 0);
  FitOptions bad;
  EXPECT_EQ(fit_batch(model, bad).status().code(), StatusCode::kInvalidArgument);
  bad.memory_limit = -5;
  EXPECT_EQ(fit_batch(model, bad).status().code(), StatusCode::kInvalidArgument);
  bad.memory_limit = 1000;
  bad.max_batch = 0;
  EXPECT_EQ(fit_batch(model, bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fit_batch(nullptr, capped).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pbmem

// The adapter's opt-in blocked activation layout: a conv built with ActivationLayout::kAny,
// between the NHWC -> src and dst -> NHWC reorders, computes what the default NHWC conv does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/dnnl_adapter.h"

namespace pbmem {
namespace {

namespace dnnl = dnnl_adapter;

// Float storage of at least `bytes` bytes (a blocked layout's size, which may include padding;
// oneDNN needs no particular alignment to be correct).
std::vector<float> floats_for(size_t bytes) {
  return std::vector<float>(std::max<size_t>(1, (bytes + sizeof(float) - 1) / sizeof(float)), 0.0f);
}

dnnl::ConvParams conv_3x3(int64_t channels_in, int64_t channels_out, dnnl::ActivationLayout layout) {
  dnnl::ConvParams p;
  p.src = {2, 9, 7, channels_in};
  p.weights = {3, 3, channels_in, channels_out};
  p.dst = {2, 9, 7, channels_out};
  p.pad_l = {1, 1};
  p.pad_r = {1, 1};
  p.has_bias = true;
  p.post_ops.push_back({dnnl::EltwiseKind::kRelu, 0.0f, 0.0f});
  p.activation_layout = layout;
  return p;
}

TEST(DnnlLayouts, BlockedConvBetweenReordersMatchesNhwc) {
  // 12 channels: not a multiple of AVX2's 8 or AVX-512's 16, so the blocked layout pads.
  constexpr int64_t kIn = 12, kOut = 20;
  const dnnl::ConvParams plain = conv_3x3(kIn, kOut, dnnl::ActivationLayout::kNhwc);
  auto nhwc = dnnl::make_conv(plain);
  auto blocked = dnnl::make_conv(conv_3x3(kIn, kOut, dnnl::ActivationLayout::kAny));
  ASSERT_TRUE(nhwc.ok()) << nhwc.status().message();
  ASSERT_TRUE(blocked.ok()) << blocked.status().message();
  auto to_src = dnnl::make_layout_reorder(**blocked, dnnl::LayoutReorder::kNhwcToSrc);
  auto to_nhwc = dnnl::make_layout_reorder(**blocked, dnnl::LayoutReorder::kDstToNhwc);
  ASSERT_TRUE(to_src.ok()) << to_src.status().message();
  ASSERT_TRUE(to_nhwc.ok()) << to_nhwc.status().message();

  const size_t src_n = 2 * 9 * 7 * kIn, dst_n = 2 * 9 * 7 * kOut, w_n = 3 * 3 * kIn * kOut;
  EXPECT_EQ((*nhwc)->src_bytes(), src_n * sizeof(float));
  EXPECT_EQ((*nhwc)->dst_bytes(), dst_n * sizeof(float));
  EXPECT_GE((*blocked)->src_bytes(), src_n * sizeof(float));
  EXPECT_GE((*blocked)->dst_bytes(), dst_n * sizeof(float));

  std::vector<float> src(src_n), weights(w_n), bias(kOut);
  for (size_t i = 0; i < src_n; ++i) src[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < w_n; ++i) weights[i] = std::cos(0.11f * static_cast<float>(i)) * 0.1f;
  for (int64_t i = 0; i < kOut; ++i) bias[i] = 0.05f * static_cast<float>(i) - 0.5f;
  ASSERT_TRUE((*nhwc)->bind_weights(weights.data()).ok());
  ASSERT_TRUE((*blocked)->bind_weights(weights.data()).ok());

  size_t scratch_bytes = 0;
  for (const auto* op : {&*nhwc, &*blocked, &*to_src, &*to_nhwc}) {
    scratch_bytes = std::max(scratch_bytes, (*op)->scratch_bytes());
  }
  std::vector<float> scratch = floats_for(scratch_bytes);
  std::vector<float> expected(dst_n), actual(dst_n);
  std::vector<float> blocked_src = floats_for((*blocked)->src_bytes());
  std::vector<float> blocked_dst = floats_for((*blocked)->dst_bytes());
  ASSERT_TRUE((*nhwc)->run({src.data(), bias.data(), expected.data(), scratch.data()}).ok());
  ASSERT_TRUE((*to_src)->run({src.data(), nullptr, blocked_src.data(), scratch.data()}).ok());
  ASSERT_TRUE((*blocked)->run({blocked_src.data(), bias.data(), blocked_dst.data(), scratch.data()}).ok());
  ASSERT_TRUE((*to_nhwc)->run({blocked_dst.data(), nullptr, actual.data(), scratch.data()}).ok());
  for (size_t i = 0; i < dst_n; ++i) ASSERT_NEAR(actual[i], expected[i], 1e-4f) << "element " << i;
}

TEST(DnnlLayouts, DefaultStaysNhwc) {
  auto nhwc = dnnl::make_conv(conv_3x3(8, 8, dnnl::ActivationLayout::kNhwc));
  ASSERT_TRUE(nhwc.ok()) << nhwc.status().message();
  EXPECT_EQ(dnnl::ConvParams().activation_layout, dnnl::ActivationLayout::kNhwc);
  EXPECT_EQ((*nhwc)->src_layout_name(), "acdb");  // oneDNN's name of NHWC
  EXPECT_EQ((*nhwc)->dst_layout_name(), "acdb");
  EXPECT_FALSE((*nhwc)->implementation_name().empty());
}

}  // namespace
}  // namespace pbmem

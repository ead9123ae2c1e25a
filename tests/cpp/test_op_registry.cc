// The op records: every fact the runtime reads about an op comes from its registration.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "kernels/kernel.h"

namespace pbmem {
namespace {

const OpRecord& record_of(const char* op) {
  const OpRecord* record = OpRegistry::global().find(op);
  EXPECT_NE(record, nullptr) << op;
  static const OpRecord kNone;
  return record != nullptr ? *record : kNone;
}

TEST(OpRegistry, ActivationsRunInPlaceAndFuseIntoTheirProducer) {
  EXPECT_TRUE(record_of("Relu").runs_in_place);
  EXPECT_EQ(record_of("Relu").fusable_activation, ActivationKind::kRelu);
  EXPECT_EQ(record_of("Relu6").fusable_activation, ActivationKind::kRelu6);
  EXPECT_EQ(record_of("LeakyRelu").fusable_activation, ActivationKind::kLeakyRelu);
  // Softmax reads a whole row before writing it: neither in place nor a fusable activation.
  EXPECT_FALSE(record_of("Softmax").runs_in_place);
  EXPECT_FALSE(record_of("Softmax").fusable_activation.has_value());
}

TEST(OpRegistry, ProducersCountTheirMultiplyAdds) {
  EXPECT_TRUE(record_of("Conv2D").is_fusion_producer);
  EXPECT_TRUE(record_of("MatMul").is_fusion_producer);
  EXPECT_FALSE(record_of("Conv2DBackpropInput").is_fusion_producer);
  ASSERT_NE(record_of("Conv2D").multiply_adds, nullptr);
  EXPECT_EQ(record_of("Add").multiply_adds, nullptr);

  // [1,4,4,8] output of a 3x3 conv over 2 input channels: 128 outputs x 18 products.
  TensorInfo out{DType::kFloat, Shape{1, 4, 4, 8}, nullptr};
  TensorInfo data{DType::kFloat, Shape{1, 4, 4, 2}, nullptr};
  TensorInfo filter{DType::kFloat, Shape{3, 3, 2, 8}, nullptr};
  Node node;
  node.name = "conv";
  node.op = "Conv2D";
  const std::vector<const TensorInfo*> inputs = {&data, &filter};
  EXPECT_EQ(record_of("Conv2D").multiply_adds(node, out, inputs), 128.0 * 18.0);
  // An unknown filter shape counts nothing rather than guessing.
  TensorInfo unknown{DType::kFloat, Shape::unknown_rank(), nullptr};
  EXPECT_EQ(record_of("Conv2D").multiply_adds(node, out, {&data, &unknown}), 0.0);
}

TEST(OpRegistry, MemoryStatOpsPinTheOrderAndNeverFold) {
  for (const char* op : {"MaxBytesInUse", "BytesInUse", "BytesLimit"}) {
    EXPECT_TRUE(record_of(op).pins_order) << op;
    EXPECT_FALSE(record_of(op).is_foldable) << op;
  }
  EXPECT_FALSE(record_of("Placeholder").is_foldable);
  EXPECT_TRUE(record_of("Add").is_foldable);
  EXPECT_FALSE(record_of("Add").pins_order);
}

TEST(OpRegistry, KernelsKnowTheirRecord) {
  const OpRecord& relu = record_of("Relu");
  std::unique_ptr<Kernel> kernel = relu.make();
  EXPECT_EQ(kernel->op_record(), &relu);
  EXPECT_TRUE(kernel->foldable());
  EXPECT_FALSE(record_of("BytesInUse").make()->foldable());
}

TEST(OpRegistry, RejectsDuplicatesAndRecordsWithoutKernel) {
  OpRegistry registry;
  ASSERT_TRUE(registry.add("X", *OpRegistry::global().find("Relu")).ok());
  Status twice = registry.add("X", *OpRegistry::global().find("Relu"));
  EXPECT_FALSE(twice.ok());
  EXPECT_NE(twice.message().find("registered twice"), std::string::npos) << twice.message();
  Status empty = registry.add("Y", OpRecord());
  EXPECT_FALSE(empty.ok());
  EXPECT_NE(empty.message().find("without a kernel"), std::string::npos) << empty.message();
}

}  // namespace
}  // namespace pbmem

// Field numbers of the GraphDef messages, shared by the reader (graphdef.cc) and the writer
// (graphdef_writer.cc). They follow TF's documented schema; docs/graphdef_schema.proto is our
// own schema text with the same numbers.
#pragma once

#include <cstdint>

namespace pbmem::fields {

namespace graph {
inline constexpr uint32_t kNode = 1;
inline constexpr uint32_t kLibrary = 2;
inline constexpr uint32_t kVersion = 3;  // deprecated int32; versions.producer supersedes it
inline constexpr uint32_t kVersions = 4;
}  // namespace graph

namespace version {
inline constexpr uint32_t kProducer = 1;
inline constexpr uint32_t kMinConsumer = 2;
}  // namespace version

namespace node {
inline constexpr uint32_t kName = 1;
inline constexpr uint32_t kOp = 2;
inline constexpr uint32_t kInput = 3;
inline constexpr uint32_t kDevice = 4;
inline constexpr uint32_t kAttr = 5;
inline constexpr uint32_t kDebugInfo = 6;
}  // namespace node

// A map<string, AttrValue> entry.
namespace map_entry {
inline constexpr uint32_t kKey = 1;
inline constexpr uint32_t kValue = 2;
}  // namespace map_entry

namespace attr {
inline constexpr uint32_t kList = 1;
inline constexpr uint32_t kS = 2;
inline constexpr uint32_t kI = 3;
inline constexpr uint32_t kF = 4;
inline constexpr uint32_t kB = 5;
inline constexpr uint32_t kType = 6;
inline constexpr uint32_t kShape = 7;
inline constexpr uint32_t kTensor = 8;
inline constexpr uint32_t kPlaceholder = 9;
inline constexpr uint32_t kFunc = 10;
}  // namespace attr

namespace list {
inline constexpr uint32_t kS = 2;
inline constexpr uint32_t kI = 3;
inline constexpr uint32_t kF = 4;
inline constexpr uint32_t kB = 5;
inline constexpr uint32_t kType = 6;
inline constexpr uint32_t kShape = 7;
inline constexpr uint32_t kTensor = 8;
inline constexpr uint32_t kFunc = 9;
}  // namespace list

// NameAttrList (AttrValue.func): a function name and the attr values it is called with.
namespace name_attr_list {
inline constexpr uint32_t kName = 1;
inline constexpr uint32_t kAttr = 2;
}  // namespace name_attr_list

namespace library {
inline constexpr uint32_t kFunction = 1;
inline constexpr uint32_t kGradient = 2;  // skipped: inference never needs gradients
}  // namespace library

namespace function {
inline constexpr uint32_t kSignature = 1;
inline constexpr uint32_t kNodeDef = 3;
inline constexpr uint32_t kRet = 4;
inline constexpr uint32_t kAttr = 5;
inline constexpr uint32_t kControlRet = 6;
inline constexpr uint32_t kArgAttr = 7;  // skipped
}  // namespace function

namespace op_def {
inline constexpr uint32_t kName = 1;
inline constexpr uint32_t kInputArg = 2;
inline constexpr uint32_t kOutputArg = 3;
inline constexpr uint32_t kAttr = 4;  // skipped: attrs are bound by the caller
inline constexpr uint32_t kControlOutput = 20;
}  // namespace op_def

namespace arg_def {
inline constexpr uint32_t kName = 1;
inline constexpr uint32_t kType = 3;
inline constexpr uint32_t kTypeAttr = 4;
inline constexpr uint32_t kNumberAttr = 5;
inline constexpr uint32_t kTypeListAttr = 6;
}  // namespace arg_def

namespace shape {
inline constexpr uint32_t kDim = 2;
inline constexpr uint32_t kUnknownRank = 3;
}  // namespace shape

namespace dim {
inline constexpr uint32_t kSize = 1;
inline constexpr uint32_t kName = 2;
}  // namespace dim

namespace tensor {
inline constexpr uint32_t kDtype = 1;
inline constexpr uint32_t kShape = 2;
inline constexpr uint32_t kVersionNumber = 3;
inline constexpr uint32_t kContent = 4;
inline constexpr uint32_t kFloatVal = 5;
inline constexpr uint32_t kDoubleVal = 6;
inline constexpr uint32_t kIntVal = 7;
inline constexpr uint32_t kStringVal = 8;
inline constexpr uint32_t kSComplexVal = 9;
inline constexpr uint32_t kInt64Val = 10;
inline constexpr uint32_t kBoolVal = 11;
inline constexpr uint32_t kDComplexVal = 12;
inline constexpr uint32_t kHalfVal = 13;
inline constexpr uint32_t kResourceHandleVal = 14;
inline constexpr uint32_t kVariantVal = 15;
inline constexpr uint32_t kUInt32Val = 16;
inline constexpr uint32_t kUInt64Val = 17;
}  // namespace tensor

}  // namespace pbmem::fields

// libFuzzer target for the whole load path: bytes -> GraphDef view (with its function library)
// -> Graph -> Model (which inlines function calls and runs load-time shape inference) ->
// summary(). Any crash, sanitizer report or hang is a bug; a
// Status error is the expected outcome for almost every input.
//
// Build (clang): cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DPBMEM_FUZZ=ON
//                  -DPBMEM_BUILD_PYTHON=OFF -DPBMEM_BUILD_TESTS=OFF && cmake --build build-fuzz
// Run:           build-fuzz/fuzz_loader -max_len=4096 tests/fuzz/corpus
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graph/graphdef.h"
#include "graph/ir.h"
#include "runtime/model.h"

namespace {

// Consts larger than this are valid but only measure the host's memory (libFuzzer counts a
// big malloc as a crash), so such inputs stop after parsing.
constexpr int64_t kMaxFuzzConstBytes = int64_t{64} << 20;

bool too_large(const pbmem::TensorProtoView& tensor) {
  pbmem::Result<int64_t> bytes = tensor.shape.num_bytes(tensor.dtype);
  return bytes.ok() && *bytes > kMaxFuzzConstBytes;
}

bool has_huge_constant(const std::vector<pbmem::NodeDefView>& nodes) {
  for (const pbmem::NodeDefView& node : nodes) {
    for (const auto& attr : node.attrs) {
      const pbmem::AttrValue& value = attr.second;
      if (value.kind == pbmem::AttrValue::Kind::kTensor && too_large(value.tensor)) return true;
      for (const pbmem::TensorProtoView& t : value.list.tensor) {
        if (too_large(t)) return true;
      }
    }
  }
  return false;
}

// Function bodies are inlined at load, so their constants count too.
bool has_huge_constant(const pbmem::GraphDefView& graph) {
  if (has_huge_constant(graph.nodes)) return true;
  for (const pbmem::FunctionDefView& function : graph.library.functions) {
    if (has_huge_constant(function.nodes)) return true;
  }
  return false;
}

}  // namespace

// Huge allocations must fail with ResourceExhausted, not abort inside ASan.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  pbmem::Result<pbmem::GraphDefView> view =
      pbmem::parse_graphdef(pbmem::MappedFile::from_bytes(bytes));
  if (!view.ok() || has_huge_constant(*view)) return 0;
  pbmem::Result<pbmem::Graph> graph = pbmem::Graph::build(std::move(view).value());
  if (!graph.ok()) return 0;
  (void)graph->schedule({});
  (void)graph->sinks();

  pbmem::Model::Options options;
  options.require_supported_ops = false;
  auto model = pbmem::Model::from_bytes(std::move(bytes), options);
  if (model.ok()) (void)(*model)->summary();
  return 0;
}

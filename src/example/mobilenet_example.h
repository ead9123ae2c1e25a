// The built-in example model (`pbmem example`): a MobileNet-v1-shaped classifier (224x224x3
// NHWC input "input", 1000-class Softmax output "probs", ~4.2M float params) with seeded random
// weights. It gives demos and benchmarks a realistic network without downloading anything, and
// it is written with the attributes TensorFlow itself writes, so TF can load and run it too.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "graph/graphdef_writer.h"

namespace pbmem {

// The graph for `seed` (the same seed always gives the same bytes). Returns an empty GraphDef
// only if the weight buffers cannot be allocated; build_example_graph reports that as a Status.
GraphDef make_example_graph(uint64_t seed);
Result<GraphDef> build_example_graph(uint64_t seed);
// Builds the graph and writes it to `path`.
Status write_example_model(const std::string& path, uint64_t seed);

}  // namespace pbmem

// The array op family: its kernels live in array_basic.cc (sources, pass-throughs, shape
// queries, generators), array_shape.cc (Reshape, Squeeze, ExpandDims, Transpose),
// array_concat.cc (Concat, Pack, Split, Unpack, Tile), array_gather.cc (Gather, OneHot),
// array_cast.cc, array_broadcast.cc (BroadcastTo, Roll) and space_depth.cc (DepthToSpace,
// SpaceToDepth, SpaceToBatchND, BatchToSpaceND), matrix.cc (MatrixBandPart) and matrix_diag.cc
// (MatrixDiag*, MatrixDiagPart*), scatter_nd.cc (GatherNd, ScatterNd, TensorScatter*),
// sparse_to_dense.cc and topk.cc (TopKV2, TopK).
#include "kernels/array_helpers.h"

namespace pbmem {

Status register_array_ops(OpRegistry& registry) {
  PBMEM_RETURN_IF_ERROR(array_detail::register_array_basic_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_array_shape_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_array_concat_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_array_gather_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_array_cast_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_array_broadcast_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_space_depth_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_matrix_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_scatter_nd_ops(registry));
  PBMEM_RETURN_IF_ERROR(array_detail::register_topk_ops(registry));
  return ok_status();
}

}  // namespace pbmem

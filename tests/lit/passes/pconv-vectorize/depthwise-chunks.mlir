// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-filter-kernel-reorder, pconv-pack-fkw, pconv-vectorize{width=8 accumulators=10 rows=2 vectors=2}, canonicalize, cse)' | filecheck %s

// A depthwise conv whose output rows take several chunks (48 columns in blocks of 2 rows x 2
// vectors: 3 chunks): each work unit runs filter by filter, every chunk of its row group inside,
// so a filter's one input channel stays in cache across its chunks (chunk by chunk, every other
// filter's channel would pass through the cache in between). The filter's rows of its channel
// are staged into the unit's slice (3 padded rows of 56, then zeros up to 176) before its chunks.
// CHECK-LABEL: func.func @depthwise_chunks
// CHECK: scf.parallel
// CHECK-NOT: scf.parallel
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<1x176xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c2 step
// CHECK-NEXT: tensor.extract
// CHECK: scf.if
// CHECK: scf.for %{{.*}} = %c0 to %c3 step
// CHECK-COUNT-16: vector.fma
// CHECK-COUNT-4: vector.store
// CHECK-NOT: vector.fma
// CHECK: return
func.func @depthwise_chunks(%x: tensor<1x2x4x48xf32>) -> tensor<1x2x4x48xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 2 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x4x48xf32>, tensor<8xf32>) -> tensor<1x2x4x48xf32>
  return %0 : tensor<1x2x4x48xf32>
}

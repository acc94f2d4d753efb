// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-filter-kernel-reorder, pconv-pack-fkw, pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s

// A depthwise conv (each filter one kernel): the reorder holds its filters pattern by pattern
// (positions 0-1 pattern 0, 2 pattern 1, 3 removed), so each work unit runs one loop per pattern
// over its filters with that pattern's taps unrolled (4 taps x 6 rows of the 6x6 output = 24
// FMAs, then 3 x 6 = 18), not a loop per (filter, pattern) that would mostly run zero times;
// then the filter with no kernel stores its activated bias (no FMA). No flat copy of the whole
// input comes first (one scf.parallel, the conv's): each unit stages a filter's channel rows
// into its own slice (memref.alloca: the 6 output rows read padded rows 0-7 at a pitch of 8, then
// zeros for the last row's reach and a vector more: 80) just before that filter's FMAs, which read
// the slice; the filter with no kernel stages nothing.
// CHECK-LABEL: func.func @depthwise
// CHECK: scf.parallel
// CHECK-NOT: scf.parallel
// CHECK: %[[SLICE:.*]] = memref.alloca() {alignment = 64 : i64} : memref<1x80xf32>
// CHECK: arith.minui
// CHECK: scf.for
// CHECK: scf.if
// CHECK: vector.load %[[SLICE]]
// CHECK-NOT: scf.for
// CHECK-COUNT-24: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.for
// CHECK: scf.if
// CHECK: vector.load %[[SLICE]]
// CHECK-NOT: scf.for
// CHECK-COUNT-18: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.for
// CHECK-NOT: vector.fma
// CHECK-NOT: %[[SLICE]]
// CHECK: arith.maximumf
// CHECK-NOT: vector.fma
// CHECK: return
func.func @depthwise(%x: tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]> : tensor<11xf32>
  %b = arith.constant dense<[0.5, -0.5, 0.25, 1.0]> : tensor<4xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]], [[true, false, false], [false, true, false], [false, false, true]]]> : tensor<2x3x3xi1>, kernel_pattern = dense<[[0], [1], [0], [-1]]> : tensor<4x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 4 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x4x6x6xf32>, tensor<11xf32>, tensor<4xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

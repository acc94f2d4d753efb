// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=1 vectors=2 shifts=true}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=1 vectors=2}, canonicalize, cse)' | filecheck %s --check-prefix=LOADS

// Lane shifts (`shifts=true`, set for AVX-512 targets): a block of 1 row x 2 vectors of 4 under
// the taps (1, 0), (1, 1), (1, 2) reads the input row at columns 0, 4 (on vector boundaries: the
// flat rows have a pitch of 12, whole vectors: 48 floats a channel) and 1, 5, 2, 6 (off them: each such load would
// split across two cache lines on AVX-512). With shifts the row's three aligned vectors are
// loaded once and the four others are lane shifts of two neighbours: 3 loads, 4 shuffles,
// 6 FMAs, instead of 6 loads.
// CHECK-LABEL: func.func @row_taps
// CHECK: scf.for {{.*}} iter_args
// CHECK: %[[A0:.*]] = vector.load %[[X:.*]][%c0, %{{.*}}, %c0, %{{.*}}] : memref<1x2x1x48xf32>, vector<4xf32>
// CHECK: %[[A1:.*]] = vector.load %[[X]]
// CHECK: vector.shuffle %[[A0]], %[[A1]] [1, 2, 3, 4]
// CHECK: vector.shuffle %[[A0]], %[[A1]] [2, 3, 4, 5]
// CHECK: %[[A2:.*]] = vector.load %[[X]]
// CHECK: vector.shuffle %[[A1]], %[[A2]] [1, 2, 3, 4]
// CHECK: vector.shuffle %[[A1]], %[[A2]] [2, 3, 4, 5]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// LOADS-LABEL: func.func @row_taps
// LOADS-NOT: vector.shuffle
// LOADS: scf.for {{.*}} iter_args
// LOADS-COUNT-6: vector.load
// LOADS-NOT: vector.load
// LOADS: scf.yield
func.func @row_taps(%x: tensor<1x2x2x8xf32>) -> tensor<1x1x2x8xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, false, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, 0]]> : tensor<1x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x2x8xf32>, tensor<6xf32>) -> tensor<1x1x2x8xf32>
  return %0 : tensor<1x1x2x8xf32>
}

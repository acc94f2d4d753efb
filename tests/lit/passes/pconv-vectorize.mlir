// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=4 block=2}, canonicalize, cse)' | filecheck %s

// Two patterns (2 and 3 taps), kernel (1, 0) removed, padding 1, bias and relu6.
// The 4x4 input is copied into a zero-bordered buffer with rows of 6 laid end to end, room for
// the last block's taps: 40 floats a channel. Outputs are computed at 5 rows x 6 positions,
// rounded up to 4 blocks of 2 vectors of 4 lanes (32), in parallel over the blocks.
// Kept kernels are in runs, one per (filter, pattern): begin = [0, 1, 2, 3, 3] (filter 1 has
// no kernel of pattern 1), channels [0, 1, 1], packed-weight offsets [0, 2, 5].
// CHECK-LABEL: func.func @sparse
// CHECK-NOT: pconv.conv2d
// CHECK-DAG: arith.constant dense<[0, 1, 2, 3, 3]> : tensor<5xi32>
// CHECK-DAG: arith.constant dense<[0, 1, 1]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 5]> : tensor<3xi32>
// CHECK: %[[X:.*]] = memref.alloc() : memref<1x2x40xf32>
// CHECK: %[[TMP:.*]] = memref.alloc() : memref<1x2x32xf32>
// CHECK: scf.parallel
// Pattern 0: 2 taps x 2 vectors, no branch on the pattern.
// CHECK-NOT: scf.index_switch
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-4: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.yield
// Pattern 1: 3 taps x 2 vectors.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-6: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.yield
// CHECK-COUNT-2: arith.maximumf {{.*}} : vector<4xf32>
// CHECK-COUNT-2: arith.minimumf {{.*}} : vector<4xf32>
// CHECK: vector.store {{.*}}, %[[TMP]]
// CHECK: scf.reduce
// The flat rows of 6 are copied out as rows of 5: one masked vector each.
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x2x5x5xf32>
// CHECK: vector.maskedstore %[[OUT]]
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @sparse(%x: tensor<1x2x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// A strided conv is left for pconv-lower.
// CHECK-LABEL: func.func @strided
// CHECK: "pconv.conv2d"
// CHECK-NOT: vector.
func.func @strided(%x: tensor<1x3x5x5xf32>, %w: tensor<27xf32>) -> tensor<1x3x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x3x3xi1>, kernel_pattern = dense<0> : tensor<3x1xi8>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 3 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x5x5xf32>, tensor<27xf32>) -> tensor<1x3x2x2xf32>
  return %0 : tensor<1x3x2x2xf32>
}

// RUN: fretsaw-opt %s | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-verify)' | filecheck %s

// A 3-D pattern + connectivity layer (NCDHW): kernel (1, 0) removed, patterns of 2 and 3 taps
// of a 2x2x2 kernel, padding 1 on every side of the three spatial dims (lows, then highs).
// CHECK-LABEL: func.func @pattern3d
// CHECK: "pconv.conv3d"(%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}})
// CHECK-SAME: dilations = array<i64: 1, 1, 1>
// CHECK-SAME: kernel_pattern = dense<{{\[\[}}0, 1], [-1, 0]]> : tensor<2x2xi8>
// CHECK-SAME: padding = array<i64: 1, 1, 1, 1, 1, 1>
// CHECK-SAME: patterns = dense<{{.*}}> : tensor<2x2x2x2xi1>
// CHECK-SAME: -> tensor<1x2x5x5x5xf32>
func.func @pattern3d(%x: tensor<1x2x4x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv3d"(%x, %w, %b) {patterns = dense<[[[[true, false], [false, false]], [[false, false], [false, true]]], [[[true, true], [false, false]], [[true, false], [false, false]]]]> : tensor<2x2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 1, 1, 1, 1, 1, 1>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5x5xf32>
  return %0 : tensor<1x2x5x5x5xf32>
}

// Kernel groups (KGS): 2 filters x 2 input channels per group, each group one pattern, the
// second group of filters removed (Vanilla); stride 2 in time, dilation 2 in height.
// CHECK-LABEL: func.func @groups3d
// CHECK: "pconv.conv3d"
// CHECK-SAME: group_shape = array<i64: 2, 2>
func.func @groups3d(%x: tensor<1x4x5x6x6xf32>) -> tensor<1x4x2x4x5xf32> {
  %w = arith.constant dense<1.0> : tensor<32xf32>
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<[[[[true, false], [false, true]], [[false, true], [true, false]]]]> : tensor<1x2x2x2xi1>, kernel_pattern = dense<[[0, 0, 0, 0], [0, 0, 0, 0], [-1, -1, -1, -1], [-1, -1, -1, -1]]> : tensor<4x4xi8>, group_shape = array<i64: 2, 2>, strides = array<i64: 2, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 2, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x4x5x6x6xf32>, tensor<32xf32>) -> tensor<1x4x2x4x5xf32>
  return %0 : tensor<1x4x2x4x5xf32>
}

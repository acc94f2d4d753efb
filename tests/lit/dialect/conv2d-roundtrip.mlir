// RUN: fretsaw-opt %s | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-verify)' | filecheck %s

// A pattern + connectivity sparse layer: kernel (1, 0) is removed, the others keep 2 or 3 taps.
// CHECK-LABEL: func.func @pattern
// CHECK: "pconv.conv2d"(%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}})
// CHECK-SAME: activation = "relu"
// CHECK-SAME: kernel_pattern = dense<{{\[\[}}0, 1], [-1, 0]]> : tensor<2x2xi8>
// CHECK-SAME: padding = array<i64: 1, 1, 1, 1>
// CHECK-SAME: patterns = dense<{{.*}}> : tensor<2x2x2xi1>
func.func @pattern(%x: tensor<1x2x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// A dense depthwise layer without bias: one all-ones pattern, groups = channels.
// CHECK-LABEL: func.func @depthwise
// CHECK: "pconv.conv2d"(%{{[^,]+}}, %{{[^,)]+}})
// CHECK-SAME: groups = 3 : i64
// CHECK-SAME: operandSegmentSizes = array<i32: 1, 1, 0>
func.func @depthwise(%x: tensor<1x3x5x5xf32>, %w: tensor<27xf32>) -> tensor<1x3x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x3x3xi1>, kernel_pattern = dense<0> : tensor<3x1xi8>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 3 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x5x5xf32>, tensor<27xf32>) -> tensor<1x3x2x2xf32>
  return %0 : tensor<1x3x2x2xf32>
}

// RUN: not fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-verify)' 2>/dev/null | filecheck %s
// RUN: not fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-verify)' 2>&1 >/dev/null | filecheck %s --check-prefix=ERR

// A consistent op passes through unchanged.
// CHECK-LABEL: func.func @ok
// CHECK: "pconv.conv2d"
func.func @ok(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// An inconsistent op is named with its location and the mismatch.
// ERR: pconv-verify.mlir:[[# @LINE + 2]]:8: error: 'pconv.conv2d' op: packed_weights has 3 elements but kernel_pattern and patterns keep 2 weights
func.func @bad(%x: tensor<1x1x3x3xf32>, %w: tensor<3xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [-1]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<3xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

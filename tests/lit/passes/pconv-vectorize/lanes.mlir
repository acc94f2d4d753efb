// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=16 accumulators=26}, canonicalize, cse)' | filecheck %s

// Lanes per conv (lane_width): the target's 16 lanes are halved while that fills the output rows
// at least 1.5x better. 7 output columns fill 7 of 16 lanes (44%) but 7 of 8 (88%): 8 lanes.
// CHECK-LABEL: func.func @seven_columns
// CHECK-NOT: vector<16xf32>
// CHECK: vector.fma {{.*}} : vector<8xf32>
// CHECK-NOT: vector<16xf32>
func.func @seven_columns(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x7x7xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, -1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x7x7xf32>, tensor<8xf32>) -> tensor<1x2x7x7xf32>
  return %0 : tensor<1x2x7x7xf32>
}

// -----

// 14 columns fill 14 of 16 lanes, and 8 lanes would do no better: 16 lanes.
// CHECK-LABEL: func.func @fourteen_columns
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK-NOT: vector<8xf32>
func.func @fourteen_columns(%x: tensor<1x2x14x14xf32>) -> tensor<1x2x14x14xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, -1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x14x14xf32>, tensor<8xf32>) -> tensor<1x2x14x14xf32>
  return %0 : tensor<1x2x14x14xf32>
}

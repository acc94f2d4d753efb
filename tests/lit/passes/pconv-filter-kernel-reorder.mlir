// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-filter-kernel-reorder)' | filecheck %s

// Filter 0 keeps 1 kernel (channel 0, pattern 0), filter 1 keeps 3 (channel 0 pattern 1,
// channel 1 pattern 0, channel 2 pattern 1), filter 2 keeps 2 (channel 1 pattern 1, channel 2
// pattern 0). Canonical weights: filter 0 [1 2], filter 1 [3 4 5][6 7][8 9 10], filter 2 [11 12 13][14 15].

// The reorder puts the filters with most kernels first, one group per kernel count.
// CHECK: "pconv.conv2d"(%arg0, %cst)
// CHECK-SAME: filter_groups = dense<[0, 1, 2, 3]> : tensor<4xi32>
// CHECK-SAME: filter_order = dense<[1, 2, 0]> : tensor<3xi32>
// CHECK-NOT: fkw_

func.func @sparse(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x3x3xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]> : tensor<15xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, -1, -1], [1, 0, 1], [-1, 1, 0]]> : tensor<3x3xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x4x4xf32>, tensor<15xf32>) -> tensor<1x3x3x3xf32>
  return %0 : tensor<1x3x3x3xf32>
}

// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-filter-kernel-reorder, pconv-pack-fkw)' | filecheck %s --check-prefix=FKW
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-pack-fkw)' | filecheck %s --check-prefix=NOREORDER

// Filter 0 keeps 1 kernel (channel 0, pattern 0), filter 1 keeps 3 (channel 0 pattern 1,
// channel 1 pattern 0, channel 2 pattern 1), filter 2 keeps 2 (channel 1 pattern 1, channel 2
// pattern 0). Canonical weights: filter 0 [1 2], filter 1 [3 4 5][6 7][8 9 10], filter 2 [11 12 13][14 15].

// In FKW order: per filter in that order, kernels by pattern then channel:
// filter 1: pattern 0 [ch 1], pattern 1 [ch 0, ch 2]; filter 2: [ch 2], [ch 1]; filter 0: [ch 0], [].
// The weights are repacked in the same order.
// FKW: %[[W:.*]] = arith.constant dense<[6.000000e+00, 7.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 8.000000e+00, 9.000000e+00, 1.000000e+01, 1.400000e+01, 1.500000e+01, 1.100000e+01, 1.200000e+01, 1.300000e+01, 1.000000e+00, 2.000000e+00]>
// FKW: "pconv.conv2d"(%arg0, %[[W]])
// FKW-SAME: filter_order = dense<[1, 2, 0]>
// FKW-SAME: fkw_index = dense<[1, 0, 2, 2, 1, 0]> : tensor<6xi32>
// FKW-SAME: fkw_stride = dense<[0, 1, 3, 4, 5, 6, 6]> : tensor<7xi32>

// Without the reorder the filters keep their order (groups of up to 8 filters).
// NOREORDER: "pconv.conv2d"
// NOREORDER-SAME: filter_groups = dense<[0, 3]>
// NOREORDER-SAME: filter_order = dense<[0, 1, 2]>
// NOREORDER-SAME: fkw_index = dense<[0, 1, 0, 2, 2, 1]>
// NOREORDER-SAME: fkw_stride = dense<[0, 1, 1, 2, 4, 5, 6]>
func.func @sparse(%x: tensor<1x3x4x4xf32>) -> tensor<1x3x3x3xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]> : tensor<15xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, -1, -1], [1, 0, 1], [-1, 1, 0]]> : tensor<3x3xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x4x4xf32>, tensor<15xf32>) -> tensor<1x3x3x3xf32>
  return %0 : tensor<1x3x3x3xf32>
}

// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-fold-constant-channels, canonicalize)' | filecheck %s

// The depthwise conv's filter 1 has no kept kernel: its output is relu6(bias[1]) = relu6(7.5) = 6
// at every pixel. The unpadded 1x1 conv reading it adds weight x 6 to its bias (filter 0:
// 0.5 + 2 x 6 = 12.5, filter 1: -1 + 3 x 6 = 17) and drops those kernels (kernel_pattern column 1
// becomes -1, two fewer packed weights); the depthwise conv is unchanged.
// CHECK-LABEL: func.func @expand_project
// CHECK-DAG: %[[W:.*]] = arith.constant dense<[1.000000e+00, 4.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[1.250000e+01, 1.700000e+01]> : tensor<2xf32>
// CHECK: %[[D:.*]] = "pconv.conv2d"(%{{.*}}) {activation = "relu6", {{.*}} kernel_pattern = dense<{{\[}}[0], [-1]]>
// CHECK: "pconv.conv2d"(%[[D]], %[[W]], %[[B]]) {{{.*}} kernel_pattern = dense<{{\[}}[0, -1], [0, -1]]>
func.func @expand_project(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %dw = arith.constant dense<[1.0, 1.0, 1.0, 1.0]> : tensor<4xf32>
  %db = arith.constant dense<[0.0, 7.5]> : tensor<2xf32>
  %d = "pconv.conv2d"(%x, %dw, %db) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0], [-1]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 2 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %pw = arith.constant dense<[1.0, 2.0, 4.0, 3.0]> : tensor<4xf32>
  %pb = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "pconv.conv2d"(%d, %pw, %pb) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, 0], [0, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  return %y : tensor<1x2x4x4xf32>
}

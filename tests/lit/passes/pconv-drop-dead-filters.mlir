// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-drop-dead-filters, canonicalize)' | filecheck %s

// The depthwise conv keeps no kernel on channel 1 (kernel_pattern [[0], [-1]]), and it is the
// only user of the expand conv: expand filter 1 is computed for no one and loses its kernels
// (two fewer packed weights; its bias stays). The depthwise conv, whose result the function
// returns, keeps every filter.
// CHECK-LABEL: func.func @expand_depthwise
// CHECK-DAG: %[[W:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: %[[E:.*]] = "pconv.conv2d"(%{{.*}}, %[[W]], %{{.*}}) {{{.*}} kernel_pattern = dense<{{\[}}[0, 0], [-1, -1]]>
// CHECK: "pconv.conv2d"(%[[E]], %{{.*}}) {{{.*}} kernel_pattern = dense<{{\[}}[0], [-1]]>
func.func @expand_depthwise(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %ew = arith.constant dense<[1.0, 2.0, 4.0, 3.0]> : tensor<4xf32>
  %eb = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %e = "pconv.conv2d"(%x, %ew, %eb) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, 0], [0, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<4xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %dw = arith.constant dense<[1.0, 1.0, 1.0, 1.0]> : tensor<4xf32>
  %d = "pconv.conv2d"(%e, %dw) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0], [-1]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 2 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x4x4xf32>, tensor<4xf32>) -> tensor<1x2x4x4xf32>
  return %d : tensor<1x2x4x4xf32>
}

// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-lower)' | filecheck %s

// Two patterns (2 and 3 taps), kernel (1, 0) removed, padding 1, bias and relu6.
// The tables list only kept kernels: filter 0 has kernels [0, 2), filter 1 has [2, 3).
// CHECK-LABEL: func.func @sparse
// CHECK-NOT: pconv.conv2d
// CHECK: %[[PAD:.*]] = memref.alloc() : memref<1x2x6x6xf32>
// CHECK-DAG: arith.constant dense<[0, 2, 3]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 1, 1]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 1, 0]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 5]> : tensor<3xi32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x2x5x5xf32>
// CHECK: scf.for
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step
// CHECK: scf.index_switch
// CHECK: case 0 {
// CHECK-COUNT-2: math.fma
// CHECK-NOT: math.fma
// CHECK: scf.yield
// CHECK: case 1 {
// CHECK-COUNT-3: math.fma
// CHECK-NOT: math.fma
// CHECK: scf.yield
// CHECK: default {
// CHECK: arith.maximumf
// CHECK: arith.minimumf
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @sparse(%x: tensor<1x2x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// A single-pattern (dense) layer needs no dispatch: the taps are inline.
// CHECK-LABEL: func.func @dense
// CHECK-NOT: scf.index_switch
// CHECK-COUNT-4: math.fma
// CHECK-NOT: math.fma
// CHECK: return
func.func @dense(%x: tensor<1x1x3x3xf32>, %w: tensor<8xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<8xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// A 3-D conv (NCDHW) lowers the same way, with a loop per spatial dim: patterns of 2 and 3
// taps, kernel (1, 0) removed, padding 1 on every side, stride 2 in depth.
// CHECK-LABEL: func.func @sparse3d
// CHECK-NOT: pconv.conv3d
// CHECK: memref.alloc() : memref<1x2x6x6x6xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x2x3x5x5xf32>
// CHECK: scf.index_switch
// CHECK: case 0 {
// CHECK-COUNT-2: math.fma
// CHECK-NOT: math.fma
// CHECK: scf.yield
// CHECK: case 1 {
// CHECK-COUNT-3: math.fma
// CHECK-NOT: math.fma
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @sparse3d(%x: tensor<1x2x4x4x4xf32>) -> tensor<1x2x3x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<[[[[true, false], [false, false]], [[false, false], [false, true]]], [[[true, true], [false, false]], [[true, false], [false, false]]]]> : tensor<2x2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 2, 1, 1>, padding = array<i64: 1, 1, 1, 1, 1, 1>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x4x4x4xf32>, tensor<7xf32>) -> tensor<1x2x3x5x5xf32>
  return %0 : tensor<1x2x3x5x5xf32>
}

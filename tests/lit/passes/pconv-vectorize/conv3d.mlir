// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize)' | filecheck %s

// INTERIM(issue18-raise): pconv-vectorize's SIMD loops are 2-D; until conv3d has its own, it
// lowers a conv3d with pconv-lower's reference loops (scalar math.fma over the kept taps).
// CHECK-LABEL: func.func @dense3d
// CHECK-NOT: pconv.conv3d
// CHECK: math.fma
func.func @dense3d(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

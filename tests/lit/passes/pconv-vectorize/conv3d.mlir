// RUN: not fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize)' 2>&1 | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-lower, pconv-vectorize)' | filecheck %s --check-prefix=LOWERED

// pconv-vectorize's SIMD loops are 2-D: a conv3d is refused, named, with the way out; once
// pconv-lower has lowered it, pconv-vectorize has nothing left to do.
// CHECK: error: {{.*}}'pconv.conv3d' op: pconv-vectorize lowers 2-D convolutions; this pconv.conv3d has no SIMD lowering yet: lower it with pconv-lower (the reference loops) before pconv-vectorize
// LOWERED-LABEL: func.func @dense3d
// LOWERED-NOT: pconv.conv3d
// LOWERED: math.fma
func.func @dense3d(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=4}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=4 units=1}, canonicalize, cse)' | filecheck %s --check-prefix=ONE

// Work units: how the threads split a conv (schedule `units`, about that many scf.parallel
// iterations; passes/conv/units.py). A dense 1x1 conv of 8 filters over 4x8 pixels is one row of
// 32 (flattened), 4 column chunks of 2 vectors of 4 lanes, its filters in 2 blocks of 4. With
// the heuristic's 32 units each chunk takes every filter block in a unit of its own: 4 chunks x 2
// filter ranges ([0, 1, 2] in blocks), 8 units. With units=1 each chunk takes both blocks in one
// unit: 4 units, the filter table gone (one range).
// CHECK-LABEL: func.func @dense
// CHECK: arith.constant dense<[0, 1, 2]> : tensor<3xi32>
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c8)
// ONE-LABEL: func.func @dense
// ONE-NOT: tensor<3xi32>
// ONE: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c4)
func.func @dense(%x: tensor<1x2x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]> : tensor<16xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<0> : tensor<8x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x4x8xf32>, tensor<16xf32>) -> tensor<1x8x4x8xf32>
  return %0 : tensor<1x8x4x8xf32>
}

// -----

// A tuned schedule's units (rows, vectors and tile left to the heuristic) do the same.
// CHECK-LABEL: func.func @tuned
// CHECK-NOT: tensor<3xi32>
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c4)
func.func @tuned(%x: tensor<1x2x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]> : tensor<16xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<0> : tensor<8x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 0, 0, 0, 1>} : (tensor<1x2x4x8xf32>, tensor<16xf32>) -> tensor<1x8x4x8xf32>
  return %0 : tensor<1x8x4x8xf32>
}

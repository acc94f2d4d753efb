// RUN: not fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=0})' 2>&1 | filecheck %s --check-prefix=WIDTH
// RUN: not fretsaw-opt %s --pass-pipeline='builtin.module(dense-vectorize{vectors=0})' 2>&1 | filecheck %s --check-prefix=DENSE
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=1000 vectors=1})' 2>&1 | filecheck %s --check-prefix=BLOCK
// RUN: not fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 accumulators=2})' 2>&1 | filecheck %s --check-prefix=TUNED

// Options are checked when the pipeline is parsed (a zero width divided by zero, a negative
// tile or block computed garbage), each error naming the pass and the option.
// WIDTH: error: pass 'pconv-vectorize': option width=0 must be >= 1
// DENSE: error: pass 'dense-vectorize': option vectors=0 must be >= 1

// A block is checked against each conv at the target: the options' 1000 rows are cut to the
// conv's 3 output rows, and 3 x 1 vectors of 4 lanes then fit the 10 accumulators; the tuned
// schedule's 2 x 2 vectors do not fit accumulators=2.
// BLOCK-NOT: error
// BLOCK-LABEL: func.func @tuned
// BLOCK-NOT: pconv.conv2d
// TUNED: invalid.mlir:[[# @LINE + 3]]:8: error: 'pconv.conv2d' op: fretsaw.schedule = array<i64: 2, 2, 1> does not fit width=4 accumulators=2: a block of 2 x 2 vectors holds 4 accumulators, more than the 2 of accumulators=2; tune it again on this target or remove it
func.func @tuned(%x: tensor<1x1x4x10xf32>) -> tensor<1x2x3x9xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]], [[false, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0], [1]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 2, 2, 1>} : (tensor<1x1x4x10xf32>, tensor<4xf32>) -> tensor<1x2x3x9xf32>
  return %0 : tensor<1x2x3x9xf32>
}

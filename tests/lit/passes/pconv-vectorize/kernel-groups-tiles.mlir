// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s --check-prefix=ONE
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10 cache=1024 l2=1024}, canonicalize, cse)' | filecheck %s --check-prefix=TILES

// A KGS-pruned conv2d: its 4 filters keep positions 0 and 4 of all 16 input channels, one filter
// block of 4 over 32 columns. Its work unit's input rows and weights fit the default L2
// (l2=262144), so it takes all 16 channels in one tile: one column loop of 32 steps, and no
// partial sums parked in the output and reloaded. With an L2 of 1 KiB they do not, and the L1
// rule cuts the channels into tiles of 8 (the least a tile takes): the block's columns in two
// runs (begin = [0, 16, 32]), the sums reloaded from the output for each tile.
// ONE-LABEL: func.func @tiles
// ONE-NOT: vector.maskedload %{{.*}} : memref<1x4x1x6x6xf32>
// ONE: scf.for %{{.*}} = %c0 to %c32 step %c1 iter_args
// ONE-NOT: vector.maskedload %{{.*}} : memref<1x4x1x6x6xf32>
// ONE-NOT: pconv.conv
// TILES-LABEL: func.func @tiles
// TILES: arith.constant dense<[0, 16, 32]> : tensor<3xi32>
// TILES: vector.maskedload %{{.*}} : memref<1x4x1x6x6xf32>
// TILES: scf.for {{.*}} iter_args
// TILES-NOT: pconv.conv
func.func @tiles(%arg0: tensor<1x16x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %w = arith.constant dense<0.5> : tensor<128xf32>
  %0 = "pconv.conv2d"(%arg0, %w) {activation = "relu", dilations = array<i64: 1, 1>, groups = 1 : i64, kernel_pattern = dense<0> : tensor<4x16xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1>, patterns = dense<[[[true, false, false], [false, true, false], [false, false, false]]]> : tensor<1x3x3xi1>, strides = array<i64: 1, 1>} : (tensor<1x16x6x6xf32>, tensor<128xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

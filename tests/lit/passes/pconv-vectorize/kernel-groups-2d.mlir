// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10 l2=256}, canonicalize, cse)' | filecheck %s --check-prefix=ROWS
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10 l2=32}, canonicalize, cse)' | filecheck %s --check-prefix=PREFETCH

// A KGS-pruned conv2d (group_shape 2x2 of RT3D's KGS on a Conv2d): filters 0-1 keep positions 0
// and 4 of input channel 0, filters 2-3 positions 4 and 8 of channel 1, every other kernel is
// removed. Its filter blocks of 2 keep the same columns, so it takes the kernel-group lowering as
// the conv3d of depth 1 (views of the input and the result): 2 filter blocks of 2 columns each
// (begin = [0, 2, 4]), offsets 0 and 9 (row 1, column 1 of rows of 8) in channel 0's plane, 81
// and 90 in channel 1's (72 further), each input vector loaded once for both filters of a block.
// CHECK-LABEL: func.func @kgs2d
// CHECK-DAG: arith.constant dense<[0, 9, 81, 90]> : tensor<4xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 4]> : tensor<3xi32>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] output_shape [1, 2, 1, 6, 6]
// CHECK: memref.collapse_shape %{{.*}} {{\[}}[0, 1, 2, 3, 4]] : memref<1x2x1x1x72xf32> into memref<144xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// its 48 bytes of weights and offsets fit the L2: no prefetch (with l2=32, PREFETCH below)
// CHECK-NOT: memref.prefetch
// CHECK-COUNT-2: vector.broadcast
// CHECK: %[[V:.*]] = vector.load %{{.*}}[%{{.*}}] : memref<144xf32>, vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] : tensor<1x4x1x6x6xf32> into tensor<1x4x6x6xf32>
// Weights and offsets past the L2: each column step prefetches those of the column 64 ahead,
// clamped to the last (3)
// PREFETCH-LABEL: func.func @kgs2d
// PREFETCH: scf.for {{.*}} iter_args
// PREFETCH: %[[NEXT:.*]] = arith.addi %{{.*}}, %c64 : index
// PREFETCH-NEXT: %[[AHEAD:.*]] = arith.minui %[[NEXT]], %c3 : index
// PREFETCH-NEXT: %[[W:.*]] = arith.muli %[[AHEAD]], %c2 : index
// PREFETCH-NEXT: memref.prefetch %{{.*}}[%[[W]]], read, locality<3>, data : memref<8xf32>
// PREFETCH-NEXT: memref.prefetch %{{.*}}[%[[AHEAD]]], read, locality<3>, data : memref<4xi32>
// PREFETCH: vector.fma
// CHECK-NOT: pconv.conv
func.func @kgs2d(%arg0: tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%arg0, %w) {activation = "relu", dilations = array<i64: 1, 1>, groups = 1 : i64, kernel_pattern = dense<[[0, -1], [0, -1], [-1, 1], [-1, 1]]> : tensor<4x2xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1>, patterns = dense<[[[true, false, false], [false, true, false], [false, false, false]], [[false, false, false], [false, true, false], [false, false, true]]]> : tensor<2x3x3xi1>, strides = array<i64: 1, 1>} : (tensor<1x2x6x6xf32>, tensor<8xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// The same kernels with filters 0 and 1 on different patterns (PatDNN's pattern pruning): a block
// of 2 would compute a zero for every kept weight, so it stays with the 2-D pattern loops (no
// depth of 1, each filter's loop per pattern).
// CHECK-LABEL: func.func @pattern2d
// CHECK-NOT: tensor.expand_shape
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x2x1x72xf32>
// CHECK: vector.load %{{.*}} : memref<1x2x1x72xf32>, vector<8xf32>
// CHECK-NOT: pconv.conv
func.func @pattern2d(%arg0: tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%arg0, %w) {activation = "relu", dilations = array<i64: 1, 1>, groups = 1 : i64, kernel_pattern = dense<[[0, -1], [1, -1], [-1, 1], [-1, 0]]> : tensor<4x2xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1>, patterns = dense<[[[true, false, false], [false, true, false], [false, false, false]], [[false, false, false], [false, true, false], [false, false, true]]]> : tensor<2x3x3xi1>, strides = array<i64: 1, 1>} : (tensor<1x2x6x6xf32>, tensor<8xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

// The KGS conv above on a 7x7 output: blocks of 2 filters x 5 rows (10 accumulators) leave 2
// rows for the last row group, which takes a block of its own 2 rows (4 accumulators) under an
// scf.if instead of computing 3 rows past the edge; the other groups store every row unguarded.
// CHECK-LABEL: func.func @short_last
// CHECK: %[[LAST:.*]] = arith.cmpi eq, %{{.*}}, %c5 : index
// CHECK: scf.if %[[LAST]] {
// CHECK: scf.for {{.*}} iter_args({{[^)]*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK: } else {
// CHECK: scf.for {{.*}} iter_args({{[^)]*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK-NOT: arith.cmpi ult
// CHECK: return
func.func @short_last(%arg0: tensor<1x2x7x7xf32>) -> tensor<1x4x7x7xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%arg0, %w) {activation = "relu", dilations = array<i64: 1, 1>, groups = 1 : i64, kernel_pattern = dense<[[0, -1], [0, -1], [-1, 1], [-1, 1]]> : tensor<4x2xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1>, patterns = dense<[[[true, false, false], [false, true, false], [false, false, false]], [[false, false, false], [false, true, false], [false, false, true]]]> : tensor<2x3x3xi1>, strides = array<i64: 1, 1>} : (tensor<1x2x7x7xf32>, tensor<8xf32>) -> tensor<1x4x7x7xf32>
  return %0 : tensor<1x4x7x7xf32>
}

// A KGS-pruned pointwise conv2d (filters 0-1 keep input channel 0, filters 2-3 channel 1) on a
// 7x7 plane: its rows of 7 would fill 7 of 8 lanes, and its input (392 bytes) fits the L2, so it
// runs on its 49 pixels as one row (flat_groups): a plane of 1 x 49, a partial last chunk of 3
// vectors (run first: each_chunk) and one of 4 (2 filters each). With an L2 of 256 bytes it
// keeps its 7 rows of one vector.
// CHECK-LABEL: func.func @pointwise_flat
// CHECK: tensor.expand_shape %{{.*}} output_shape [1, 2, 1, 1, 49]
// CHECK: scf.for {{.*}} iter_args({{[^)]*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK: scf.for {{.*}} iter_args({{[^)]*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK: tensor.expand_shape %{{.*}} output_shape [1, 4, 7, 7]
// ROWS-LABEL: func.func @pointwise_flat
// ROWS: tensor.expand_shape %{{.*}} output_shape [1, 2, 1, 7, 7]
// ROWS-NOT: tensor<1x2x1x1x49xf32>
// ROWS: return
func.func @pointwise_flat(%arg0: tensor<1x2x7x7xf32>) -> tensor<1x4x7x7xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %0 = "pconv.conv2d"(%arg0, %w) {activation = "none", dilations = array<i64: 1, 1>, groups = 1 : i64, kernel_pattern = dense<[[0, -1], [0, -1], [-1, 0], [-1, 0]]> : tensor<4x2xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 0, 0, 0, 0>, patterns = dense<true> : tensor<1x1x1xi1>, strides = array<i64: 1, 1>} : (tensor<1x2x7x7xf32>, tensor<4xf32>) -> tensor<1x4x7x7xf32>
  return %0 : tensor<1x4x7x7xf32>
}

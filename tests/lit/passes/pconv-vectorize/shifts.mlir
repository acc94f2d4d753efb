// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=1 vectors=2 shifts=true}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=1 vectors=2}, canonicalize, cse)' | filecheck %s --check-prefix=LOADS
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 rows=1 vectors=1 shifts=true}, canonicalize, cse)' | filecheck %s --check-prefix=NARROW

// Lane shifts (`shifts=true`, set for AVX-512 targets). A block of 1 row x 2 vectors of 4 under
// the taps (1, 0), (1, 1), (1, 2) reads the input row at columns 0, 4 (on vector boundaries: the
// flat rows have a pitch of 12, whole vectors: 48 floats a channel) and 1, 5, 2, 6 (off them:
// each such load would split across two cache lines on AVX-512). With shifts the block keeps
// one set of accumulators per tap column (ColumnSets): every tap reads the row's aligned
// vectors, 3 loads each loaded once, feeding 8 FMAs (the sets of columns 1 and 2 take a third
// vector, as the 8 outputs reach their block's end); after the channel loop each output vector
// adds the lane shifts of the column-1 and column-2 sets (one vector.shuffle each).
// CHECK-LABEL: func.func @row_taps
// CHECK: scf.for {{.*}} iter_args
// CHECK-NOT: vector.shuffle
// CHECK: %[[A0:.*]] = vector.load %[[X:.*]][%c0, %{{.*}}, %c0, %{{.*}}] : memref<1x2x1x48xf32>, vector<4xf32>
// CHECK-COUNT-3: vector.fma %{{.*}}, %[[A0]]
// CHECK: %[[A1:.*]] = vector.load %[[X]]
// CHECK-COUNT-3: vector.fma %{{.*}}, %[[A1]]
// CHECK: %[[A2:.*]] = vector.load %[[X]]
// CHECK-COUNT-2: vector.fma %{{.*}}, %[[A2]]
// CHECK-NOT: vector.load
// CHECK-NOT: vector.shuffle
// CHECK: scf.yield
// CHECK: %[[S1:.*]] = vector.shuffle %{{.*}}, %{{.*}} [1, 2, 3, 4]
// CHECK: %[[O1:.*]] = arith.addf %{{.*}}, %[[S1]]
// CHECK: %[[S2:.*]] = vector.shuffle %{{.*}}, %{{.*}} [2, 3, 4, 5]
// CHECK: arith.addf %[[O1]], %[[S2]]
// LOADS-LABEL: func.func @row_taps
// LOADS-NOT: vector.shuffle
// LOADS: scf.for {{.*}} iter_args
// LOADS-COUNT-6: vector.load
// LOADS-NOT: vector.load
// LOADS: scf.yield
func.func @row_taps(%x: tensor<1x2x2x8xf32>) -> tensor<1x1x2x8xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, false, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, 0]]> : tensor<1x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x2x8xf32>, tensor<6xf32>) -> tensor<1x1x2x8xf32>
  return %0 : tensor<1x1x2x8xf32>
}

// Dilation 2: the taps read columns 0, 2 and 4 of the block, and column offset 4 is a whole
// vector away: no column sets. The row's aligned vectors (columns 0, 4, 8) are loaded once and
// the taps at columns 2 and 6 read lane shifts of two of them, inside the channel loop.
// CHECK-LABEL: func.func @dilated_row_taps
// CHECK: scf.for {{.*}} iter_args
// CHECK: %[[B0:.*]] = vector.load %[[Y:.*]][%c0, %{{.*}}, %c0, %{{.*}}] : memref<1x2x1x72xf32>, vector<4xf32>
// CHECK: %[[B1:.*]] = vector.load %[[Y]]
// CHECK: vector.shuffle %[[B0]], %[[B1]] [2, 3, 4, 5]
// CHECK: %[[B2:.*]] = vector.load %[[Y]]
// CHECK: vector.shuffle %[[B1]], %[[B2]] [2, 3, 4, 5]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// LOADS-LABEL: func.func @dilated_row_taps
// LOADS-NOT: vector.shuffle
// LOADS: return
func.func @dilated_row_taps(%x: tensor<1x2x2x8xf32>) -> tensor<1x1x2x8xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, false, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, 0]]> : tensor<1x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 2, 2, 2, 2>, dilations = array<i64: 2, 2>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x2x8xf32>, tensor<6xf32>) -> tensor<1x1x2x8xf32>
  return %0 : tensor<1x1x2x8xf32>
}

// Four output columns: at the target's width of 4 the dilated taps read the aligned vectors
// (columns 0 and 4) and a lane shift of them (column 2); on a target of 8 lanes the conv's
// vectors take 4 (lane_width), no longer a whole target vector, and lane shifts are off
// (lane_shifts): three plain loads, no shuffle.
// CHECK-LABEL: func.func @narrow_dilated_taps
// CHECK: scf.for {{.*}} iter_args
// CHECK: %[[C0:.*]] = vector.load
// CHECK: %[[C1:.*]] = vector.load
// CHECK: vector.shuffle %[[C0]], %[[C1]] [2, 3, 4, 5]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// NARROW-LABEL: func.func @narrow_dilated_taps
// NARROW: scf.for {{.*}} iter_args
// NARROW-COUNT-3: vector.load {{.*}} vector<4xf32>
// NARROW-NOT: vector.shuffle
// NARROW: scf.yield
func.func @narrow_dilated_taps(%x: tensor<1x2x2x4xf32>) -> tensor<1x1x2x4xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, false, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, 0]]> : tensor<1x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 2, 2, 2, 2>, dilations = array<i64: 2, 2>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x2x4xf32>, tensor<6xf32>) -> tensor<1x1x2x4xf32>
  return %0 : tensor<1x1x2x4xf32>
}

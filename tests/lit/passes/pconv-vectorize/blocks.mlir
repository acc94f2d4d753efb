// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=2 vectors=1}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-pack-fkw, pconv-vectorize{width=4 tile=2}, canonicalize, cse)' | filecheck %s --check-prefix=TILED
// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=4}, canonicalize, cse)' | filecheck %s --check-prefix=SCHED

// Two patterns (2 and 3 taps), kernel (1, 0) removed, padding 1, bias and relu6, register
// blocks of 2 output rows x 1 vector of 4 lanes.
// The 4x4 input is copied (channels in parallel) into a zero-bordered buffer (64-byte aligned)
// with rows of 6 laid end to end at a pitch of 8 (whole vectors, so every row starts on a vector
// boundary), room for the last block's taps: 60 floats a channel. The 5x5 outputs are computed
// as 3 row pairs (the parallel work units) x 2 vectors of columns, straight into the result: the
// partial last one (column 4) first, with one lane masked (its rows' whole-vector tails would
// spill into row 5, past the edge, in the third pair), then the first (columns 0-3) whole; the
// third pair's second row (row 5) lies past the edge and is computed but stored only under `y < 5`.
// The staging stores whole vectors only: the zeros and row tails reach into data copied
// afterwards or into padding.
// Without pconv-pack-fkw the kernels are read in canonical order (filters in order), in runs,
// one per (filter, pattern): begin = [0, 1, 2, 3, 3] (filter 1 has no kernel of pattern 1),
// channels [0, 1, 1], packed-weight offsets [0, 2, 5].
// CHECK-LABEL: func.func @sparse
// CHECK-NOT: pconv.conv2d
// CHECK-DAG: arith.constant dense<[0, 1, 2, 3, 3]> : tensor<5xi32>
// CHECK-DAG: arith.constant dense<[0, 1, 1]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 5]> : tensor<3xi32>
// CHECK: %[[X:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x60xf32>
// CHECK: scf.parallel
// CHECK-NOT: vector.maskedstore
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x2x5x5xf32>
// CHECK: scf.parallel
// CHECK: %[[LANE:.*]] = vector.constant_mask [1] : vector<4xi1>
// Pattern 0, taps (0, 0) and (1, 1): 2 taps x 2 rows, four loads, no branch on the pattern.
// CHECK-NOT: scf.index_switch
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-4: vector.load %[[X]]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// Pattern 1, taps (0, 0), (0, 1), (1, 0): 6 FMAs from 5 loads, the input row shared by tap
// (1, 0) of output row 0 and tap (0, 0) of output row 1 is loaded once and feeds both.
// Loads go input row by input row: (0, 0), (0, 1), then the shared (1, 0).
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-2: vector.load %[[X]]
// CHECK: %[[SHARED:.*]] = vector.load %[[X]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[SHARED]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[SHARED]]
// CHECK-COUNT-2: vector.load %[[X]]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// ReLU6 on each of the block's two vectors.
// CHECK: arith.maximumf {{.*}} : vector<4xf32>
// CHECK: arith.minimumf {{.*}} : vector<4xf32>
// CHECK: arith.maximumf {{.*}} : vector<4xf32>
// CHECK: arith.minimumf {{.*}} : vector<4xf32>
// CHECK: vector.maskedstore %[[OUT]]{{.*}}, %[[LANE]]
// CHECK: scf.if
// CHECK-NEXT: vector.maskedstore %[[OUT]]{{.*}}, %[[LANE]]
// Columns 0-3: the same loops, their stores whole.
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.store {{.*}}, %[[OUT]]
// CHECK: scf.if
// CHECK-NEXT: vector.store {{.*}}, %[[OUT]]
// CHECK: scf.reduce
// CHECK-NOT: memref.alloc
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @sparse(%x: tensor<1x2x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// -----

// Tiles of 2 input channels after FKW packing: the FKW order is by pattern (channels 0, 2 then
// 1, 3; weights [1 2][5 6][3 4][7 8]), the loops read tile by tile, one run per (tile, filter,
// pattern): begin = [0, 1, 2, 3, 4], channels [0, 1, 2, 3], so the weights are regathered in
// that order, kernel k's two at 2k (every pattern keeps 2 taps): computed, no table of offsets
// (weight_step). The register block (3 rows x 1 vector of 3 lanes, masked) starts from the bias
// (none: zero), is parked in the output between tiles, and the relu runs once all tiles are summed.
// Rows 0 and 1 store their vector whole (its last lane spills into the next row's first column,
// which the block stores right after), row 2 masked.
// TILED-LABEL: func.func @tiled
// TILED-DAG: arith.constant dense<[0, 1, 2, 3, 4]> : tensor<5xi32>
// TILED-DAG: arith.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
// TILED-NOT: arith.constant dense<[0, 2, 4, 6]> : tensor<4xi32>
// TILED-DAG: arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]> : tensor<8xf32>
// TILED: %[[TMP:.*]] = memref.alloc() : memref<1x1x3x3xf32>
// TILED: %[[LANES:.*]] = vector.constant_mask [3] : vector<4xi1>
// TILED-COUNT-2: vector.store %{{.*}}, %[[TMP]]
// TILED-NEXT: vector.maskedstore %[[TMP]]{{.*}}, %[[LANES]]
// TILED: scf.for
// TILED-COUNT-3: vector.maskedload %[[TMP]]{{.*}}, %[[LANES]]
// TILED: scf.for %[[K:[a-z0-9_]+]] = {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>)
// TILED: arith.muli %[[K]], %c2 : index
// TILED-COUNT-6: vector.fma
// TILED: scf.yield
// TILED: scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>)
// TILED-COUNT-6: vector.fma
// TILED: scf.yield
// TILED-COUNT-2: vector.store %{{.*}}, %[[TMP]]
// TILED-NEXT: vector.maskedstore %[[TMP]]
// TILED: }
// TILED-NOT: vector.fma
// TILED-COUNT-3: arith.maximumf
func.func @tiled(%x: tensor<1x4x4x4xf32>) -> tensor<1x1x3x3xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]], [[false, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1, 0, 1]]> : tensor<1x4xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x4x4x4xf32>, tensor<8xf32>) -> tensor<1x1x3x3xf32>
  return %0 : tensor<1x1x3x3xf32>
}

// -----

// Stride 2: the 5x5 input is split into phase planes; the pattern's taps (0, 0), (1, 1), (2, 2)
// read plane (0, 0) (rows and columns 0, 2, 4) and plane (1, 1) (rows and columns 1, 3), each
// with rows of 3 laid end to end at a pitch of 4, so every tap is again one vector load at a
// fixed offset: tap (0, 0) at plane 0 + 0, tap (2, 2) at plane 0 + 4 + 1, tap (1, 1) at plane 1 + 0.
// Its one filter has one kernel, so its work unit stages the rows its row group reads (plane rows
// 0-2, then zeros for the reads past the last row's end and a vector more) into a slice of its
// own, planes x 20, instead of a flat copy of the whole input made first.
// CHECK-LABEL: func.func @strided
// CHECK-NOT: pconv.conv2d
// CHECK: %[[X:.*]] = memref.alloca() {alignment = 64 : i64} : memref<2x20xf32>
// Deinterleaving copies, a vector at a time: plane 0 row q from input row 2q, columns 0, 2, 4
// (a load and a masked load, their even lanes shuffled out, stored whole: the lanes past the 3
// columns are zeros, the padding), plane 1 row q from input row 2q + 1, columns 1, 3; rows past
// the input (plane 0 row 2 is input row 4, plane 1 row 2 would be input row 5) are tested for at
// run time and zeroed. No masked store: what a whole vector writes past a row is padding or the
// next row, written afterwards.
// CHECK: scf.if
// CHECK: vector.maskedload %{{.*}}[%c0, %c0, %{{.*}}, %c4]
// CHECK: vector.shuffle {{.*}} [0, 2, 4, 6]
// CHECK: vector.store %{{.*}}, %[[X]][%c0, %{{.*}}]
// CHECK: } else {
// CHECK: vector.store %{{.*}}, %[[X]][%c0, %{{.*}}]
// CHECK: vector.load %{{.*}}[%c0, %c0, %{{.*}}, %c1]
// CHECK: vector.shuffle {{.*}} [0, 2, 4, 6]
// CHECK: vector.store %{{.*}}, %[[X]][%c1, %{{.*}}]
// CHECK-NOT: vector.maskedstore %[[X]]
// CHECK: vector.load %[[X]][%c0, %c0]
// CHECK: vector.load %[[X]][%c0, %c5]
// CHECK: vector.load %[[X]][%c1, %c0]
// CHECK-NOT: memref.load
// CHECK: vector.maskedstore
// TILED-LABEL: func.func @strided
// TILED-NOT: pconv.conv2d
func.func @strided(%x: tensor<1x1x5x5xf32>) -> tensor<1x1x2x2xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false, false], [false, true, false], [false, false, true]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<0> : tensor<1x1xi8>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x5x5xf32>, tensor<3xf32>) -> tensor<1x1x2x2xf32>
  return %0 : tensor<1x1x2x2xf32>
}

// -----

// A tuned schedule on the op (fretsaw/tune.py): `fretsaw.schedule = array<i64: rows, vectors,
// tile>` replaces the heuristics when the pass options leave them open. Here 1 row x 1 vector:
// 3 row groups run in parallel, each block one accumulator (2 taps, 2 FMAs), where the heuristic
// makes one block of all 3 output rows (6 FMAs, no parallel loop left).
// SCHED-LABEL: func.func @scheduled
// SCHED: scf.parallel (%{{.*}}) = (%c0) to (%c3)
// SCHED-COUNT-2: vector.fma
// SCHED-NOT: vector.fma
// SCHED-LABEL: func.func @heuristic
// SCHED-NOT: scf.parallel
// SCHED-COUNT-6: vector.fma
func.func @scheduled(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x3x3xf32> {
  %w = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0]]> : tensor<1x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 1, 1, 0>} : (tensor<1x1x4x4xf32>, tensor<2xf32>) -> tensor<1x1x3x3xf32>
  return %0 : tensor<1x1x3x3xf32>
}
func.func @heuristic(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x3x3xf32> {
  %w = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0]]> : tensor<1x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x4x4xf32>, tensor<2xf32>) -> tensor<1x1x3x3xf32>
  return %0 : tensor<1x1x3x3xf32>
}

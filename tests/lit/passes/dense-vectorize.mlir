// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(dense-vectorize{width=4 vectors=2 chunk=8}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(dense-vectorize{width=8 vectors=2 chunk=8}, canonicalize, cse)' | filecheck %s --check-prefix=WIDE

// A linear layer as torch-mlir imports it: the constant weight is transposed, then multiplied.
// The transpose is folded at compile time, and the 3 x 16 weights are packed into panels of
// 3 x 8, one per register block (outputs 0-7: rows [0 3 6 ... 21], [1 4 ... 22], [2 5 ... 23]),
// so that a block's K row segments lie end to end. The matmul becomes SIMD loops over 16
// outputs: 2 parallel chunks of 8, each in register blocks of 2 vectors of 4, K steps
// broadcasting one input value and multiply-adding one row segment of the chunk's panel; the
// zero fill is the accumulators' start.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK: arith.constant dense<{{\[\[\[}}0.000000e+00, 3.000000e+00, {{.*}}, 2.100000e+01], [1.000000e+00, {{.*}} : tensor<2x3x8xf32>
// CHECK: %[[W:.*]] = bufferization.to_buffer {{.*}} : tensor<2x3x8xf32> to memref<2x3x8xf32>
// CHECK: scf.parallel (%[[CHUNK:.*]]) = (%c0) to (%c2)
// CHECK: scf.for %[[K:.*]] = {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK: vector.broadcast
// CHECK: vector.load %[[W]][%[[CHUNK]], %[[K]], %c0]
// CHECK: vector.load %[[W]][%[[CHUNK]], %[[K]], %c4]
// CHECK-COUNT-2: vector.fma
// CHECK: scf.yield
// CHECK-COUNT-2: vector.store
func.func @linear(%x: tensor<2x3xf32>) -> tensor<2x16xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [9.0, 10.0, 11.0], [12.0, 13.0, 14.0], [15.0, 16.0, 17.0], [18.0, 19.0, 20.0], [21.0, 22.0, 23.0], [24.0, 25.0, 26.0], [27.0, 28.0, 29.0], [30.0, 31.0, 32.0], [33.0, 34.0, 35.0], [36.0, 37.0, 38.0], [39.0, 40.0, 41.0], [42.0, 43.0, 44.0], [45.0, 46.0, 47.0]]> : tensor<16x3xf32>
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<3x16xf32>
  %t = linalg.transpose ins(%w : tensor<16x3xf32>) outs(%e0 : tensor<3x16xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<2x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x16xf32>) -> tensor<2x16xf32>
  %y = linalg.matmul ins(%x, %t : tensor<2x3xf32>, tensor<3x16xf32>) outs(%f : tensor<2x16xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

// N = 10 is not a multiple of the width: left to the scalar loops (the transpose still folds).
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: linalg.transpose
// CHECK: linalg.matmul
func.func @narrow(%x: tensor<1x2xf32>) -> tensor<1x10xf32> {
  %w = arith.constant dense<1.0> : tensor<10x2xf32>
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<2x10xf32>
  %t = linalg.transpose ins(%w : tensor<10x2xf32>) outs(%e0 : tensor<2x10xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<1x10xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x10xf32>) -> tensor<1x10xf32>
  %y = linalg.matmul ins(%x, %t : tensor<1x2xf32>, tensor<2x10xf32>) outs(%f : tensor<1x10xf32>) -> tensor<1x10xf32>
  return %y : tensor<1x10xf32>
}

// -----

// With width=8 (the WIDE run), N = 12 is not a multiple of 8 lanes but of 4: vectors of 4 (as
// 1000 classes take 8 of AVX-512's 16).
// WIDE-LABEL: func.func @half_width
// WIDE-NOT: linalg.matmul
// WIDE: vector.fma {{.*}} : vector<4xf32>
func.func @half_width(%x: tensor<1x2xf32>, %w: tensor<2x12xf32>) -> tensor<1x12xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x12xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x12xf32>) -> tensor<1x12xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x2xf32>, tensor<2x12xf32>) outs(%f : tensor<1x12xf32>) -> tensor<1x12xf32>
  return %y : tensor<1x12xf32>
}

// -----

// A matmul whose indexing maps transpose A is left to upstream.
// CHECK-LABEL: func.func @transposed_a
// CHECK: linalg.matmul
// CHECK-NOT: vector.fma
func.func @transposed_a(%a: tensor<4x1xf32>, %b: tensor<4x8xf32>) -> tensor<1x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8xf32>) -> tensor<1x8xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d2, d0)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
         ins(%a, %b : tensor<4x1xf32>, tensor<4x8xf32>) outs(%f : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// -----

// A 3x3 stride-2 max pool with a -inf pad of 1, as torch-mlir imports it. No padded copy:
// threads over channels, then per output row and vector of 4 output columns (here one: the
// row's first vector, emitted apart), per window tap one masked load of 8 unpadded input columns
// starting inside the row (-inf in the lanes outside) and a shuffle of its even lanes, folded
// with maximumf; one masked store of the 3 output columns. Window rows 0 and 2 may lie above or
// below the image: their loads' lane counts are selected to 0 there; row 1 never does and takes
// constant masks. Window column 0 starts at input column -1: it loads from column 0 (lanes 0..4
// inside the 5-column image) and shifts the lanes right by one, -inf in lane 0; window column 1
// is that same load unshifted (CSE keeps one), column 2 loads from column 1 (lanes 0..3).
// CHECK-LABEL: func.func @max_pool
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.pooling_nchw_max
// CHECK: %[[NINF:.*]] = arith.constant dense<0xFF800000> : vector<8xf32>
// CHECK: scf.parallel
// CHECK: scf.for %[[OH:.*]] = %c0 to %c3
// CHECK: %[[TOP:.*]] = arith.muli %[[OH]], %c2 : index
// CHECK: %[[ABOVE:.*]] = arith.subi %[[TOP]], %c1 : index
// CHECK: %[[INSIDE0:.*]] = arith.andi %{{.*}}, %{{.*}} : i1
// CHECK: %[[ROW0:.*]] = arith.minsi
// CHECK: %[[BELOW:.*]] = arith.addi %[[TOP]], %c1 : index
// CHECK: %[[INSIDE2:.*]] = arith.andi %{{.*}}, %{{.*}} : i1
// CHECK: %[[ROW2:.*]] = arith.minsi
// CHECK: %[[FIVE:.*]] = vector.constant_mask [5] : vector<8xi1>
// CHECK: %[[FOUR:.*]] = vector.constant_mask [4] : vector<8xi1>
// CHECK: %[[N0:.*]] = arith.select %[[INSIDE0]], %c5, %c0 : index
// CHECK: %[[M0:.*]] = vector.create_mask %[[N0]] : vector<8xi1>
// CHECK: %[[L0:.*]] = vector.maskedload %{{.*}}[%c0, %{{.*}}, %[[ROW0]], %c0], %[[M0]], %[[NINF]] : memref<1x2x5x5xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
// CHECK: %[[SHIFTED:.*]] = vector.shuffle %[[L0]], %[[NINF]] [8, 0, 1, 2, 3, 4, 5, 6]
// CHECK: vector.shuffle %[[SHIFTED]], %{{.*}} [0, 2, 4, 6]
// CHECK: vector.shuffle %[[L0]], %{{.*}} [0, 2, 4, 6]
// CHECK: %[[N2:.*]] = arith.select %[[INSIDE0]], %c4, %c0 : index
// CHECK: %[[M2:.*]] = vector.create_mask %[[N2]] : vector<8xi1>
// CHECK: vector.maskedload %{{.*}}[%c0, %{{.*}}, %[[ROW0]], %c1], %[[M2]], %[[NINF]]
// CHECK: vector.maskedload %{{.*}}[%c0, %{{.*}}, %[[TOP]], %c0], %[[FIVE]], %[[NINF]]
// CHECK: vector.maskedload %{{.*}}[%c0, %{{.*}}, %[[TOP]], %c1], %[[FOUR]], %[[NINF]]
// CHECK: arith.select %[[INSIDE2]], %c5, %c0 : index
// CHECK: vector.maskedload %{{.*}}[%c0, %{{.*}}, %[[ROW2]], %c0]
// CHECK: arith.select %[[INSIDE2]], %c4, %c0 : index
// CHECK: vector.maskedload %{{.*}}[%c0, %{{.*}}, %[[ROW2]], %c1]
// CHECK-NOT: vector.maskedload
// CHECK: %[[STORED:.*]] = vector.constant_mask [3] : vector<4xi1>
// CHECK: vector.maskedstore %{{.*}}[%c0, %{{.*}}, %[[OH]], %c0], %[[STORED]], %{{.*}} : memref<1x2x3x3xf32>
func.func @max_pool(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %ninf : f32
  } : tensor<1x2x5x5xf32> to tensor<1x2x7x7xf32>
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %k = tensor.empty() : tensor<3x3xf32>
  %y = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
         ins(%p, %k : tensor<1x2x7x7xf32>, tensor<3x3xf32>) outs(%f : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// A sum pool over an unpadded input (the sum of an average pool): stride 1, contiguous lanes,
// addf. Per output row, window column 0's vector has its 4 lanes inside the row (a plain load),
// column 1's 3 of 4 (masked).
// CHECK-LABEL: func.func @sum_pool
// CHECK-NOT: linalg.pooling_nchw_sum
// CHECK: %[[THREE:.*]] = vector.constant_mask [3] : vector<4xi1>
// CHECK: vector.load {{.*}} : memref<1x1x4x4xf32>, vector<4xf32>
// CHECK: vector.maskedload %{{.*}}[%c0, %c0, %{{.*}}, %c1], %[[THREE]]
// CHECK: arith.addf {{.*}} : vector<4xf32>
// CHECK-NOT: vector.shuffle
func.func @sum_pool(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x3x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %k = tensor.empty() : tensor<2x2xf32>
  %y = linalg.pooling_nchw_sum {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
         ins(%x, %k : tensor<1x1x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  return %y : tensor<1x1x3x3xf32>
}

// -----

// C3D's pool5 (MaxPool3d(2, stride 2, padding (0, 1, 1))) as torch-mlir imports it: a
// linalg.generic with a pool's maps after a -inf pad of H and W. The same SIMD loops as a 2-D
// pool, per output depth plane and row: the depth taps never leave the input (no pad, 2 planes
// of 2 frames fit 4) and index it directly; window row 0 may lie above the image (its lane count
// is selected to 0 there), row 1 never does (a constant mask). Per (depth, row) tap one masked
// load serves both window columns (CSE), as in @max_pool.
// CHECK-LABEL: func.func @max_pool_3d
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.generic
// CHECK: %[[NINF:.*]] = arith.constant dense<0xFF800000> : vector<8xf32>
// CHECK: scf.parallel (%[[C:.*]]) = (%c0) to (%c2)
// CHECK: scf.for %[[OD:.*]] = %c0 to %c2
// CHECK: scf.for %[[OH:.*]] = %c0 to %c3
// CHECK: %[[D0:.*]] = arith.muli %[[OD]], %c2 : index
// CHECK: %[[H1:.*]] = arith.muli %[[OH]], %c2 : index
// CHECK: %[[INSIDE:.*]] = arith.andi %{{.*}}, %{{.*}} : i1
// CHECK: %[[H0:.*]] = arith.minsi
// CHECK: %[[D1:.*]] = arith.addi %[[D0]], %c1 : index
// CHECK: %[[FIVE:.*]] = vector.constant_mask [5] : vector<8xi1>
// CHECK: %[[N:.*]] = arith.select %[[INSIDE]], %c5, %c0 : index
// CHECK: %[[ABOVE:.*]] = vector.create_mask %[[N]] : vector<8xi1>
// CHECK: vector.maskedload %{{.*}}[%c0, %[[C]], %[[D0]], %[[H0]], %c0], %[[ABOVE]], %[[NINF]] : memref<1x2x4x5x5xf32>
// CHECK: vector.maskedload %{{.*}}[%c0, %[[C]], %[[D0]], %[[H1]], %c0], %[[FIVE]], %[[NINF]]
// CHECK: vector.maskedload %{{.*}}[%c0, %[[C]], %[[D1]], %[[H0]], %c0], %[[ABOVE]], %[[NINF]]
// CHECK: vector.maskedload %{{.*}}[%c0, %[[C]], %[[D1]], %[[H1]], %c0], %[[FIVE]], %[[NINF]]
// CHECK-NOT: vector.maskedload
// CHECK: arith.maximumf {{.*}} : vector<4xf32>
// CHECK: %[[STORED:.*]] = vector.constant_mask [3] : vector<4xi1>
// CHECK: vector.maskedstore %{{.*}}[%c0, %[[C]], %[[OD]], %[[OH]], %c0], %[[STORED]], %{{.*}} : memref<1x2x2x3x3xf32>
#map = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2 * 2 + d5, d3 * 2 + d6, d4 * 2 + d7)>
#map1 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d5, d6, d7)>
#map2 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
func.func @max_pool_3d(%x: tensor<1x2x4x5x5xf32>) -> tensor<1x2x2x3x3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %p = tensor.pad %x low[0, 0, 0, 1, 1] high[0, 0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index, %e: index):
    tensor.yield %ninf : f32
  } : tensor<1x2x4x5x5xf32> to tensor<1x2x4x7x7xf32>
  %e = tensor.empty() : tensor<1x2x2x3x3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x2x2x3x3xf32>) -> tensor<1x2x2x3x3xf32>
  %k = tensor.empty() : tensor<2x2x2xf32>
  %y = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
       ins(%p, %k : tensor<1x2x4x7x7xf32>, tensor<2x2x2xf32>) outs(%f : tensor<1x2x2x3x3xf32>) {
  ^bb0(%in: f32, %w: f32, %out: f32):
    %m = arith.maximumf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<1x2x2x3x3xf32>
  return %y : tensor<1x2x2x3x3xf32>
}

// -----

// AvgPool3d((1, 2, 2)) (C3D's pool1) as torch-mlir imports it: a channels-last
// pooling_ndhwc_sum between a transpose from NCDHW and one back, then the division. The
// transposes are read through (none is made): threads over channels, per output frame and row
// the 16-column rows in vectors of 4 outputs: the first takes plain loads and a plain store; the
// last's window column 1 ends past the row (7 of its 8 lanes inside, masked). The division is one
// elementwise loop over the 64 outputs.
// CHECK-LABEL: func.func @avg_pool_3d
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.pooling_ndhwc_sum
// CHECK: scf.parallel (%[[C:.*]]) = (%c0) to (%c2)
// CHECK: scf.for %[[OD:.*]] = %c0 to %c2
// CHECK: scf.for %[[OH:.*]] = %c0 to %c2
// CHECK: %[[H0:.*]] = arith.muli %[[OH]], %c2 : index
// CHECK: %[[H1:.*]] = arith.addi %[[H0]], %c1 : index
// CHECK: vector.load %{{.*}}[%c0, %[[C]], %[[OD]], %[[H0]], %c0] : memref<1x2x2x4x16xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 2, 4, 6]
// CHECK: vector.load %{{.*}}[%c0, %[[C]], %[[OD]], %[[H0]], %c1]
// CHECK: vector.load %{{.*}}[%c0, %[[C]], %[[OD]], %[[H1]], %c0]
// CHECK: vector.load %{{.*}}[%c0, %[[C]], %[[OD]], %[[H1]], %c1]
// CHECK: vector.store %{{.*}}[%c0, %[[C]], %[[OD]], %[[OH]], %c0] : memref<1x2x2x2x8xf32>, vector<4xf32>
// CHECK: %[[SEVEN:.*]] = vector.constant_mask [7] : vector<8xi1>
// CHECK: vector.load %{{.*}}[%c0, %[[C]], %[[OD]], %[[H0]], %c8]
// CHECK: vector.maskedload %{{.*}}[%c0, %[[C]], %[[OD]], %[[H0]], %c9], %[[SEVEN]]
// CHECK: vector.store %{{.*}}[%c0, %[[C]], %[[OD]], %[[OH]], %c4]
// CHECK: arith.divf {{.*}} : vector<4xf32>
// CHECK-NOT: linalg.
// CHECK: return
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
func.func @avg_pool_3d(%x: tensor<1x2x2x4x16xf32>) -> tensor<1x2x2x2x8xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %four = arith.constant 4.000000e+00 : f32
  %k = tensor.empty() : tensor<1x2x2xf32>
  %e0 = tensor.empty() : tensor<1x2x4x16x2xf32>
  %t = linalg.transpose ins(%x : tensor<1x2x2x4x16xf32>) outs(%e0 : tensor<1x2x4x16x2xf32>) permutation = [0, 2, 3, 4, 1]
  %e1 = tensor.empty() : tensor<1x2x2x8x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x2x8x2xf32>) -> tensor<1x2x2x8x2xf32>
  %s = linalg.pooling_ndhwc_sum {dilations = dense<1> : vector<3xi64>, strides = dense<[1, 2, 2]> : vector<3xi64>}
       ins(%t, %k : tensor<1x2x4x16x2xf32>, tensor<1x2x2xf32>) outs(%f : tensor<1x2x2x8x2xf32>) -> tensor<1x2x2x8x2xf32>
  %e2 = tensor.empty() : tensor<1x2x2x2x8xf32>
  %back = linalg.transpose ins(%s : tensor<1x2x2x8x2xf32>) outs(%e2 : tensor<1x2x2x2x8xf32>) permutation = [0, 4, 1, 2, 3]
  %y = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]}
       ins(%back : tensor<1x2x2x2x8xf32>) outs(%e2 : tensor<1x2x2x2x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %four : f32
    linalg.yield %d : f32
  } -> tensor<1x2x2x2x8xf32>
  return %y : tensor<1x2x2x2x8xf32>
}

// -----

// A global average pool (AdaptiveAvgPool3d(1): a mean over D x H x W) is a vector reduction:
// threads over chunks of rows of about 16384 elements (here one, so the scf.parallel folds away),
// per row of 18 elements (N x C of them) 4 whole vectors added into one accumulator, a masked
// last vector of 2, then vector.reduction into the fill's 0; the division is elementwise.
// CHECK-LABEL: func.func @global_avg_pool
// CHECK-NOT: linalg.
// CHECK: %[[ZEROS:.*]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[ROWS:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1], [2, 3, 4]] : memref<1x3x2x3x3xf32> into memref<3x18xf32>
// CHECK: %[[OUT:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2, 3, 4]] : memref<1x3x1x1x1xf32> into memref<3xf32>
// CHECK: scf.for %[[ROW:.*]] = %c0 to %c3
// CHECK: %[[SUM:.*]] = scf.for {{.*}} = %c0 to %c4 {{.*}} iter_args(%[[ACC:.*]] = %[[ZEROS]]) -> (vector<4xf32>)
// CHECK: %[[X:.*]] = vector.load %[[ROWS]][%[[ROW]], %{{.*}}] : memref<3x18xf32>, vector<4xf32>
// CHECK: arith.addf %[[ACC]], %[[X]] : vector<4xf32>
// CHECK: %[[TAIL:.*]] = vector.constant_mask [2] : vector<4xi1>
// CHECK: %[[LAST:.*]] = vector.maskedload %[[ROWS]][%[[ROW]], %c16], %[[TAIL]], %[[ZEROS]]
// CHECK: %[[ALL:.*]] = arith.addf %[[SUM]], %[[LAST]] : vector<4xf32>
// CHECK: %[[TOTAL:.*]] = vector.reduction <add>, %[[ALL]], %[[ZERO]] : vector<4xf32> into f32
// CHECK: memref.store %[[TOTAL]], %[[OUT]][%[[ROW]]]
// CHECK: arith.divf {{.*}} : vector<4xf32>
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, 0, 0, 0)>
func.func @global_avg_pool(%x: tensor<1x3x2x3x3xf32>) -> tensor<1x3x1x1x1xf32> {
  %zero = arith.constant 0.000000e+00 : f32
  %n = arith.constant 1.800000e+01 : f32
  %e = tensor.empty() : tensor<1x3x1x1x1xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x1x1x1xf32>) -> tensor<1x3x1x1x1xf32>
  %s = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]}
       ins(%x : tensor<1x3x2x3x3xf32>) outs(%f : tensor<1x3x1x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x3x1x1x1xf32>
  %y = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]}
       ins(%s : tensor<1x3x1x1x1xf32>) outs(%e : tensor<1x3x1x1x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %n : f32
    linalg.yield %d : f32
  } -> tensor<1x3x1x1x1xf32>
  return %y : tensor<1x3x1x1x1xf32>
}

// -----

// A global max pool (AdaptiveMaxPool3d(1), imported as a max over the flattened volume): torch-
// mlir's max also yields the argmax, which nothing reads here: the reduction is the vector one,
// maximumf, the lanes past the end -inf, reduced into the fill's -inf.
// CHECK-LABEL: func.func @global_max_pool
// CHECK-NOT: linalg.
// CHECK: %[[NINFS:.*]] = arith.constant dense<0xFF800000> : vector<4xf32>
// CHECK: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: scf.for %[[ROW:.*]] = %c0 to %c3
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[NINFS]]) -> (vector<4xf32>)
// CHECK: arith.maximumf %[[ACC]], %{{.*}} : vector<4xf32>
// CHECK: vector.maskedload {{.*}}, %[[NINFS]]
// CHECK: vector.reduction <maximumf>, %{{.*}}, %[[NINF]] : vector<4xf32> into f32
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @global_max_pool(%x: tensor<1x3x18xf32>) -> tensor<1x3xf32> {
  %c0_i64 = arith.constant 0 : i64
  %ninf = arith.constant 0xFF800000 : f32
  %e0 = tensor.empty() : tensor<1x3xi64>
  %f0 = linalg.fill ins(%c0_i64 : i64) outs(%e0 : tensor<1x3xi64>) -> tensor<1x3xi64>
  %e1 = tensor.empty() : tensor<1x3xf32>
  %f1 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<1x3xf32>) -> tensor<1x3xf32>
  %r:2 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "reduction"]}
         ins(%x : tensor<1x3x18xf32>) outs(%f1, %f0 : tensor<1x3xf32>, tensor<1x3xi64>) {
  ^bb0(%in: f32, %out: f32, %out_0: i64):
    %i = linalg.index 2 : index
    %ii = arith.index_cast %i : index to i64
    %m = arith.maximumf %in, %out : f32
    %c = arith.cmpf ogt, %in, %out : f32
    %s = arith.select %c, %ii, %out_0 : i64
    linalg.yield %m, %s : f32, i64
  } -> (tensor<1x3xf32>, tensor<1x3xi64>)
  return %r#0 : tensor<1x3xf32>
}

// -----

// The same max whose argmax is returned stays a linalg.generic (upstream's loops compute both).
// CHECK-LABEL: func.func @max_and_index
// CHECK: linalg.generic
// CHECK-NOT: vector.reduction
// CHECK: return
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @max_and_index(%x: tensor<1x3x18xf32>) -> (tensor<1x3xf32>, tensor<1x3xi64>) {
  %c0_i64 = arith.constant 0 : i64
  %ninf = arith.constant 0xFF800000 : f32
  %e0 = tensor.empty() : tensor<1x3xi64>
  %f0 = linalg.fill ins(%c0_i64 : i64) outs(%e0 : tensor<1x3xi64>) -> tensor<1x3xi64>
  %e1 = tensor.empty() : tensor<1x3xf32>
  %f1 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<1x3xf32>) -> tensor<1x3xf32>
  %r:2 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "reduction"]}
         ins(%x : tensor<1x3x18xf32>) outs(%f1, %f0 : tensor<1x3xf32>, tensor<1x3xi64>) {
  ^bb0(%in: f32, %out: f32, %out_0: i64):
    %i = linalg.index 2 : index
    %ii = arith.index_cast %i : index to i64
    %m = arith.maximumf %in, %out : f32
    %c = arith.cmpf ogt, %in, %out : f32
    %s = arith.select %c, %ii, %out_0 : i64
    linalg.yield %m, %s : f32, i64
  } -> (tensor<1x3xf32>, tensor<1x3xi64>)
  return %r#0, %r#1 : tensor<1x3xf32>, tensor<1x3xi64>
}

// -----

// A generic without results (how torch-mlir imports a run-time check, here over a reduction's
// iterators) is no reduction to lower and stays.
// CHECK-LABEL: func.func @no_results
// CHECK: linalg.generic
// CHECK-NOT: vector.reduction
// CHECK: return
func.func @no_results(%x: tensor<3x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) {
  ^bb0(%a: f32):
    %ordered = arith.cmpf ord, %a, %a : f32
    cf.assert %ordered, "not NaN"
    linalg.yield
  }
  return
}

// -----

// An elementwise generic (a residual add and its ReLU, fused) over 18 elements: one loop over the
// flattened buffers (threads over chunks of 16384 elements: here one, so the scf.parallel folds
// away), 4 whole vectors of 4 with the body replayed on vectors (the scalar 0.0 broadcast), then
// a masked tail of 2.
// CHECK-LABEL: func.func @add_relu
// CHECK-NOT: linalg.generic
// CHECK: %[[A:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2, 3]] : memref<1x2x3x3xf32> into memref<18xf32>
// CHECK: scf.for
// CHECK: %[[X:.*]] = vector.load %{{.*}} : memref<18xf32>, vector<4xf32>
// CHECK: %[[Y:.*]] = vector.load %{{.*}} : memref<18xf32>, vector<4xf32>
// CHECK: %[[S:.*]] = arith.addf %[[X]], %[[Y]] : vector<4xf32>
// CHECK: arith.cmpf ugt, %[[S]], %{{.*}} : vector<4xf32>
// CHECK: arith.select {{.*}} : vector<4xi1>, vector<4xf32>
// CHECK: vector.store
// CHECK: vector.constant_mask [2] : vector<4xi1>
// CHECK-COUNT-2: vector.maskedload
// CHECK: vector.maskedstore
func.func @add_relu(%x: tensor<1x2x3x3xf32>, %y: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
       ins(%x, %y : tensor<1x2x3x3xf32>, tensor<1x2x3x3xf32>) outs(%e : tensor<1x2x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %c = arith.cmpf ugt, %s, %zero : f32
    %m = arith.select %c, %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x2x3x3xf32>
  return %r : tensor<1x2x3x3xf32>
}

// -----

// A body that reads the output (an accumulation) stays a linalg.generic.
// CHECK-LABEL: func.func @reads_output
// CHECK: linalg.generic
func.func @reads_output(%x: tensor<8xf32>, %acc: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
       ins(%x : tensor<8xf32>) outs(%acc : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// The body of x * y - x / (|y| + 1) clamped to [-2, 2], plus max(x, y), minus 0.5 x, as
// torch-mlir imports and linalg-fuse-elementwise-ops fuses it: every op (mulf, divf, absf,
// addf, subf, the compare-selects of maximum and clamp, the scalar constants broadcast) replayed
// on vectors of 4 over the 105 elements: 26 whole vectors, then a masked tail of 1.
// CHECK-LABEL: func.func @elementwise_ops
// CHECK-NOT: linalg.generic
// CHECK: %[[X:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2, 3]] : memref<1x3x5x7xf32> into memref<105xf32>
// CHECK: %[[Y:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2, 3]] : memref<1x3x5x7xf32> into memref<105xf32>
// CHECK: %[[OUT:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2, 3]] : memref<1x3x5x7xf32> into memref<105xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c26
// CHECK: %[[A:.*]] = vector.load %[[X]]
// CHECK: %[[B:.*]] = vector.load %[[Y]]
// CHECK: arith.mulf %[[A]], %{{.*}} : vector<4xf32>
// CHECK: arith.cmpf ogt, %[[A]], %[[B]] : vector<4xf32>
// CHECK: arith.select {{.*}} : vector<4xi1>, vector<4xf32>
// CHECK: %[[ABS:.*]] = math.absf %[[B]] : vector<4xf32>
// CHECK: %[[DEN:.*]] = arith.addf %[[ABS]], %{{.*}} : vector<4xf32>
// CHECK: arith.divf %[[A]], %[[DEN]] : vector<4xf32>
// CHECK: arith.subf {{.*}} : vector<4xf32>
// CHECK: arith.cmpf ult, {{.*}} : vector<4xf32>
// CHECK: arith.cmpf ugt, {{.*}} : vector<4xf32>
// CHECK: %[[R:.*]] = arith.subf {{.*}} : vector<4xf32>
// CHECK: vector.store %[[R]], %[[OUT]]
// CHECK: %[[TAIL:.*]] = vector.constant_mask [1] : vector<4xi1>
// CHECK: vector.maskedload %[[X]][%c104], %[[TAIL]]
// CHECK: vector.maskedstore %[[OUT]][%c104], %[[TAIL]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @elementwise_ops(%arg0: tensor<1x3x5x7xf32>, %arg1: tensor<1x3x5x7xf32>) -> tensor<1x3x5x7xf32> {
  %cst = arith.constant 1.000000e+00 : f32
  %cst_0 = arith.constant -2.000000e+00 : f32
  %cst_1 = arith.constant 2.000000e+00 : f32
  %cst_2 = arith.constant 5.000000e-01 : f32
  %0 = tensor.empty() : tensor<1x3x5x7xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0, %arg1 : tensor<1x3x5x7xf32>, tensor<1x3x5x7xf32>) outs(%0 : tensor<1x3x5x7xf32>) {
  ^bb0(%in: f32, %in_3: f32, %out: f32):
    %2 = arith.mulf %in, %cst_2 : f32
    %3 = arith.cmpf ogt, %in, %in_3 : f32
    %4 = arith.select %3, %in, %in_3 : f32
    %5 = math.absf %in_3 : f32
    %6 = arith.addf %5, %cst : f32
    %7 = arith.divf %in, %6 : f32
    %8 = arith.mulf %in, %in_3 : f32
    %9 = arith.subf %8, %7 : f32
    %10 = arith.cmpf ult, %9, %cst_0 : f32
    %11 = arith.select %10, %cst_0, %9 : f32
    %12 = arith.cmpf ugt, %11, %cst_1 : f32
    %13 = arith.select %12, %cst_1, %11 : f32
    %14 = arith.addf %13, %4 : f32
    %15 = arith.subf %14, %2 : f32
    linalg.yield %15 : f32
  } -> tensor<1x3x5x7xf32>
  return %1 : tensor<1x3x5x7xf32>
}

// -----

// 2048 elements: 512 whole vectors, no masked tail.
// CHECK-LABEL: func.func @whole_vectors
// CHECK-NOT: linalg.generic
// CHECK: scf.for %{{.*}} = %c0 to %c512
// CHECK: vector.store {{.*}} : memref<2048xf32>, vector<4xf32>
// CHECK-NOT: vector.maskedstore
// CHECK: return
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @whole_vectors(%x: tensor<2x16x8x8xf32>, %y: tensor<2x16x8x8xf32>) -> tensor<2x16x8x8xf32> {
  %e = tensor.empty() : tensor<2x16x8x8xf32>
  %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %y : tensor<2x16x8x8xf32>, tensor<2x16x8x8xf32>) outs(%e : tensor<2x16x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<2x16x8x8xf32>
  return %r : tensor<2x16x8x8xf32>
}

// -----

// 3 elements: the masked tail alone, no loop of whole vectors.
// CHECK-LABEL: func.func @tail_only
// CHECK-NOT: linalg.generic
// CHECK-NOT: vector.store
// CHECK: %[[TAIL:.*]] = vector.constant_mask [3] : vector<4xi1>
// CHECK: vector.maskedstore %{{.*}}[%c0], %[[TAIL]]
// CHECK-NOT: vector.store
// CHECK: return
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @tail_only(%x: tensor<1x1x1x3xf32>, %y: tensor<1x1x1x3xf32>) -> tensor<1x1x1x3xf32> {
  %e = tensor.empty() : tensor<1x1x1x3xf32>
  %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %y : tensor<1x1x1x3xf32>, tensor<1x1x1x3xf32>) outs(%e : tensor<1x1x1x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x1x1x3xf32>
  return %r : tensor<1x1x1x3xf32>
}

// -----

// An operand broadcast along a dimension (x + its channel mean: a non-identity map) is left to
// upstream's loops.
// CHECK-LABEL: func.func @broadcast_operand
// CHECK: linalg.generic
// CHECK-NOT: vector.
// CHECK: return
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
func.func @broadcast_operand(%x: tensor<1x4x5x6xf32>, %mean: tensor<1x1x5x6xf32>) -> tensor<1x4x5x6xf32> {
  %e = tensor.empty() : tensor<1x4x5x6xf32>
  %r = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %mean : tensor<1x4x5x6xf32>, tensor<1x1x5x6xf32>) outs(%e : tensor<1x4x5x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x4x5x6xf32>
  return %r : tensor<1x4x5x6xf32>
}

// -----

// A body op with no vector replay (math.tanh) leaves the generic to upstream too.
// CHECK-LABEL: func.func @tanh_body
// CHECK: linalg.generic
// CHECK: math.tanh
// CHECK-NOT: vector.
// CHECK: return
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @tanh_body(%x: tensor<1x4x5x6xf32>, %y: tensor<1x4x5x6xf32>) -> tensor<1x4x5x6xf32> {
  %e = tensor.empty() : tensor<1x4x5x6xf32>
  %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x, %y : tensor<1x4x5x6xf32>, tensor<1x4x5x6xf32>) outs(%e : tensor<1x4x5x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %t = math.tanh %a : f32
    %m = arith.mulf %t, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x4x5x6xf32>
  return %r : tensor<1x4x5x6xf32>
}

// -----

// Three matmuls on one zero fill (torch-mlir shares it between linear layers of one width), an
// elementwise op writing the fill's empty tensor in between: each matmul still becomes its own
// SIMD loop, the fill the accumulators' start.
// CHECK-LABEL: func.func @shared_fill
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.fill
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-2: vector.fma
// CHECK: arith.cmpf ugt
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-2: vector.fma
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-2: vector.fma
// CHECK-NOT: linalg.
// CHECK: return
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @shared_fill(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w0 = arith.constant dense<0.5> : tensor<8x8xf32>
  %w1 = arith.constant dense<0.25> : tensor<8x8xf32>
  %w2 = arith.constant dense<0.125> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<1x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8xf32>) -> tensor<1x8xf32>
  %a = linalg.matmul ins(%x, %w0 : tensor<1x8xf32>, tensor<8x8xf32>) outs(%f : tensor<1x8xf32>) -> tensor<1x8xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf ugt, %in, %zero : f32
    %s = arith.select %c, %in, %zero : f32
    linalg.yield %s : f32
  } -> tensor<1x8xf32>
  %b = linalg.matmul ins(%r, %w1 : tensor<1x8xf32>, tensor<8x8xf32>) outs(%f : tensor<1x8xf32>) -> tensor<1x8xf32>
  %c = linalg.matmul ins(%r, %w2 : tensor<1x8xf32>, tensor<8x8xf32>) outs(%f : tensor<1x8xf32>) -> tensor<1x8xf32>
  %y = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%b, %c : tensor<1x8xf32>, tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%p: f32, %q: f32, %out: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

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
// threads over channels, then per vector of 4 output columns (here one: the row's first vector,
// emitted apart), per output row and window tap one masked load of 8 unpadded input columns
// starting inside the row (-inf in the lanes outside; a row above or below the image loads no
// lane: its count of lanes is selected to 0) and a shuffle of its even lanes, folded with
// maximumf; one masked store of the 3 output columns. Window column 0 starts at input column -1:
// it loads from column 0 (lanes 0..4 inside the 5-column image) and shifts the lanes right by
// one, -inf in lane 0; window column 1 is that same load unshifted (CSE keeps one), column 2
// loads from column 1 (lanes 0..3).
// CHECK-LABEL: func.func @max_pool
// CHECK-NOT: tensor.pad
// CHECK-NOT: linalg.pooling_nchw_max
// CHECK: %[[NINF:.*]] = arith.constant dense<0xFF800000> : vector<8xf32>
// CHECK: scf.parallel
// CHECK: %[[STORED:.*]] = vector.constant_mask [3] : vector<4xi1>
// CHECK: scf.for
// CHECK: %[[ROW:.*]] = arith.andi %{{.*}}, %{{.*}} : i1
// CHECK: %[[N0:.*]] = arith.select %[[ROW]], %c5, %c0 : index
// CHECK: %[[M0:.*]] = vector.create_mask %[[N0]] : vector<8xi1>
// CHECK: %[[L0:.*]] = vector.maskedload %{{.*}}[%c0, %{{.*}}, %{{.*}}, %c0], %[[M0]], %[[NINF]] : memref<1x2x5x5xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
// CHECK: %[[SHIFTED:.*]] = vector.shuffle %[[L0]], %[[NINF]] [8, 0, 1, 2, 3, 4, 5, 6]
// CHECK: vector.shuffle %[[SHIFTED]], %{{.*}} [0, 2, 4, 6]
// CHECK: vector.shuffle %[[L0]], %{{.*}} [0, 2, 4, 6]
// CHECK: %[[N2:.*]] = arith.select %[[ROW]], %c4, %c0 : index
// CHECK: %[[M2:.*]] = vector.create_mask %[[N2]] : vector<8xi1>
// CHECK: vector.maskedload %{{.*}}[%c0, %{{.*}}, %{{.*}}, %c1], %[[M2]], %[[NINF]]
// CHECK-COUNT-4: vector.maskedload
// CHECK-NOT: vector.maskedload
// CHECK: vector.maskedstore %{{.*}}, %[[STORED]], %{{.*}} : memref<1x2x3x3xf32>
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

// A sum pool over an unpadded input (the sum of an average pool): stride 1, contiguous lanes, addf.
// CHECK-LABEL: func.func @sum_pool
// CHECK-NOT: linalg.pooling_nchw_sum
// CHECK-COUNT-4: vector.maskedload {{.*}} into vector<4xf32>
// CHECK-NOT: vector.shuffle
// CHECK: arith.addf {{.*}} : vector<4xf32>
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

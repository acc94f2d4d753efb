// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(dense-vectorize{width=4 vectors=2 chunk=8}, canonicalize, cse)' | filecheck %s

// A linear layer as torch-mlir imports it: the constant weight is transposed, then multiplied.
// The transpose is folded at compile time; the matmul becomes SIMD loops over 16 outputs:
// 2 parallel chunks of 8, each in register blocks of 2 vectors of 4, K steps broadcasting one
// input value and multiply-adding one row segment of the K x N weights; the zero fill is the
// accumulators' start.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<3x16xf32>
// CHECK: scf.parallel (%[[CHUNK:.*]]) = (%c0) to (%c2)
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>)
// CHECK: vector.broadcast
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

// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(gpu-matmul{max-bytes=1024})' | filecheck %s

// A linear layer's 10 x 64 weights (2560 bytes) read through their transpose, cut into pieces of
// at most 1024 bytes: 4 rows of 64 (a multiple of the 4 lanes), so pieces of 4, 4 and 2 rows,
// each its own constant and threads; each thread's 4 sums stay in a vector over the K loop.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<2x10xf32>
// CHECK: arith.constant dense<{{.*}}> : tensor<4x64xf32>
// CHECK: arith.constant dense<{{.*}}> : tensor<4x64xf32>
// CHECK: arith.constant dense<{{.*}}> : tensor<2x64xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>)
// CHECK: vector.fma
// CHECK: scf.for
// CHECK: scf.for
// CHECK-NOT: scf.for
// the last piece's threads store their lanes inside its 2 rows only
// CHECK: scf.if
// CHECK: memref.store {{.*}}, %[[OUT]]
// CHECK: bufferization.to_tensor %[[OUT]]
func.func @linear(%x: tensor<2x64xf32>) -> tensor<2x10xf32> {
  %w = arith.constant dense<0.5> : tensor<10x64xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x10xf32>
  %t = linalg.transpose ins(%w : tensor<10x64xf32>) outs(%e : tensor<64x10xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<2x10xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<2x10xf32>) -> tensor<2x10xf32>
  %y = linalg.matmul ins(%x, %t : tensor<2x64xf32>, tensor<64x10xf32>) outs(%f : tensor<2x10xf32>) -> tensor<2x10xf32>
  return %y : tensor<2x10xf32>
}

// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=4 units=2}, canonicalize, cse)' | filecheck %s

// A pointwise conv whose work units each take a column chunk of its one output row (9x9 = 81
// pixels: chunks of 7 vectors of 4 lanes, 28 + 28 + 25, the last vector of the last chunk one
// lane) copies the chunk of every input channel into a buffer of its own before its filters run
// (chunk_input): in place the channel rows lie a whole plane apart and at planes like 16x16 or
// 32x32 share a few L1 sets. With units=2 each chunk's unit runs all 32 filters, 48 kept kernels
// over 2 channels (the odd filters keep only channel 0, so no filter block keeps the same
// columns: not kernel_groups): each copied vector is read ~24 times, more than the CHUNK_READS
// (16) that pay for the copy. The copy of the partial last chunk loads its last vector masked
// (zeros past 81).
// CHECK-LABEL: func.func @chunks
// CHECK: scf.parallel
// CHECK: %[[OWN:.*]] = memref.alloca() {alignment = 64 : i64} : memref<2x28xf32>
// CHECK: scf.if
// CHECK: scf.for %[[C:.*]] = %c0 to %c2
// CHECK-COUNT-7: vector.store %{{.*}}, %[[OWN]][%[[C]], %{{.*}}] : memref<2x28xf32>, vector<4xf32>
// CHECK: scf.for
// CHECK: scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-7: vector.load %[[OWN]]
// CHECK: scf.if
// CHECK: %[[LANE:.*]] = vector.constant_mask [1] : vector<4xi1>
// CHECK: scf.for %[[C2:.*]] = %c0 to %c2
// CHECK-COUNT-6: vector.load
// CHECK: %[[LAST:.*]] = vector.maskedload %{{.*}}[%c0, %[[C2]], %c0, %c80], %[[LANE]]
// CHECK-NEXT: vector.store %[[LAST]], %[[OWN]][%[[C2]], %c24]
// CHECK: vector.load %[[OWN]]
func.func @chunks(%x: tensor<1x2x9x9xf32>) -> tensor<1x32x9x9xf32> {
  %w = arith.constant dense<[0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75]> : tensor<48xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1], [0, 0], [0, -1]]> : tensor<32x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x9x9xf32>, tensor<48xf32>) -> tensor<1x32x9x9xf32>
  return %0 : tensor<1x32x9x9xf32>
}

// -----

// 4 filters (7 kept kernels over 2 channels) read each vector of a chunk ~3.5 times: no copy,
// the blocks read the input in place.
// CHECK-LABEL: func.func @few
// CHECK-NOT: memref.alloca
// CHECK: vector.load %{{.*}} : memref<1x2x1x64xf32>, vector<4xf32>
// CHECK-NOT: memref.alloca
func.func @few(%x: tensor<1x2x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %w = arith.constant dense<[0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, -1], [0, 0], [0, 0], [0, 0]]> : tensor<4x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x8x8xf32>, tensor<7xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

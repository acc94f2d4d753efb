// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-filter-kernel-reorder, pconv-pack-fkw, pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s

// Register blocks that tile the output exactly, at AVX2's description (8 lanes, 10 accumulators:
// what the host backend passes on such a CPU). The 16x16 outputs are rows of two whole vectors,
// so the blocks are stored straight into the result buffer: whole-vector stores only (no masked
// store into it), no padded temporary and no copy out. A padded conv copies its input into the
// flat layout (64-byte aligned; zeroing its borders may mask stores into that copy).
// Dense (blocks of 4 filters) and pattern-pruned, both padded.
// CHECK-LABEL: func.func @padded_dense
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x6x1x432xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x8x16x16xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: vector.maskedstore
// CHECK: vector.load %[[FLAT]]
// CHECK: vector.store %{{.*}}, %[[OUT]]
// CHECK-NOT: vector.maskedstore
// CHECK-NOT: memref.copy
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @padded_dense(%x: tensor<1x6x16x16xf32>, %b: tensor<8xf32>) -> tensor<1x8x16x16xf32> {
  %w = arith.constant dense<0.5> : tensor<432xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<true> : tensor<1x3x3xi1>, kernel_pattern = dense<0> : tensor<8x6xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x6x16x16xf32>, tensor<432xf32>, tensor<8xf32>) -> tensor<1x8x16x16xf32>
  return %0 : tensor<1x8x16x16xf32>
}

// -----

// CHECK-LABEL: func.func @padded_sparse
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x6x1x432xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x8x16x16xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: vector.maskedstore
// CHECK: vector.load %[[FLAT]]
// CHECK: vector.store %{{.*}}, %[[OUT]]
// CHECK-NOT: vector.maskedstore
// CHECK-NOT: memref.copy
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @padded_sparse(%x: tensor<1x6x16x16xf32>) -> tensor<1x8x16x16xf32> {
  %w = arith.constant dense<0.5> : tensor<124xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]], [[true, false, false], [false, true, true], [false, true, false]]]> : tensor<2x3x3xi1>, kernel_pattern = dense<[[0, 1, -1, 0, 1, -1], [1, -1, 0, 0, -1, 1], [-1, 0, 1, -1, 0, 0], [0, 0, -1, 1, -1, -1], [1, -1, -1, 0, 0, 1], [-1, 1, 0, -1, 1, 0], [0, -1, 1, 1, -1, 0], [1, 0, -1, -1, 0, 1]]> : tensor<8x6xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x6x16x16xf32>, tensor<124xf32>) -> tensor<1x8x16x16xf32>
  return %0 : tensor<1x8x16x16xf32>
}

// -----

// Unpadded: the input is read in place, no flat copy.
// CHECK-LABEL: func.func @unpadded_sparse
// CHECK: %[[X:.*]] = bufferization.to_buffer %arg0 read_only : tensor<1x6x18x18xf32> to memref<1x6x18x18xf32>
// CHECK-NEXT: %[[OUT:.*]] = memref.alloc() : memref<1x8x16x16xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: vector.maskedstore
// CHECK: vector.load %[[X]]
// CHECK: vector.store %{{.*}}, %[[OUT]]
// CHECK-NOT: vector.maskedstore
// CHECK-NOT: memref.copy
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @unpadded_sparse(%x: tensor<1x6x18x18xf32>) -> tensor<1x8x16x16xf32> {
  %w = arith.constant dense<0.5> : tensor<124xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]], [[true, false, false], [false, true, true], [false, true, false]]]> : tensor<2x3x3xi1>, kernel_pattern = dense<[[0, 1, -1, 0, 1, -1], [1, -1, 0, 0, -1, 1], [-1, 0, 1, -1, 0, 0], [0, 0, -1, 1, -1, -1], [1, -1, -1, 0, 0, 1], [-1, 1, 0, -1, 1, 0], [0, -1, 1, 1, -1, 0], [1, 0, -1, -1, 0, 1]]> : tensor<8x6xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x6x18x18xf32>, tensor<124xf32>) -> tensor<1x8x16x16xf32>
  return %0 : tensor<1x8x16x16xf32>
}

// -----

// A dense 1x1 conv over one row of 256 pixels (32 vectors): read in place, stored whole.
// CHECK-LABEL: func.func @pointwise_dense
// CHECK: %[[ROW:.*]] = tensor.expand_shape {{.*}} output_shape [1, 6, 1, 256]
// CHECK: %[[X:.*]] = bufferization.to_buffer %[[ROW]] read_only
// CHECK-NEXT: %[[OUT:.*]] = memref.alloc() : memref<1x8x1x256xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: vector.maskedstore
// CHECK: vector.load %[[X]]
// CHECK: vector.store %{{.*}}, %[[OUT]]
// CHECK-NOT: vector.maskedstore
// CHECK-NOT: memref.copy
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @pointwise_dense(%x: tensor<1x6x16x16xf32>) -> tensor<1x8x16x16xf32> {
  %w = arith.constant dense<0.5> : tensor<48xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<0> : tensor<8x6xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x6x16x16xf32>, tensor<48xf32>) -> tensor<1x8x16x16xf32>
  return %0 : tensor<1x8x16x16xf32>
}

// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-vectorize{width=16 accumulators=26}, canonicalize, cse)' | filecheck %s

// A 1x1 stride-1 unpadded conv over 28x28 is computed over one row of 784 pixels: the input and
// the result are reshaped (views once bufferized), the output vectors run across the row ends,
// and 7 vectors of 16 lanes tile the 784 pixels exactly, so the input is read in place (no
// flat-layout copy) and the result is the blocks' buffer (no copy out).
// CHECK-LABEL: func.func @pointwise
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0], [1], [2, 3]] : tensor<1x2x28x28xf32> into tensor<1x2x784xf32>
// CHECK: %[[ROW:.*]] = tensor.expand_shape %[[ROWS]] {{.*}} output_shape [1, 2, 1, 784]
// CHECK: %[[X:.*]] = bufferization.to_buffer %[[ROW]] read_only : tensor<1x2x1x784xf32> to memref<1x2x1x784xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-7: vector.load %[[X]]
// CHECK-NOT: memref.copy
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %{{.*}} : tensor<1x2x1x784xf32> into tensor<1x2x784xf32>
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[OUT]] {{.*}} output_shape [1, 2, 28, 28]
// CHECK: return %[[Y]]
func.func @pointwise(%x: tensor<1x2x28x28xf32>) -> tensor<1x2x28x28xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, -1], [0, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x28x28xf32>, tensor<3xf32>) -> tensor<1x2x28x28xf32>
  return %0 : tensor<1x2x28x28xf32>
}

// -----

// Stride 2 (a ResNet shortcut): the rows and columns it reads are copied first (decimate: every
// second input row, its even columns picked by one shuffle of two loads, stored masked to the 14
// output columns), then the stride-1 conv over the copy is the pointwise conv over 196 pixels.
// CHECK-LABEL: func.func @strided
// CHECK: %[[X:.*]] = bufferization.to_buffer %arg0 read_only : tensor<1x2x28x28xf32>
// CHECK: %[[COPY:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x14x14xf32>
// CHECK: scf.parallel (%[[CH:.*]]) =
// CHECK: scf.for %[[ROW:.*]] = %c0 to %c14
// CHECK: %[[IN:.*]] = arith.muli %[[ROW]], %c2
// CHECK: %[[LOW:.*]] = vector.load %[[X]][%c0, %[[CH]], %[[IN]], %c0]
// CHECK: %[[HIGH:.*]] = vector.maskedload %[[X]][%c0, %[[CH]], %[[IN]], %c16]
// CHECK: %[[EVEN:.*]] = vector.shuffle %[[LOW]], %[[HIGH]] [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
// CHECK: vector.maskedstore %[[COPY]][%c0, %[[CH]], %[[ROW]], %c0], %{{.*}}, %[[EVEN]]
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[COPY]] restrict writable
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %[[T]] {{\[\[}}0], [1], [2, 3]] : tensor<1x2x14x14xf32> into tensor<1x2x196xf32>
// CHECK: tensor.expand_shape %[[ROWS]] {{.*}} output_shape [1, 2, 1, 196]
// CHECK: vector.fma
// CHECK: tensor.expand_shape %{{.*}} output_shape [1, 2, 14, 14]
func.func @strided(%x: tensor<1x2x28x28xf32>) -> tensor<1x2x14x14xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, -1], [0, 0]]> : tensor<2x2xi8>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x28x28xf32>, tensor<3xf32>) -> tensor<1x2x14x14xf32>
  return %0 : tensor<1x2x14x14xf32>
}

// -----

// A batch of 2 at 14x14: each image's channels become rows of 196 pixels (output_shape
// [2, 2, 1, 196]), 13 vectors of 16 with the last one partial: the input is copied into the
// flat layout (a pitch of 208 floats), and the last vector's store into the result is masked.
// CHECK-LABEL: func.func @batch_of_two
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0], [1], [2, 3]] : tensor<2x2x14x14xf32> into tensor<2x2x196xf32>
// CHECK: tensor.expand_shape %[[ROWS]] {{.*}} output_shape [2, 2, 1, 196]
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x2x1x208xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<2x2x1x196xf32>
// CHECK: scf.for {{.*}} iter_args
// CHECK-COUNT-13: vector.load %[[FLAT]]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// CHECK-COUNT-12: vector.store %{{.*}}, %[[OUT]]
// CHECK-NEXT: vector.maskedstore %[[OUT]]
// CHECK: %[[Y:.*]] = tensor.collapse_shape %{{.*}} : tensor<2x2x1x196xf32> into tensor<2x2x196xf32>
// CHECK: %[[Z:.*]] = tensor.expand_shape %[[Y]] {{.*}} output_shape [2, 2, 14, 14]
// CHECK: return %[[Z]]
func.func @batch_of_two(%x: tensor<2x2x14x14xf32>) -> tensor<2x2x14x14xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, -1], [0, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<2x2x14x14xf32>, tensor<3xf32>) -> tensor<2x2x14x14xf32>
  return %0 : tensor<2x2x14x14xf32>
}

// -----

// A batch of 3 at 5x5: rows of 25 pixels, one whole vector and one of 9 lanes.
// CHECK-LABEL: func.func @partial_block
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0], [1], [2, 3]] : tensor<3x2x5x5xf32> into tensor<3x2x25xf32>
// CHECK: tensor.expand_shape %[[ROWS]] {{.*}} output_shape [3, 2, 1, 25]
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<3x2x1x32xf32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<3x2x1x25xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-2: vector.load %[[FLAT]]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// CHECK: vector.store %{{.*}}, %[[OUT]]
// CHECK-NEXT: vector.maskedstore %[[OUT]]
// CHECK: %[[Y:.*]] = tensor.collapse_shape %{{.*}} : tensor<3x2x1x25xf32> into tensor<3x2x25xf32>
// CHECK: %[[Z:.*]] = tensor.expand_shape %[[Y]] {{.*}} output_shape [3, 2, 5, 5]
// CHECK: return %[[Z]]
func.func @partial_block(%x: tensor<3x2x5x5xf32>) -> tensor<3x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, -1], [0, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<3x2x5x5xf32>, tensor<3xf32>) -> tensor<3x2x5x5xf32>
  return %0 : tensor<3x2x5x5xf32>
}

// -----

// Stride 2 along the rows only, channel 1 read by no kept kernel: the copy takes the two read
// channels (0 and 2, from a table) and every second row whole; the 80 pixels then tile 5 vectors
// exactly, so the pointwise loops read the copy itself (no second, flat-layout copy).
// CHECK-LABEL: func.func @rows_only
// CHECK-DAG: %[[READ:.*]] = arith.constant dense<[0, 2]> : tensor<2xi32>
// CHECK: %[[X:.*]] = bufferization.to_buffer %arg0 read_only : tensor<1x3x9x16xf32>
// CHECK: %[[COPY:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x3x5x16xf32>
// CHECK: scf.parallel (%[[K:.*]]) = (%c0) to (%c2)
// CHECK: tensor.extract %[[READ]][%[[K]]]
// CHECK: %[[CH:.*]] = arith.index_cast
// CHECK: scf.for %[[ROW:.*]] = %c0 to %c5
// CHECK: %[[IN:.*]] = arith.muli %[[ROW]], %c2
// CHECK: %[[V:.*]] = vector.load %[[X]][%c0, %[[CH]], %[[IN]], %c0]
// CHECK: vector.store %[[V]], %[[COPY]][%c0, %[[CH]], %[[ROW]], %c0]
// CHECK: bufferization.to_tensor %[[COPY]]
// CHECK: output_shape [1, 3, 1, 80]
// CHECK-NOT: memref.alloc() {alignment = 64
// CHECK: vector.fma
func.func @rows_only(%x: tensor<1x3x9x16xf32>) -> tensor<1x2x5x16xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<[[0, -1, 0], [0, -1, -1]]> : tensor<2x3xi8>, strides = array<i64: 2, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x9x16xf32>, tensor<3xf32>) -> tensor<1x2x5x16xf32>
  return %0 : tensor<1x2x5x16xf32>
}

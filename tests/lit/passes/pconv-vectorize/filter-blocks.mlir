// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-filter-kernel-reorder, pconv-pack-fkw, pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s

// Filter-level load sharing in dense layers (every kernel kept, one pattern, FKW-packed) at
// AVX2's description (8 lanes, 10 accumulators): blocks of 4 filters (2 when the filters divide
// only by 2) run together, each input vector loaded once and multiplied into every filter of
// the block (a broadcast weight each), so a load feeds 4 (or 2) FMAs, not 1.
// 3x3, stride 1, 8 filters: blocks of 4 filters x 2 rows x 1 vector (8 accumulators). The
// block's 36 weights of a channel do not fit in registers beside them (weights_fit), so the taps
// run one by one: a tap's 4 weights broadcast, then each of the block's 2 input vectors for that
// tap loaded once and fed to the 4 filters (per channel 9 x 2 loads for 72 FMAs).
// CHECK-LABEL: func.func @dense_3x3
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x216xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-4: vector.broadcast
// CHECK-NOT: vector.broadcast
// CHECK: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NOT: vector.broadcast
// CHECK: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-COUNT-3: vector.fma
// CHECK-COUNT-4: vector.broadcast
// CHECK-COUNT-16: vector.load %[[FLAT]]
// CHECK-NOT: vector.load
// CHECK: scf.yield
func.func @dense_3x3(%x: tensor<1x2x11x13xf32>) -> tensor<1x8x11x13xf32> {
  %w = arith.constant dense<[0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]> : tensor<144xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x3x3xi1>, kernel_pattern = dense<0> : tensor<8x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x11x13xf32>, tensor<144xf32>) -> tensor<1x8x11x13xf32>
  return %0 : tensor<1x8x11x13xf32>
}

// -----

// 3x3, stride 2, 6 filters: blocks of 2 filters x 3 rows x 1 vector, run tap by tap (18
// weights); each load feeds both filters. Of the blocks as useful as 4 rows (8 rows computed for
// 6), the one of fewest accumulators: taps run one by one share no loads between rows.
// CHECK-LABEL: func.func @dense_3x3_strided
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x4x64xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NOT: vector.fma %{{.*}}, %[[V]],
// CHECK: scf.yield
func.func @dense_3x3_strided(%x: tensor<1x2x11x13xf32>) -> tensor<1x6x6x7xf32> {
  %w = arith.constant dense<[0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5]> : tensor<108xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x3x3xi1>, kernel_pattern = dense<0> : tensor<6x2xi8>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x11x13xf32>, tensor<108xf32>) -> tensor<1x6x6x7xf32>
  return %0 : tensor<1x6x6x7xf32>
}

// -----

// 1x1, stride 1, 8 filters, over one row of 143 pixels: blocks of 4 filters x 2 vectors; per
// input channel 2 loads, each feeding the block's 4 filters.
// CHECK-LABEL: func.func @dense_pointwise
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x144xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: scf.yield
func.func @dense_pointwise(%x: tensor<1x2x11x13xf32>) -> tensor<1x8x11x13xf32> {
  %w = arith.constant dense<[0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]> : tensor<16xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<0> : tensor<8x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x11x13xf32>, tensor<16xf32>) -> tensor<1x8x11x13xf32>
  return %0 : tensor<1x8x11x13xf32>
}

// -----

// 1x1, stride 2, 12 filters: blocks of 4 filters x 2 rows.
// CHECK-LABEL: func.func @dense_pointwise_strided
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x48xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK: %[[V:.*]] = vector.load %[[FLAT]]
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: scf.yield
func.func @dense_pointwise_strided(%x: tensor<1x2x11x13xf32>) -> tensor<1x12x6x7xf32> {
  %w = arith.constant dense<[0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]> : tensor<24xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x1x1xi1>, kernel_pattern = dense<0> : tensor<12x2xi8>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x11x13xf32>, tensor<24xf32>) -> tensor<1x12x6x7xf32>
  return %0 : tensor<1x12x6x7xf32>
}

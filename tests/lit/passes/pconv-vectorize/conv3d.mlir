// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-lower, pconv-vectorize)' | filecheck %s --check-prefix=LOWERED

// A KGS conv3d (group_shape 2x1) at AVX2's description: filters 0-1 keep positions 0 and 13 of
// input channel 0, every other kernel (the group of filters 2-3, channel 1) is removed.
// The input is staged per depth plane (4 planes + 2 of depth padding, rows of 8); only channel 0,
// the one a kept kernel reads, is copied. Filter blocks of 2: block 0 has 2 columns, block 1 none
// (begin = [0, 2, 2]: a removed group emits no column step); the columns' offsets are 0 and
// 73 = depth plane 1 (64) + row 1 (8) + column 1. One column step loads each input vector once
// and feeds both filters of the block (one broadcast weight each): 6 rows x 1 vector x 2 filters.
// CHECK-LABEL: func.func @kgs
// CHECK-DAG: arith.constant dense<[0, 73]> : tensor<2xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 2]> : tensor<3xi32>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x2x6x1x64xf32>
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c4)
// CHECK: memref.collapse_shape %{{.*}} {{\[}}[0, 1, 2, 3, 4]] : memref<1x2x6x1x64xf32> into memref<768xf32>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-2: vector.broadcast
// CHECK: %[[V:.*]] = vector.load %[[FLAT:.*]][%{{.*}}] : memref<768xf32>, vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: vector.fma %{{.*}}, %[[V]], %{{.*}} : vector<8xf32>
// CHECK-COUNT-5: vector.load %[[FLAT]]
// CHECK: scf.yield
// CHECK: arith.maximumf
// CHECK-NOT: pconv.conv3d
// LOWERED-LABEL: func.func @kgs
// LOWERED-NOT: pconv.conv3d
// LOWERED: math.fma
func.func @kgs(%arg0: tensor<1x2x4x6x6xf32>) -> tensor<1x4x4x6x6xf32> {
  %cst = arith.constant dense<[5.000000e-01, 1.500000e+00, -1.000000e+00, 2.000000e+00]> : tensor<4xf32>
  %0 = "pconv.conv3d"(%arg0, %cst) {activation = "relu", dilations = array<i64: 1, 1, 1>, group_shape = array<i64: 2, 1>, groups = 1 : i64, kernel_pattern = dense<[[0, -1], [0, -1], [-1, -1], [-1, -1]]> : tensor<4x2xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1, 1, 1>, patterns = dense<[[[[true, false, false], [false, false, false], [false, false, false]], [[false, false, false], [false, true, false], [false, false, false]], [[false, false, false], [false, false, false], [false, false, false]]]]> : tensor<1x3x3x3xi1>, strides = array<i64: 1, 1, 1>} : (tensor<1x2x4x6x6xf32>, tensor<4xf32>) -> tensor<1x4x4x6x6xf32>
  return %0 : tensor<1x4x4x6x6xf32>
}

// A 1x1x1 stride-1 conv3d is the 2-D pointwise GEMM over D*H*W pixels: it becomes a pconv.conv2d
// over N x C x 1 x DHW (views of the input and output), computed by the 2-D loops (filter blocks).
// CHECK-LABEL: func.func @pointwise3d
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3, 4]] : tensor<1x2x2x3x4xf32> into tensor<1x2x24xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3]] output_shape [1, 2, 1, 24]
// CHECK: vector.fma
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3, 4]] output_shape [1, 4, 2, 3, 4]
func.func @pointwise3d(%x: tensor<1x2x2x3x4xf32>) -> tensor<1x4x2x3x4xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x1x1x1xi1>, kernel_pattern = dense<0> : tensor<4x2xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x2x3x4xf32>, tensor<8xf32>) -> tensor<1x4x2x3x4xf32>
  return %0 : tensor<1x4x2x3x4xf32>
}

// A kernel group of 4 filters (group_shape 4x1) at AVX2's description (16 registers): one filter
// block of all 4, 3 rows x 1 vector each, 12 accumulators (group_block: 4 x 3 takes fewer loads
// per FMA than 2 x 6). Its input vectors are the smaller side, so a column step loads the 3 of
// them first and holds them while each filter's weight is broadcast once and feeds all 3
// (group_registers: 12 + 3 + 1 registers).
// CHECK-LABEL: func.func @group4
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-3: vector.load %{{.*}} : memref<768xf32>, vector<8xf32>
// CHECK-NOT: vector.load
// CHECK: %[[W0:.*]] = vector.broadcast
// CHECK-NEXT: vector.fma %[[W0]]
// CHECK-NEXT: vector.fma %[[W0]]
// CHECK-NEXT: vector.fma %[[W0]]
// CHECK-NOT: vector.load
// CHECK-COUNT-3: vector.broadcast
// CHECK-NOT: vector.load
// CHECK: scf.yield
func.func @group4(%arg0: tensor<1x2x4x6x6xf32>) -> tensor<1x4x4x6x6xf32> {
  %cst = arith.constant dense<[5.000000e-01, 1.500000e+00, -1.000000e+00, 2.000000e+00, 2.5, 3.0, 3.5, 4.0]> : tensor<8xf32>
  %0 = "pconv.conv3d"(%arg0, %cst) {activation = "none", dilations = array<i64: 1, 1, 1>, group_shape = array<i64: 4, 1>, groups = 1 : i64, kernel_pattern = dense<[[0, -1], [0, -1], [0, -1], [0, -1]]> : tensor<4x2xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1, 1, 1>, patterns = dense<[[[[true, false, false], [false, false, false], [false, false, false]], [[false, false, false], [false, true, false], [false, false, false]], [[false, false, false], [false, false, false], [false, false, false]]]]> : tensor<1x3x3x3xi1>, strides = array<i64: 1, 1, 1>} : (tensor<1x2x4x6x6xf32>, tensor<8xf32>) -> tensor<1x4x4x6x6xf32>
  return %0 : tensor<1x4x4x6x6xf32>
}

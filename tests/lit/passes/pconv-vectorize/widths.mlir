// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=1}, canonicalize, cse)' | filecheck %s --check-prefix=ONE
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4}, canonicalize, cse)' | filecheck %s --check-prefix=FOUR
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=16}, canonicalize, cse)' | filecheck %s --check-prefix=SIXTEEN

// The target's lanes (`width`) are the conv's vectors, whatever their count: 1 (scalar code in
// vector form), 4 and 16 lanes over 13 x 17 outputs (17 columns: a partial last vector at 4 and
// 16 lanes; lane_width keeps 16, as 8 lanes would fill the rows only 1.33x better). No other
// vector width appears.
// ONE-LABEL: func.func @odd_plane
// ONE-NOT: vector<{{(2|4|8|16)}}xf32>
// ONE: vector.fma {{.*}} : vector<1xf32>
// ONE-NOT: vector<{{(2|4|8|16)}}xf32>
// ONE: return
// FOUR-LABEL: func.func @odd_plane
// FOUR-NOT: vector<{{(1|2|8|16)}}xf32>
// FOUR: vector.fma {{.*}} : vector<4xf32>
// FOUR-NOT: vector<{{(1|2|8|16)}}xf32>
// FOUR: return
// SIXTEEN-LABEL: func.func @odd_plane
// SIXTEEN-NOT: vector<{{(1|2|4|8)}}xf32>
// SIXTEEN: vector.fma {{.*}} : vector<16xf32>
// SIXTEEN-NOT: vector<{{(1|2|4|8)}}xf32>
// SIXTEEN: return
func.func @odd_plane(%x: tensor<1x2x13x17xf32>, %b: tensor<2xf32>) -> tensor<1x2x13x17xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]], [[true, false, false], [false, true, true], [false, true, false]]]> : tensor<2x3x3xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x13x17xf32>, tensor<12xf32>, tensor<2xf32>) -> tensor<1x2x13x17xf32>
  return %0 : tensor<1x2x13x17xf32>
}

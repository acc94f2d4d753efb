// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(pconv-raise)' | filecheck %s

// As Torch-MLIR imports F.pad(x, (1, 0, 0, 1, 1, 1)), nn.Conv3d(2, 4, 2, stride=(1, 2, 1),
// dilation=(2, 1, 1)), ReLU with KGS weights: filters 0-1 keep one 2x2x2 mask on both input
// channels, filters 2-3 another. The pad, bias and ReLU fold into one pconv.conv3d; its kernel
// groups are recovered as 2x2 (4x1 is as large but its filters do not share a mask).
// CHECK-LABEL: func.func @kgs
// CHECK: %[[BIAS:.*]] = arith.constant dense<[-1.625000e+00, 1.250000e+00, 1.375000e+00, 1.125000e+00]> : tensor<4xf32>
// CHECK: %[[PACKED:.*]] = arith.constant dense<[8.750000e-01, 5.000000e-01, 1.000000e+00, 1.000000e+00, {{.*}}]> : tensor<32xf32>
// CHECK: %[[Y:.*]] = "pconv.conv3d"(%arg0, %[[PACKED]], %[[BIAS]])
// CHECK-SAME: activation = "relu"
// CHECK-SAME: dilations = array<i64: 2, 1, 1>
// CHECK-SAME: group_shape = array<i64: 2, 2>
// CHECK-SAME: groups = 1
// CHECK-SAME: kernel_pattern = dense<{{\[\[}}1, 1], [1, 1], [0, 0], [0, 0]]> : tensor<4x2xi8>
// CHECK-SAME: padding = array<i64: 1, 0, 1, 1, 1, 0>
// CHECK-SAME: patterns = dense<{{\[\[\[\[}}false, true], [true, false]], {{\[\[}}false, false], [true, true]]], {{\[\[\[}}true, false], [false, true]], {{\[\[}}false, true], [true, false]]]]> : tensor<2x2x2x2xi1>
// CHECK-SAME: strides = array<i64: 1, 2, 1>
// CHECK-SAME: -> tensor<1x4x3x2x4xf32>
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
  func.func @kgs(%arg0: tensor<1x2x3x4x4xf32>) -> tensor<1x4x3x2x4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[-1.625000e+00, 1.250000e+00, 1.375000e+00, 1.125000e+00]> : tensor<4xf32>
    %cst_1 = arith.constant dense<[[[[[8.750000e-01, 0.000000e+00], [0.000000e+00, 5.000000e-01]], [[0.000000e+00, 1.000000e+00], [1.000000e+00, 0.000000e+00]]], [[[7.500000e-01, 0.000000e+00], [0.000000e+00, 2.500000e-01]], [[0.000000e+00, 1.125000e+00], [1.000000e+00, 0.000000e+00]]]], [[[[7.500000e-01, 0.000000e+00], [0.000000e+00, 3.750000e-01]], [[0.000000e+00, 3.750000e-01], [7.500000e-01, 0.000000e+00]]], [[[1.000000e+00, 0.000000e+00], [0.000000e+00, 2.500000e-01]], [[0.000000e+00, 7.500000e-01], [2.500000e-01, 0.000000e+00]]]], [[[[0.000000e+00, 1.000000e+00], [3.750000e-01, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [2.500000e-01, 2.500000e-01]]], [[[0.000000e+00, 7.500000e-01], [3.750000e-01, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [1.000000e+00, 2.500000e-01]]]], [[[[0.000000e+00, 6.250000e-01], [7.500000e-01, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [3.750000e-01, 8.750000e-01]]], [[[0.000000e+00, 3.750000e-01], [5.000000e-01, 0.000000e+00]], [[0.000000e+00, 0.000000e+00], [5.000000e-01, 7.500000e-01]]]]]> : tensor<4x2x2x2x2xf32>
    %padded = tensor.pad %arg0 low[0, 0, 1, 0, 1] high[0, 0, 1, 1, 0] {
    ^bb0(%arg1: index, %arg2: index, %arg3: index, %arg4: index, %arg5: index):
      tensor.yield %cst : f32
    } : tensor<1x2x3x4x4xf32> to tensor<1x2x5x5x5xf32>
    %0 = tensor.empty() : tensor<1x4x3x2x4xf32>
    %broadcasted = linalg.broadcast ins(%cst_0 : tensor<4xf32>) outs(%0 : tensor<1x4x3x2x4xf32>) dimensions = [0, 2, 3, 4] 
    %1 = linalg.conv_3d_ncdhw_fcdhw {dilations = dense<[2, 1, 1]> : vector<3xi64>, strides = dense<[1, 2, 1]> : vector<3xi64>} ins(%padded, %cst_1 : tensor<1x2x5x5x5xf32>, tensor<4x2x2x2x2xf32>) outs(%broadcasted : tensor<1x4x3x2x4xf32>) -> tensor<1x4x3x2x4xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%1 : tensor<1x4x3x2x4xf32>) outs(%0 : tensor<1x4x3x2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %3 = arith.cmpf ugt, %in, %cst : f32
      %4 = arith.select %3, %in, %cst : f32
      linalg.yield %4 : f32
    } -> tensor<1x4x3x2x4xf32>
    return %2 : tensor<1x4x3x2x4xf32>
  }

// -----

// nn.Conv3d(4, 4, (1, 2, 2), groups=2, stride=(2, 1, 1), dilation=(1, 2, 1), bias=False) then
// clamp(0, 6): Torch-MLIR's grouped 3-D conv is a linalg.generic over (n, g, f, od, oh, ow, c,
// kd, kh, kw) between expand_shape / collapse_shape; strides and dilations come from its input map.
// CHECK-LABEL: func.func @grouped
// CHECK: %[[Y:.*]] = "pconv.conv3d"(%arg0, %{{[^)]+}})
// CHECK-SAME: activation = "relu6"
// CHECK-SAME: dilations = array<i64: 1, 2, 1>
// CHECK-SAME: group_shape = array<i64: 2, 2>
// CHECK-SAME: groups = 2
// CHECK-SAME: kernel_pattern = dense<0> : tensor<4x2xi8>
// CHECK-SAME: operandSegmentSizes = array<i32: 1, 1, 0>
// CHECK-SAME: patterns = dense<true> : tensor<1x1x2x2xi1>
// CHECK-SAME: strides = array<i64: 2, 1, 1>
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
#map = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d0, d1, d6, d3 * 2 + d7, d4 + d8 * 2, d5 + d9)>
#map1 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d1, d2, d6, d7, d8, d9)>
#map2 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d0, d1, d2, d3, d4, d5)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
  func.func @grouped(%arg0: tensor<1x4x3x5x4xf32>) -> tensor<1x4x2x3x3xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[[[[[1.125000e+00, 7.500000e-01], [1.250000e-01, 1.000000e+00]]], [[[6.250000e-01, 3.750000e-01], [1.000000e+00, 2.500000e-01]]]], [[[[6.250000e-01, 5.000000e-01], [1.000000e+00, 7.500000e-01]]], [[[8.750000e-01, 7.500000e-01], [5.000000e-01, 5.000000e-01]]]]], [[[[[2.500000e-01, 8.750000e-01], [1.000000e+00, 1.000000e+00]]], [[[2.500000e-01, 6.250000e-01], [2.500000e-01, 3.750000e-01]]]], [[[[3.750000e-01, 7.500000e-01], [3.750000e-01, 6.250000e-01]]], [[[6.250000e-01, 1.000000e+00], [2.500000e-01, 2.500000e-01]]]]]]> : tensor<2x2x2x1x2x2xf32>
    %cst_1 = arith.constant 6.000000e+00 : f32
    %0 = tensor.empty() : tensor<1x4x2x3x3xf32>
    %expanded = tensor.expand_shape %arg0 [[0], [1, 2], [3], [4], [5]] output_shape [1, 2, 2, 3, 5, 4] : tensor<1x4x3x5x4xf32> into tensor<1x2x2x3x5x4xf32>
    %expanded_2 = tensor.expand_shape %0 [[0], [1, 2], [3], [4], [5]] output_shape [1, 2, 2, 2, 3, 3] : tensor<1x4x2x3x3xf32> into tensor<1x2x2x2x3x3xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%expanded_2 : tensor<1x2x2x2x3x3xf32>) -> tensor<1x2x2x2x3x3xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "reduction"]} ins(%expanded, %cst_0 : tensor<1x2x2x3x5x4xf32>, tensor<2x2x2x1x2x2xf32>) outs(%1 : tensor<1x2x2x2x3x3xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %4 = arith.mulf %in, %in_3 : f32
      %5 = arith.addf %4, %out : f32
      linalg.yield %5 : f32
    } -> tensor<1x2x2x2x3x3xf32>
    %collapsed = tensor.collapse_shape %2 [[0], [1, 2], [3], [4], [5]] : tensor<1x2x2x2x3x3xf32> into tensor<1x4x2x3x3xf32>
    %3 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%collapsed : tensor<1x4x2x3x3xf32>) outs(%0 : tensor<1x4x2x3x3xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = arith.cmpf ult, %in, %cst : f32
      %5 = arith.select %4, %cst, %in : f32
      %6 = arith.cmpf ugt, %5, %cst_1 : f32
      %7 = arith.select %6, %cst_1, %5 : f32
      linalg.yield %7 : f32
    } -> tensor<1x4x2x3x3xf32>
    return %3 : tensor<1x4x2x3x3xf32>
  }

// -----

// The same grouped conv whose every filter keeps only the kernel of its own channel (how the
// frontends pass a 3-D depthwise conv through Torch-MLIR): raised as the depthwise conv,
// groups = 4 and one kernel a filter (no group_shape: a conv group has one filter).
// CHECK-LABEL: func.func @spread
// CHECK: "pconv.conv3d"
// CHECK-NOT: group_shape
// CHECK-SAME: groups = 4
// CHECK-SAME: kernel_pattern = dense<0> : tensor<4x1xi8>
// CHECK-SAME: -> tensor<1x4x2x3x3xf32>
#map = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d0, d1, d6, d3 * 2 + d7, d4 + d8 * 2, d5 + d9)>
#map1 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d1, d2, d6, d7, d8, d9)>
#map2 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d0, d1, d2, d3, d4, d5)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
  func.func @spread(%arg0: tensor<1x4x3x5x4xf32>) -> tensor<1x4x2x3x3xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[[[[[8.750000e-01, 2.500000e-01], [3.750000e-01, 7.500000e-01]]], [[[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]]], [[[[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]], [[[6.250000e-01, 5.000000e-01], [3.750000e-01, 7.500000e-01]]]]], [[[[[1.000000e+00, 5.000000e-01], [3.750000e-01, 5.000000e-01]]], [[[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]]], [[[[0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]], [[[7.500000e-01, 5.000000e-01], [5.000000e-01, 7.500000e-01]]]]]]> : tensor<2x2x2x1x2x2xf32>
    %cst_1 = arith.constant 6.000000e+00 : f32
    %0 = tensor.empty() : tensor<1x4x2x3x3xf32>
    %expanded = tensor.expand_shape %arg0 [[0], [1, 2], [3], [4], [5]] output_shape [1, 2, 2, 3, 5, 4] : tensor<1x4x3x5x4xf32> into tensor<1x2x2x3x5x4xf32>
    %expanded_2 = tensor.expand_shape %0 [[0], [1, 2], [3], [4], [5]] output_shape [1, 2, 2, 2, 3, 3] : tensor<1x4x2x3x3xf32> into tensor<1x2x2x2x3x3xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%expanded_2 : tensor<1x2x2x2x3x3xf32>) -> tensor<1x2x2x2x3x3xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "reduction"]} ins(%expanded, %cst_0 : tensor<1x2x2x3x5x4xf32>, tensor<2x2x2x1x2x2xf32>) outs(%1 : tensor<1x2x2x2x3x3xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %4 = arith.mulf %in, %in_3 : f32
      %5 = arith.addf %4, %out : f32
      linalg.yield %5 : f32
    } -> tensor<1x2x2x2x3x3xf32>
    %collapsed = tensor.collapse_shape %2 [[0], [1, 2], [3], [4], [5]] : tensor<1x2x2x2x3x3xf32> into tensor<1x4x2x3x3xf32>
    %3 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%collapsed : tensor<1x4x2x3x3xf32>) outs(%0 : tensor<1x4x2x3x3xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = arith.cmpf ult, %in, %cst : f32
      %5 = arith.select %4, %cst, %in : f32
      %6 = arith.cmpf ugt, %5, %cst_1 : f32
      %7 = arith.select %6, %cst_1, %5 : f32
      linalg.yield %7 : f32
    } -> tensor<1x4x2x3x3xf32>
    return %3 : tensor<1x4x2x3x3xf32>
  }

// -----

// A generic of the grouped conv's shape whose body is not a multiply-add is not a convolution.
// CHECK-LABEL: func.func @not_multiply_add
// CHECK: linalg.generic
// CHECK-NOT: pconv.conv3d
#map = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d0, d1, d6, d3 * 2 + d7, d4 + d8 * 2, d5 + d9)>
#map1 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d1, d2, d6, d7, d8, d9)>
#map2 = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7, d8, d9) -> (d0, d1, d2, d3, d4, d5)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
  func.func @not_multiply_add(%arg0: tensor<1x4x3x5x4xf32>) -> tensor<1x4x2x3x3xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense<[[[[[[1.125000e+00, 7.500000e-01], [1.250000e-01, 1.000000e+00]]], [[[6.250000e-01, 3.750000e-01], [1.000000e+00, 2.500000e-01]]]], [[[[6.250000e-01, 5.000000e-01], [1.000000e+00, 7.500000e-01]]], [[[8.750000e-01, 7.500000e-01], [5.000000e-01, 5.000000e-01]]]]], [[[[[2.500000e-01, 8.750000e-01], [1.000000e+00, 1.000000e+00]]], [[[2.500000e-01, 6.250000e-01], [2.500000e-01, 3.750000e-01]]]], [[[[3.750000e-01, 7.500000e-01], [3.750000e-01, 6.250000e-01]]], [[[6.250000e-01, 1.000000e+00], [2.500000e-01, 2.500000e-01]]]]]]> : tensor<2x2x2x1x2x2xf32>
    %cst_1 = arith.constant 6.000000e+00 : f32
    %0 = tensor.empty() : tensor<1x4x2x3x3xf32>
    %expanded = tensor.expand_shape %arg0 [[0], [1, 2], [3], [4], [5]] output_shape [1, 2, 2, 3, 5, 4] : tensor<1x4x3x5x4xf32> into tensor<1x2x2x3x5x4xf32>
    %expanded_2 = tensor.expand_shape %0 [[0], [1, 2], [3], [4], [5]] output_shape [1, 2, 2, 2, 3, 3] : tensor<1x4x2x3x3xf32> into tensor<1x2x2x2x3x3xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%expanded_2 : tensor<1x2x2x2x3x3xf32>) -> tensor<1x2x2x2x3x3xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "reduction"]} ins(%expanded, %cst_0 : tensor<1x2x2x3x5x4xf32>, tensor<2x2x2x1x2x2xf32>) outs(%1 : tensor<1x2x2x2x3x3xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %4 = arith.subf %in, %in_3 : f32
      %5 = arith.addf %4, %out : f32
      linalg.yield %5 : f32
    } -> tensor<1x2x2x2x3x3xf32>
    %collapsed = tensor.collapse_shape %2 [[0], [1, 2], [3], [4], [5]] : tensor<1x2x2x2x3x3xf32> into tensor<1x4x2x3x3xf32>
    %3 = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%collapsed : tensor<1x4x2x3x3xf32>) outs(%0 : tensor<1x4x2x3x3xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = arith.cmpf ult, %in, %cst : f32
      %5 = arith.select %4, %cst, %in : f32
      %6 = arith.cmpf ugt, %5, %cst_1 : f32
      %7 = arith.select %6, %cst_1, %5 : f32
      linalg.yield %7 : f32
    } -> tensor<1x4x2x3x3xf32>
    return %3 : tensor<1x4x2x3x3xf32>
  }

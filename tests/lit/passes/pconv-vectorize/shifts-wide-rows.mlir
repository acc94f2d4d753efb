// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=16 accumulators=26 shifts=true}, canonicalize, cse)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=16 accumulators=26}, canonicalize, cse)' | filecheck %s --check-prefix=PLAIN

// Lane shifts at AVX-512's description (16 lanes, 26 accumulators, shifts): a padded 3x3
// pattern conv, stride 1, rows of 20 columns, one register block of 5 rows x 2 vectors. Taps
// off the vector boundaries (columns 1 and 2) read lane shifts of the two aligned vectors around
// them, inside the channel loop: the block reads the flat copy (240 floats a channel) as 13
// aligned vectors, each loaded once. Without shifts those taps are loads at offsets 1, 17, ...
// (each split across two cache lines on AVX-512), and there is no shuffle.
// CHECK-LABEL: func.func @wide_rows
// CHECK: %[[FLAT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x240xf32>
// CHECK: scf.for {{.*}} iter_args
// CHECK: %[[A:.*]] = vector.load %[[FLAT]][%c0, %{{.*}}, %c0, %c0]
// CHECK-NEXT: %[[B:.*]] = vector.load %[[FLAT]][%c0, %{{.*}}, %c0, %c16]
// CHECK-NEXT: %[[S:.*]] = vector.shuffle %[[A]], %[[B]] [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
// CHECK-NEXT: vector.fma %{{.*}}, %[[S]], %{{.*}} : vector<16xf32>
// CHECK-COUNT-11: vector.load %[[FLAT]][%c0, %{{.*}}, %c0, %c{{(32|48|64|80|96|112|128|144|160|176|192)}}]
// CHECK-NOT: vector.load
// CHECK: scf.yield
// PLAIN-LABEL: func.func @wide_rows
// PLAIN-NOT: vector.shuffle
// PLAIN: scf.for {{.*}} iter_args
// PLAIN: vector.load %{{.*}}[%c0, %{{.*}}, %c0, %c1]
// PLAIN-NOT: vector.shuffle
// PLAIN: return
func.func @wide_rows(%x: tensor<1x2x5x20xf32>) -> tensor<1x2x5x20xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]> : tensor<12xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]], [[true, false, false], [false, true, true], [false, true, false]]]> : tensor<2x3x3xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x5x20xf32>, tensor<12xf32>) -> tensor<1x2x5x20xf32>
  return %0 : tensor<1x2x5x20xf32>
}

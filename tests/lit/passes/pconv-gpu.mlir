// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-gpu)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-gpu{width=2})' | filecheck %s --check-prefix=TWO
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-gpu{f16=true})' | filecheck %s --check-prefix=F16

// Two patterns (2 and 3 taps), kernel (1, 0) removed, padding 1, bias and relu6. A thread computes
// a register tile of the 5 output rows x 4 lanes. The input is staged by one thread per element
// into a zero-bordered buffer tall and wide enough for every tile (6 x 9: the second vector of a
// row overhangs it), a workgroup per filter (block_y) computes 64-thread chunks of tiles. The
// FKW runs per (filter, pattern): filter 0 has one kernel of each pattern (channels 0, 1),
// filter 1 one of pattern 0 (channel 1), its removed kernel no run.
// CHECK-LABEL: func.func @sparse
// CHECK-NOT: pconv.conv2d
// CHECK: %[[PAD:.*]] = memref.alloc() : memref<1x2x6x9xf32>
// CHECK: scf.parallel
// CHECK: arith.select
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_x{{.*}}processor = thread_x
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x2x5x5xf32>
// CHECK-DAG: arith.constant dense<[0, 1, 2, 3, 3]> : tensor<5xi32>
// CHECK-DAG: arith.constant dense<[0, 1, 1]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 5]> : tensor<3xi32>
// CHECK: scf.parallel
// CHECK: vector.broadcast {{.*}} : f32 to vector<4xf32>
// Pattern 0's taps (0, 0) and (1, 1) over 5 rows read input rows 0-5 of the tile, columns 0-3
// and 1-4: 28 values, each loaded once, for 10 FMAs.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-28: memref.load %[[PAD]]
// CHECK-NOT: memref.load %[[PAD]]
// CHECK: scf.yield
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-15: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.yield
// CHECK: arith.maximumf
// CHECK: arith.minimumf
// the tiles overhang the 5 x 5 output: lanes are stored behind a bound check
// CHECK: scf.if
// CHECK: memref.store {{.*}}, %[[OUT]]
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_y{{.*}}processor = thread_x
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// TWO-LABEL: func.func @sparse
// TWO: scf.for {{.*}} iter_args({{.*}}) -> (vector<2xf32>, vector<2xf32>, vector<2xf32>, vector<2xf32>, vector<2xf32>)
// fp16: the staged input and the weights are f16, so are the sums; the output stays f32
// F16-LABEL: func.func @sparse
// F16: memref.alloc() : memref<1x2x6x9xf16>
// F16: arith.truncf {{.*}} : f32 to f16
// F16: arith.constant dense<{{.*}}> : tensor<7xf16>
// F16: vector.fma {{.*}} : vector<4xf16>
// F16: arith.extf {{.*}} : f16 to f32
// F16: memref.store {{.*}} : memref<1x2x5x5xf32>
func.func @sparse(%x: tensor<1x2x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

// A pattern no kept kernel has emits no loop; an unpadded conv whose tiles (4 rows x 4 lanes)
// cover its output exactly reads its input in place, and stores with no bound check. (With
// every kernel kept and one pattern it is a dense conv, whose blocks hold one filter here.)
// CHECK-LABEL: func.func @unused_pattern
// CHECK-NOT: memref.alloc() : memref<1x1x5x5xf32>
// CHECK: scf.for
// CHECK-COUNT-8: vector.fma
// CHECK-NOT: scf.for
// CHECK-NOT: scf.if
// CHECK: return
func.func @unused_pattern(%x: tensor<1x1x5x5xf32>) -> tensor<1x1x4x4xf32> {
  %w = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0]]> : tensor<1x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x5x5xf32>, tensor<2xf32>) -> tensor<1x1x4x4xf32>
  return %0 : tensor<1x1x4x4xf32>
}

// A dense conv (one pattern, every kernel kept, groups 1) runs in blocks of 4 filters: 5 filters
// are 2 blocks (the second's 3 positions past the last repeat it and are not stored), a loop over
// the 2 input channels whose window (2 x 2 taps over 4 rows: 5 rows of 5 columns, 25 values) is
// loaded once for the 4 filters' 4 x 4 rows x 4 taps = 64 FMAs.
// CHECK-LABEL: func.func @dense_blocks
// CHECK: scf.parallel
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step %c1{{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-25: memref.load %{{.*}} : memref<1x2x5x5xf32>
// CHECK-NOT: memref.load %{{.*}} : memref<1x2x5x5xf32>
// CHECK-COUNT-64: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.yield
// CHECK: scf.if
// CHECK: memref.store
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_y
func.func @dense_blocks(%x: tensor<1x2x5x5xf32>) -> tensor<1x5x4x4xf32> {
  %w = arith.constant dense<1.0> : tensor<40xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<1x2x2xi1>, kernel_pattern = dense<0> : tensor<5x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x5x5xf32>, tensor<40xf32>) -> tensor<1x5x4x4xf32>
  return %0 : tensor<1x5x4x4xf32>
}

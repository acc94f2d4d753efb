// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10}, canonicalize, cse)' | filecheck %s
// RUN: sed 's/array<i64: 2, 1, 8, 32, 2>/array<i64: 6, 1, 0, 0, 4>/' %s | not fretsaw-opt --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10})' 2>&1 | filecheck %s --check-prefix=REGISTERS
// RUN: sed 's/array<i64: 2, 1, 8, 32, 2>/array<i64: 2, 1, 8, 32, 3>/' %s | not fretsaw-opt --pass-pipeline='builtin.module(pconv-vectorize{width=8 accumulators=10})' 2>&1 | filecheck %s --check-prefix=FILTERS

// A KGS-pruned conv2d (4 filters keeping positions 0 and 4 of all 16 input channels) with a tuned
// kernel-group schedule (rows, vectors, tile, units, filters) = (2, 1, 8, 32, 2). Untuned it runs
// as one block of 4 filters over all 16 channels in one tile (kernel-groups-tiles.mlir); tuned,
// as 2 blocks of 2 filters, each over its 32 columns cut into 2 tiles of 8 channels (begin =
// [0, 16, 32, 48, 64]), with a register block of 2 rows x 1 vector per filter: 4 accumulators,
// 4 FMAs a column step.
// CHECK-LABEL: func.func @tuned
// CHECK: arith.constant dense<[0, 16, 32, 48, 64]> : tensor<5xi32>
// CHECK: scf.for {{.*}} iter_args({{[^)]*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK-COUNT-4: vector.fma
// CHECK-NOT: vector.fma
// CHECK: scf.yield
// CHECK-NOT: pconv.conv
// A schedule beyond the target's registers (4 filters x 6 rows: 29 of 16) or whose filter block
// does not divide the filters is an error naming the op and what to do.
// REGISTERS: error: 'pconv.conv2d' op: fretsaw.schedule = array<i64: 6, 1, 0, 0, 4> does not fit width=8 accumulators=10: a block of 4 filters x 6 x 1 vectors takes 29 vector registers, more than the 16 of accumulators=10; tune it again on this target or remove it
// FILTERS: error: 'pconv.conv2d' op: fretsaw.schedule = array<i64: 2, 1, 8, 32, 3>: filters=3 is not a block size for 4 filters per group (one of 1, 2, 4); tune again or remove the attribute
func.func @tuned(%arg0: tensor<1x16x6x6xf32>) -> tensor<1x4x6x6xf32> {
  %w = arith.constant dense<0.5> : tensor<128xf32>
  %0 = "pconv.conv2d"(%arg0, %w) {activation = "relu", dilations = array<i64: 1, 1>, groups = 1 : i64, kernel_pattern = dense<0> : tensor<4x16xi8>, operandSegmentSizes = array<i32: 1, 1, 0>, padding = array<i64: 1, 1, 1, 1>, patterns = dense<[[[true, false, false], [false, true, false], [false, false, false]]]> : tensor<1x3x3xi1>, strides = array<i64: 1, 1>, fretsaw.schedule = array<i64: 2, 1, 8, 32, 2>} : (tensor<1x16x6x6xf32>, tensor<128xf32>) -> tensor<1x4x6x6xf32>
  return %0 : tensor<1x4x6x6xf32>
}

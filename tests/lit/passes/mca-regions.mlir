// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(pconv-vectorize{width=4 rows=1 vectors=1}, mca-regions)' | filecheck %s

// One conv, two patterns, 5 output columns in vectors of 4: pconv-vectorize makes one kernel loop
// per pattern for the whole vectors and again for the masked last column, each an innermost
// scf.for with vector FMAs. mca-regions numbers them r0 .. r3 in program order: a counter slot
// each in the public global @fretsaw_mca_counts (incremented once per iteration, before the
// region opens) and llvm-mca's BEGIN/END comments around the rest of the body. The input copy
// loops hold no FMA and stay unmarked.
// CHECK: memref.global "public" @fretsaw_mca_counts : memref<4xi64> = dense<0>
// CHECK-LABEL: func.func @sparse
// CHECK-NOT: LLVM-MCA
// CHECK: scf.for
// CHECK: %[[COUNTS:.*]] = memref.get_global @fretsaw_mca_counts : memref<4xi64>
// CHECK: %[[N:.*]] = memref.load %[[COUNTS]][%[[R0:.*]]] : memref<4xi64>
// CHECK: %[[NEXT:.*]] = arith.addi %[[N]], %{{.*}} : i64
// CHECK: memref.store %[[NEXT]], %[[COUNTS]][%[[R0]]]
// CHECK-NEXT: llvm.inline_asm has_side_effects "// LLVM-MCA-BEGIN r0", ""
// CHECK: vector.fma
// CHECK: llvm.inline_asm has_side_effects "// LLVM-MCA-END r0", ""
// CHECK-NEXT: scf.yield
// CHECK: llvm.inline_asm has_side_effects "// LLVM-MCA-BEGIN r1", ""
// CHECK: vector.fma
// CHECK: llvm.inline_asm has_side_effects "// LLVM-MCA-END r1", ""
// CHECK-NEXT: scf.yield
// CHECK: llvm.inline_asm has_side_effects "// LLVM-MCA-BEGIN r2", ""
// CHECK: llvm.inline_asm has_side_effects "// LLVM-MCA-BEGIN r3", ""
// CHECK: llvm.inline_asm has_side_effects "// LLVM-MCA-END r3", ""
// CHECK-NOT: LLVM-MCA
func.func @sparse(%x: tensor<1x2x4x4xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<7xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]], [[true, true], [true, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0, 1], [-1, 0]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu6", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x4x4xf32>, tensor<7xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %0 : tensor<1x2x5x5xf32>
}

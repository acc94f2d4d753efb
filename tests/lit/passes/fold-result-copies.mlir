// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(fold-result-copies)' | filecheck %s
// A result that is a reshape of an alloc (a pointwise conv's output, computed as one row of H*W
// pixels and expanded to H x W) is computed straight into the out-parameter: the alloc becomes
// the inverse reshapes of the out-parameter and the copy of the whole output goes.

// CHECK-LABEL: func.func @reshaped
// CHECK-SAME: (%[[X:.*]]: memref<2x12xf32>, %[[OUT:.*]]: memref<2x3x4xf32>)
// CHECK-NOT: memref.alloc
// CHECK: %[[FLAT:.*]] = memref.collapse_shape %[[OUT]] {{\[}}[0], [1, 2]] : memref<2x3x4xf32> into memref<2x12xf32>
// CHECK: %[[ROW:.*]] = memref.expand_shape %[[FLAT]] {{\[}}[0, 1], [2]] output_shape [2, 1, 12] : memref<2x12xf32> into memref<2x1x12xf32>
// CHECK: memref.copy %[[X]], %[[FLAT]]
// CHECK-NOT: memref.copy
// CHECK: return
func.func @reshaped(%x: memref<2x12xf32>, %out: memref<2x3x4xf32>) {
  %a = memref.alloc() : memref<2x1x12xf32>
  %c = memref.collapse_shape %a [[0, 1], [2]] : memref<2x1x12xf32> into memref<2x12xf32>
  memref.copy %x, %c : memref<2x12xf32> to memref<2x12xf32>
  %e = memref.expand_shape %c [[0], [1, 2]] output_shape [2, 3, 4] : memref<2x12xf32> into memref<2x3x4xf32>
  memref.copy %e, %out : memref<2x3x4xf32> to memref<2x3x4xf32>
  return
}

// -----

// The alloc is written after the copy: the copy holds the values before that write, so it stays.
// CHECK-LABEL: func.func @written_after
// CHECK: %[[A:.*]] = memref.alloc() : memref<2x1x12xf32>
// CHECK: memref.copy %{{.*}}, %arg1
// CHECK: memref.copy %arg0, %{{.*}}
func.func @written_after(%x: memref<2x12xf32>, %out: memref<2x12xf32>) {
  %a = memref.alloc() : memref<2x1x12xf32>
  %c = memref.collapse_shape %a [[0, 1], [2]] : memref<2x1x12xf32> into memref<2x12xf32>
  memref.copy %c, %out : memref<2x12xf32> to memref<2x12xf32>
  memref.copy %x, %c : memref<2x12xf32> to memref<2x12xf32>
  return
}

// -----

// A copy of an input (not an alloc) into the out-parameter stays.
// CHECK-LABEL: func.func @input
// CHECK: memref.copy %{{.*}}, %arg1
func.func @input(%x: memref<2x12xf32>, %out: memref<24xf32>) {
  %c = memref.collapse_shape %x [[0, 1]] : memref<2x12xf32> into memref<24xf32>
  memref.copy %c, %out : memref<24xf32> to memref<24xf32>
  return
}

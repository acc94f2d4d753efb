// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(distinct-results)' | filecheck %s
// A tensor returned twice crashed buffer-results-to-out-params{hoist-static-allocs} (issue 16,
// found by the fuzzer): after this pass the host's bufferization gives each result its own buffer.
// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(distinct-results, one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}, buffer-results-to-out-params{hoist-static-allocs modify-public-functions})' | filecheck %s --check-prefix=BUFFERS

// CHECK-LABEL: func.func @twice
// CHECK: %[[Y:.*]] = linalg.add
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK: %[[C:.*]] = linalg.copy {{.*}}ins(%[[Y]] : tensor<2x3xf32>) outs(%[[E]] : tensor<2x3xf32>)
// CHECK: return %[[Y]], %[[C]], %arg0, %arg0
// BUFFERS-LABEL: func.func @twice
// BUFFERS-SAME: (%arg0: memref<2x3xf32>, %[[OUT0:.*]]: memref<2x3xf32>, %[[OUT1:.*]]: memref<2x3xf32>, %[[OUT2:.*]]: memref<2x3xf32>, %[[OUT3:.*]]: memref<2x3xf32>)
// BUFFERS: linalg.add ins(%arg0, %arg0 : memref<2x3xf32>, memref<2x3xf32>) outs(%[[OUT0]] : memref<2x3xf32>)
// BUFFERS: linalg.copy {{.*}}ins(%[[OUT0]] : memref<2x3xf32>) outs(%[[OUT1]] : memref<2x3xf32>)
// BUFFERS: return
func.func @twice(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %e = tensor.empty() : tensor<2x3xf32>
  %y = linalg.add ins(%x, %x : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y, %y, %x, %x : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Distinct results: unchanged.
// CHECK-LABEL: func.func @distinct
// CHECK-NOT: linalg.copy
// CHECK: return
func.func @distinct(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.add ins(%x, %x : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %y, %x : tensor<4xf32>, tensor<4xf32>
}

// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(check-buffer-reads)' | filecheck %s
// RUN: not fretsaw-opt %S/Inputs/check-buffer-reads-invalid.mlir --split-input-file --pass-pipeline='builtin.module(check-buffer-reads)' 2>&1 | filecheck %S/Inputs/check-buffer-reads-invalid.mlir --check-prefix=INVALID
// The regression it guards (issue 16): a channels-last residual block. Two elementwise ops read %y,
// and between them a transpose writes into the tensor.empty that %y's transpose also wrote into.
// dense-vectorize reads %y twice, each read right before its loop; the host pipeline keeps them
// apart, bufferization then sees the second read and gives %z its own buffer. With cse before
// bufferization the two reads were one, placed before %z: bufferization put %z into %y's buffer
// and the residual add read %z twice (a wrong answer, no error). Now check-buffer-reads rejects that.
// RUN: fretsaw-opt %S/Inputs/residual-after-transpose.mlir --pass-pipeline='builtin.module(dense-vectorize{width=8}, canonicalize, check-buffer-reads)' | filecheck %s --check-prefix=STAGE
// RUN: not fretsaw-opt %S/Inputs/residual-after-transpose.mlir --pass-pipeline='builtin.module(dense-vectorize{width=8}, canonicalize, cse, check-buffer-reads)' 2>&1 | filecheck %s --check-prefix=MERGED
// RUN: fretsaw-opt %S/Inputs/residual-after-transpose.mlir --pass-pipeline='builtin.module(dense-vectorize{width=8}, canonicalize, check-buffer-reads, one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map})' | filecheck %s --check-prefix=BUFFERS

// STAGE-LABEL: func.func @main
// STAGE: %[[Y:.*]] = linalg.transpose ins(%arg0
// STAGE-NEXT: bufferization.to_buffer %[[Y]] read_only
// STAGE: %[[Z:.*]] = linalg.transpose
// STAGE-NEXT: bufferization.to_buffer %[[Z]] read_only
// STAGE: bufferization.to_buffer %[[Y]] read_only

// MERGED: residual-after-transpose.mlir:8:8: error: 'bufferization.to_buffer' op at {{.*}}: its buffer is used by '{{.*}}' at {{.*}} after 'linalg.transpose' at {{.*}}, which may overwrite that tensor's buffer in place
// MERGED: pass: check-buffer-reads

// After bufferization %y and %z live in different buffers, and the residual add reads both.
// BUFFERS-LABEL: func.func @main
// BUFFERS: %[[ZBUF:.*]] = memref.alloc() {{.*}} : memref<1x8x4x4xf32>
// BUFFERS: %[[YBUF:.*]] = memref.alloc() {{.*}} : memref<1x8x4x4xf32>
// BUFFERS: linalg.transpose ins(%arg0 : memref<1x4x4x8xf32>) outs(%[[YBUF]] : memref<1x8x4x4xf32>)
// BUFFERS: linalg.transpose ins(%{{.*}}) outs(%[[ZBUF]] : memref<1x8x4x4xf32>)
// BUFFERS-NEXT: memref.collapse_shape %[[ZBUF]]
// BUFFERS-NEXT: memref.collapse_shape %[[YBUF]]

// Reads used before any tensor op that may write: accepted, unchanged. A view op (expand_shape)
// between a read and its last use is no writer; a constant's buffer is never written in place.
// CHECK-LABEL: func.func @uses_before_writer
// CHECK: bufferization.to_buffer
// CHECK: vector.load
// CHECK: linalg.transpose
func.func @uses_before_writer(%y: tensor<8xf32>, %a: tensor<2x4xf32>) -> tensor<4x2xf32> {
  %c0 = arith.constant 0 : index
  %m = bufferization.to_buffer %y read_only : tensor<8xf32> to memref<8xf32>
  %v = vector.load %m[%c0] : memref<8xf32>, vector<8xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %t = linalg.transpose ins(%a : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
  return %t : tensor<4x2xf32>
}

// -----

// CHECK-LABEL: func.func @view_and_constant
func.func @view_and_constant(%y: tensor<8xf32>, %a: tensor<2x4xf32>) -> tensor<4x2xf32> {
  %c0 = arith.constant 0 : index
  %k = arith.constant dense<1.0> : tensor<8xf32>
  %m = bufferization.to_buffer %y read_only : tensor<8xf32> to memref<8xf32>
  %km = bufferization.to_buffer %k read_only : tensor<8xf32> to memref<8xf32>
  %x = tensor.expand_shape %y [[0, 1]] output_shape [2, 4] : tensor<8xf32> into tensor<2x4xf32>
  %v = vector.load %m[%c0] : memref<8xf32>, vector<8xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %t = linalg.transpose ins(%a : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
  %w = vector.load %km[%c0] : memref<8xf32>, vector<8xf32>
  return %t : tensor<4x2xf32>
}

// -----

// Writers into other buffers between a read and its use: accepted. A conv's output (a restrict
// buffer) read by an upstream op (tanh into its own tensor.empty) and then by a pooling loop, and
// an argument's buffer read after a transpose into a fresh tensor.empty (found by the fuzzer: these
// were refused while every tensor op counted as a writer).
// CHECK-LABEL: func.func @other_buffers
// CHECK: math.tanh
// CHECK: linalg.transpose
// CHECK: vector.load
#id = affine_map<(d0) -> (d0)>
func.func @other_buffers(%y: tensor<8xf32>, %a: tensor<2x4xf32>) -> (tensor<8xf32>, tensor<4x2xf32>, vector<8xf32>, vector<8xf32>) {
  %c0 = arith.constant 0 : index
  %buf = memref.alloc() : memref<8xf32>
  %conv = bufferization.to_tensor %buf restrict writable : memref<8xf32> to tensor<8xf32>
  %m = bufferization.to_buffer %y read_only : tensor<8xf32> to memref<8xf32>
  %e = tensor.empty() : tensor<8xf32>
  %tanh = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%conv : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.tanh %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  %f = tensor.empty() : tensor<4x2xf32>
  %t = linalg.transpose ins(%a : tensor<2x4xf32>) outs(%f : tensor<4x2xf32>) permutation = [1, 0]
  %v = vector.load %buf[%c0] : memref<8xf32>, vector<8xf32>
  %w = vector.load %m[%c0] : memref<8xf32>, vector<8xf32>
  return %tanh, %t, %v, %w : tensor<8xf32>, tensor<4x2xf32>, vector<8xf32>, vector<8xf32>
}

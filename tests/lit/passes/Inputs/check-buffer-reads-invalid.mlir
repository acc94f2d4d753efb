// Input of check-buffer-reads.mlir: memrefs of tensors used after a tensor op that may write.
// INVALID: error: 'bufferization.to_buffer' op at {{.*}}: its buffer is used by 'vector.load' at {{.*}} after 'linalg.transpose' at {{.*}}, which may overwrite that tensor's buffer in place
// The transposes share one tensor.empty: %t may be written into %y's buffer.
func.func @read_after_writer(%a: tensor<2x4xf32>, %b: tensor<2x4xf32>) -> tensor<4x2xf32> {
  %c0 = arith.constant 0 : index
  %e = tensor.empty() : tensor<4x2xf32>
  %y = linalg.transpose ins(%a : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
  %m = bufferization.to_buffer %y read_only : tensor<4x2xf32> to memref<4x2xf32>
  %t = linalg.transpose ins(%b : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
  %v = vector.load %m[%c0, %c0] : memref<4x2xf32>, vector<2xf32>
  return %t : tensor<4x2xf32>
}

// -----

// A use nested in a loop counts at the loop; a view of the memref carries the read along; a
// write into a view of the tensor writes into its buffer.
// INVALID: error: 'bufferization.to_buffer' op at {{.*}}: its buffer is used by 'scf.for' at {{.*}} after 'linalg.fill'
func.func @nested_view_use(%y: tensor<2x4xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %zero = arith.constant 0.0 : f32
  %m = bufferization.to_buffer %y read_only : tensor<2x4xf32> to memref<2x4xf32>
  %flat = memref.collapse_shape %m [[0, 1]] : memref<2x4xf32> into memref<8xf32>
  %a = tensor.collapse_shape %y [[0, 1]] : tensor<2x4xf32> into tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%a : tensor<8xf32>) -> tensor<8xf32>
  scf.for %i = %c0 to %c2 step %c1 {
    %v = memref.load %flat[%i] : memref<8xf32>
  }
  return %f : tensor<8xf32>
}

// -----

// A buffer wrapped as a restrict tensor and then used after a writer (what canonicalize makes of
// a later to_buffer of that tensor).
// INVALID: error: 'bufferization.to_tensor' op at {{.*}}: its buffer is used by 'vector.load' at {{.*}} after 'linalg.fill'
func.func @wrapped_then_used(%a: tensor<8xf32>) -> (tensor<8xf32>, vector<8xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %buf = memref.alloc() : memref<8xf32>
  %t = bufferization.to_tensor %buf restrict writable : memref<8xf32> to tensor<8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%t : tensor<8xf32>) -> tensor<8xf32>
  %v = vector.load %buf[%c0] : memref<8xf32>, vector<8xf32>
  return %f, %v : tensor<8xf32>, vector<8xf32>
}

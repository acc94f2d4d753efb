// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(gpu-matmul{max-bytes=134217728}, pconv-gpu{f16=false f32-sums=false}, check-buffer-reads, distinct-results, one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}, buffer-results-to-out-params{hoist-static-allocs modify-public-functions}, buffer-deallocation-pipeline, convert-bufferization-to-memref, canonicalize, cse, func.func(convert-linalg-to-parallel-loops), gpu-map-loops, canonicalize, func.func(convert-parallel-loops-to-gpu), fold-memref-alias-ops, lower-affine, arith-expand, canonicalize, func.func(gpu-launch-sink-index-computations), gpu-kernel-outlining, canonicalize, cse, spirv-target{device=adreno f16=false}, convert-gpu-to-spirv, spirv.module(spirv-lower-abi-attrs, spirv-update-vce))' | filecheck %s

// The SPIR-V of a pattern conv through target="spirv"'s stages (device="adreno", so no Vulkan
// device is needed): 3 kept kernels of 8 (patterns of 2 and 3 taps), padding 1, relu. The
// padded copy and the conv are two kernels of 64-invocation workgroups; the conv's loops over
// its kernels hold the taps unrolled, one 4-wide FMA per tap and row of a thread's 4-row tile:
// (2 + 3) x 4 in all, whatever the number of kernels (removed kernels emit nothing).
// CHECK: func.func @sparse
// CHECK-COUNT-2: gpu.launch_func
// CHECK-NOT: gpu.launch_func
// CHECK: spirv.module @__spv__sparse_kernel Logical
// CHECK: spirv.ExecutionMode @sparse_kernel "LocalSize", 64, 1, 1
// CHECK: spirv.module @__spv__sparse_kernel_0
// CHECK-COUNT-20: spirv.GL.Fma %{{.*}} : vector<4xf32>
// CHECK-NOT: spirv.GL.Fma
// CHECK: spirv.ExecutionMode @sparse_kernel "LocalSize", 64, 1, 1
func.func @sparse(%x: tensor<1x4x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[false, false, false], [false, true, false], [false, false, true]], [[false, true, false], [true, true, false], [false, false, false]]]> : tensor<2x3x3xi1>, kernel_pattern = dense<[[0, 1, -1, -1], [-1, -1, 1, -1]]> : tensor<2x4xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "relu", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x4x4x4xf32>, tensor<8xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  return %0 : tensor<1x2x4x4xf32>
}

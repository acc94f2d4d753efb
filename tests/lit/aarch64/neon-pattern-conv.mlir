// RUN: fretsaw-opt %s --pass-pipeline='%aarch64-stages' --mlir-to-llvmir | opt-22 -passes='default<O3>' -mtriple=aarch64-linux-gnu -mattr=+neon | llc-22 -O3 -mtriple=aarch64-linux-gnu -mattr=+neon | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='%aarch64-fp16-stages' --mlir-to-llvmir | opt-22 -passes='default<O3>' -mtriple=aarch64-linux-gnu -mattr=+neon,+fullfp16 | llc-22 -O3 -mtriple=aarch64-linux-gnu -mattr=+neon,+fullfp16 | filecheck %s --check-prefix=FP16

// The AArch64 backend's stages (NEON: 4 fp32 lanes, 32 registers), then Debian's opt-22 and
// llc-22 as fretsaw.compile(target="aarch64") runs them.
//
// @pattern: 2 filters x 4 input channels, one 4-tap pattern; filter 0 keeps kernels 0, 2, 3,
// filter 1 only kernel 1; register blocks of 2 output rows x 2 vectors (fretsaw.schedule).
// Each kernel loop is one branch-free block: each weight broadcast once (ld1r), 4 taps x 2 rows
// x its vectors of vector FMAs on .4s and no more -- the 5 taps outside the pattern and the 4
// removed kernels emit no instruction (the loop visits kept kernels only). The rows' partial
// last chunk (columns 8-9, one vector: 8 FMAs) runs first, then the full chunk (2 vectors: 16).
// CHECK-LABEL: {{^}}pattern..omp_par
// CHECK: ld1r { v{{[0-9]+}}.4s }
// CHECK-COUNT-8: fmla v{{[0-9]+}}.4s, v{{[0-9]+}}.4s, v{{[0-9]+}}.{{4s|s\[0\]}}
// CHECK-NOT: fmla
// CHECK: b.ne .LBB
// CHECK: ld1r { v{{[0-9]+}}.4s }
// CHECK-COUNT-16: fmla v{{[0-9]+}}.4s, v{{[0-9]+}}.4s, v{{[0-9]+}}.{{4s|s\[0\]}}
// CHECK-NOT: fmla
// CHECK: b.ne .LBB
// With fp16 convs (fretsaw.compile(..., fp16=True)) the loop runs on 8 fp16 lanes (.8h): a
// row's 10 columns are one chunk of 2 vectors, 16 FMAs.
// FP16-LABEL: {{^}}pattern..omp_par
// FP16: ld1r { v{{[0-9]+}}.8h }
// FP16-COUNT-16: fmla v{{[0-9]+}}.8h, v{{[0-9]+}}.8h, v{{[0-9]+}}.{{8h|h\[0\]}}
// FP16-NOT: fmla
// FP16: b.ne .LBB
func.func @pattern(%x: tensor<1x4x6x10xf32>) -> tensor<1x2x6x10xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]> : tensor<16xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<[[0, -1, 0, 0], [-1, 0, -1, -1]]> : tensor<2x4xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", fretsaw.schedule = array<i64: 2, 2, 0>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x4x6x10xf32>, tensor<16xf32>) -> tensor<1x2x6x10xf32>
  return %0 : tensor<1x2x6x10xf32>
}

// @removed: every kernel removed; the output is the bias alone and no FMA is emitted, neither
// in @removed nor in its outlined parallel loops (they follow it, to the end of the file).
// CHECK-LABEL: {{^}}removed:
// CHECK-NOT: fmla
func.func @removed(%x: tensor<1x4x6x10xf32>, %b: tensor<2xf32>) -> tensor<1x2x6x10xf32> {
  %w = arith.constant dense<0.0> : tensor<0xf32>
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[false, true, false], [true, true, true], [false, false, false]]]> : tensor<1x3x3xi1>, kernel_pattern = dense<-1> : tensor<2x4xi8>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x4x6x10xf32>, tensor<0xf32>, tensor<2xf32>) -> tensor<1x2x6x10xf32>
  return %0 : tensor<1x2x6x10xf32>
}

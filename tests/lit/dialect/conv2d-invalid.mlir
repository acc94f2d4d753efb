// RUN: not fretsaw-opt %s --split-input-file 2>&1 | filecheck %s

// CHECK: conv2d-invalid.mlir:5:8: error: {{.*}}'pconv.conv2d' op: packed_weights has 5 elements but kernel_pattern and patterns keep 4 weights
func.func @packed_length(%x: tensor<1x1x3x3xf32>, %w: tensor<5xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<5xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: kernel_pattern holds pattern id 3, outside -1..0
func.func @pattern_id(%x: tensor<1x1x3x3xf32>, %w: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [3]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: kernel_pattern is 2x2 but must be Cout x Cin/groups = 2x1
func.func @map_shape(%x: tensor<1x1x3x3xf32>, %w: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0, -1], [-1, -1]]> : tensor<2x2xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: pattern 1 keeps no tap; mark removed kernels -1 in kernel_pattern instead
func.func @empty_pattern(%x: tensor<1x1x3x3xf32>, %w: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]], [[false, false], [false, false]]]> : tensor<2x2x2xi1>, kernel_pattern = dense<[[0], [-1]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: output shape [1, 2, 3, 3] does not match the convolution's shape [1, 2, 2, 2]
func.func @output_shape(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x3x3xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// A 2x2 kernel at dilation 3 spans 4x4, more than the 3x3 input (padded by 0): no output position.
// CHECK: error: {{.*}}'pconv.conv2d' op: the kernel spans 4x4 (with dilation) but the padded input is only 3x3: the convolution has no output position
func.func @kernel_larger_than_input(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x0x0xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 3, 3>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x0x0xf32>
  return %0 : tensor<1x2x0x0xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: groups=3 must divide input channels (4) and output channels (6)
func.func @groups(%x: tensor<1x4x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x6x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<0> : tensor<6x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 3 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x4x3x3xf32>, tensor<4xf32>) -> tensor<1x6x2x2xf32>
  return %0 : tensor<1x6x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: bias has 3 elements but the output has 2 channels
func.func @bias(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>, %b: tensor<3xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>, tensor<3xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: activation must be one of ('none', 'relu', 'relu6'), got 'gelu'
func.func @activation(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "gelu", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: strides must be array<i64: 2 integers >= 1> for 2 spatial dims, got [0, 1]
func.func @strides(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 0, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// IRDL rejects the wrong kind of attribute at parse time.
// CHECK: conv2d-invalid.mlir:{{[0-9]+}}:{{[0-9]+}}: error: expected base attribute 'builtin.dense_array' but got 'builtin.integer'
func.func @irdl_kind(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = 1 : i64, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: input must have f32 elements, got tensor<1x1x3x3xf16>
func.func @dtype(%x: tensor<1x1x3x3xf16>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf16>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// operandSegmentSizes must match the operands: two operands (no bias) but three segments.
// CHECK: error: {{.*}}'pconv.conv2d' op: operandSegmentSizes is array<i32: 1, 1, 1> but the op has 2 operands: it must be array<i32: 1, 1, 0>
func.func @segments_bias(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: operandSegmentSizes is array<i32: 1, 0, 0> but the op has 2 operands: it must be array<i32: 1, 1, 0>
func.func @segments_weights(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 0, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// A bias operand that operandSegmentSizes does not announce.
// CHECK: error: {{.*}}'pconv.conv2d' op: operandSegmentSizes is array<i32: 1, 1, 0> but the op has 3 operands: it must be array<i32: 1, 1, 1>
func.func @segments_unannounced_bias(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>, %b: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w, %b) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// IRDL requires operandSegmentSizes.
// CHECK: conv2d-invalid.mlir:{{[0-9]+}}:{{[0-9]+}}: error: 'pconv.conv2d' op attribute "operandSegmentSizes" is expected but not provided
func.func @segments_missing(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none"} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: kernel_pattern must hold i8 pattern ids (-1 = removed), got tensor<2x1xi32>
func.func @map_i32(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi32>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// 128 patterns: pattern ids are i8 and -1 marks a removed kernel, so a layer has at most 127.
// CHECK: error: {{.*}}'pconv.conv2d' op: patterns holds 128 patterns, more than the 127 a layer may have
func.func @too_many_patterns(%x: tensor<1x1x3x3xf32>, %w: tensor<18xf32>) -> tensor<1x2x3x3xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<true> : tensor<128x1x1xi1>, kernel_pattern = dense<[[0], [127]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<18xf32>) -> tensor<1x2x3x3xf32>
  return %0 : tensor<1x2x3x3xf32>
}

// -----

// A tuned schedule (fretsaw/tune.py) is array<i64: rows, vectors, tile, units, filters> (or its first three or four).
// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule must be array<i64: rows, vectors, tile, units, filters>, got array<i32: 1, 1, 1>
func.func @schedule_kind(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i32: 1, 1, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule must be array<i64: rows, vectors, tile, units, filters>, got array<i64: 1, 1>
func.func @schedule_length(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 1, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule = array<i64: -1, 1, 1>: rows=-1 is negative: give a count >= 1, or 0 for the heuristic's choice; tune again or remove the attribute
func.func @schedule_negative(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: -1, 1, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule = array<i64: 2, 0, 1>: rows=2 and vectors=0 go together
func.func @schedule_half_block(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 2, 0, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule = array<i64: 1000, 1, 1>: rows=1000 exceeds the 2 output row(s) pconv-vectorize computes
func.func @schedule_rows(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 1000, 1, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule = array<i64: 1, 3, 1>: vectors=3 exceeds the 2 output columns
func.func @schedule_vectors(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 1, 3, 1>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv2d' op: fretsaw.schedule = array<i64: 1, 1, 2>: tile=2 exceeds the conv's 1 input channels per group
func.func @schedule_tile(%x: tensor<1x1x3x3xf32>, %w: tensor<4xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>, fretsaw.schedule = array<i64: 1, 1, 2>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}

// RUN: not fretsaw-opt %s --split-input-file 2>&1 | filecheck %s

// The verifier of pconv.conv3d is conv2d's at rank 3: every inconsistency is named.

// CHECK: error: {{.*}}'pconv.conv3d' op: input must have rank 5, got tensor<1x1x3x3xf32>
func.func @input_rank(%x: tensor<1x1x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: patterns must be a P x K1 x K2 x K3 i1 table (3 spatial dims), got tensor<1x2x2xi1>
func.func @patterns_rank(%x: tensor<1x1x3x3x3xf32>, %w: tensor<8xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<8xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: padding must be array<i64: 6 integers >= 0> for 3 spatial dims, got [0, 0, 0, 0]
func.func @padding_length(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: output shape [1, 2, 2, 2, 3] does not match the convolution's shape [1, 2, 2, 2, 2]
func.func @output(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x3xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x3xf32>
  return %0 : tensor<1x2x2x2x3xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: the kernel spans 2x3x2 (with dilation) but the padded input is only 3x2x3: the convolution has no output position
func.func @kernel_too_large(%x: tensor<1x1x3x2x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x1x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 2, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x2x3xf32>, tensor<16xf32>) -> tensor<1x2x2x1x2xf32>
  return %0 : tensor<1x2x2x1x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: group_shape 2x2 does not tile the 2x3 kernels (Cout x Cin/groups)
func.func @group_tiling(%x: tensor<1x3x3x3x3xf32>, %w: tensor<48xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x3xi8>, group_shape = array<i64: 2, 2>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x3x3x3xf32>, tensor<48xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: kernel group (filters 0..1, input channels 2..3) mixes pattern ids [-1, 0]: the kernels of a group of group_shape 2x2 share one pattern (or are removed together)
func.func @group_mixed(%x: tensor<1x4x3x3x3xf32>, %w: tensor<56xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<[[0, 0, 0, -1], [0, 0, 0, 0]]> : tensor<2x4xi8>, group_shape = array<i64: 2, 2>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x4x3x3x3xf32>, tensor<56xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// A kernel group may not span two conv groups: its filters would read different input channels.
// CHECK: error: {{.*}}'pconv.conv3d' op: group_shape 2x1: 2 filters do not divide the 1 filters of a conv group (groups=2); a kernel group's filters must read the same input channels
func.func @group_across_conv_groups(%x: tensor<1x2x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, group_shape = array<i64: 2, 1>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 2 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: group_shape must be array<i64: gOut, gIn> of two integers >= 1, got array<i64: 0, 1>
func.func @group_shape_value(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, group_shape = array<i64: 0, 1>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// A conv3d's tuned schedule (the kernel-group lowering's) gives rows, vectors and filters together.
// CHECK: error: {{.*}}'pconv.conv3d' op: fretsaw.schedule = array<i64: 1, 1, 1>: rows=1, vectors=1 and filters=0 go together for a kernel-group conv
func.func @schedule(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, fretsaw.schedule = array<i64: 1, 1, 1>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// CHECK: error: {{.*}}'pconv.conv3d' op: filter_order must be a 1-D i32 table (dense<...> : tensor<Nxi32>), got "0, 1"
func.func @filter_order_kind(%x: tensor<1x1x3x3x3xf32>, %w: tensor<16xf32>) -> tensor<1x2x2x2x2xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x2x2x2xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, filter_order = "0, 1", strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<16xf32>) -> tensor<1x2x2x2x2xf32>
  return %0 : tensor<1x2x2x2x2xf32>
}

// -----

// A pointwise conv3d is computed as the 2-D GEMM over its pixels, which tuning does not search.
// CHECK: error: {{.*}}'pconv.conv3d' op: fretsaw.schedule: a pointwise pconv.conv3d takes no tuned schedule; remove the attribute
func.func @pointwise_schedule(%x: tensor<1x1x3x3x3xf32>, %w: tensor<2xf32>) -> tensor<1x2x3x3x3xf32> {
  %0 = "pconv.conv3d"(%x, %w) {patterns = dense<true> : tensor<1x1x1x1xi1>, kernel_pattern = dense<0> : tensor<2x1xi8>, fretsaw.schedule = array<i64: 1, 1, 1>, strides = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3x3xf32>, tensor<2xf32>) -> tensor<1x2x3x3x3xf32>
  return %0 : tensor<1x2x3x3x3xf32>
}

// The pconv dialect: sparse convolutions whose kernels keep one of a few fixed shapes, over 2
// (conv2d, NCHW) or 3 (conv3d, NCDHW) spatial dims. Structure is checked here (operand and
// attribute kinds); the semantic checks that need numbers (ranks, table shapes, packed-weight
// length, output shape) live in dialect/pconv.py, one verifier for both ops.
// Each constraint value is used once: a shared `irdl.base` would force equal types.
//
// Optional attributes (this IRDL has no optional attributes, so they are listed here and checked
// by dialect/pconv.py):
//   group_shape       array<i64: gOut, gIn>  kernel groups whose kernels share one pattern (KGS)
//   filter_order      tensor<Cout x i32>     pconv-filter-kernel-reorder: the filters' order
//   filter_groups     tensor<G+1 x i32>      pconv-filter-kernel-reorder: balanced groups
//   fkw_stride        tensor<Cout*P+1 x i32> pconv-pack-fkw: kernels per (filter, pattern)
//   fkw_index         tensor<K x i32>        pconv-pack-fkw: each kept kernel's input channel
//   fretsaw.schedule  array<i64: rows, vectors, tile, units>  a tuned 2-D schedule (fretsaw/tune.py)
irdl.dialect @pconv {
  irdl.operation @conv2d {
    %input = irdl.base "!builtin.tensor"
    %weights = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %output = irdl.base "!builtin.tensor"
    %patterns = irdl.base "#builtin.dense_typed_elements"
    %kernel_pattern = irdl.base "#builtin.dense_typed_elements"
    %strides = irdl.base "#builtin.dense_array"
    %padding = irdl.base "#builtin.dense_array"
    %dilations = irdl.base "#builtin.dense_array"
    %groups = irdl.base "#builtin.integer"
    %activation = irdl.base "#builtin.string"
    %segments = irdl.base "#builtin.dense_array"
    irdl.operands(input: %input, packed_weights: %weights, bias: optional %bias)
    irdl.results(output: %output)
    irdl.attributes {
      "patterns" = %patterns,
      "kernel_pattern" = %kernel_pattern,
      "strides" = %strides,
      "padding" = %padding,
      "dilations" = %dilations,
      "groups" = %groups,
      "activation" = %activation,
      "operandSegmentSizes" = %segments
    }
  }
  irdl.operation @conv3d {
    %input = irdl.base "!builtin.tensor"
    %weights = irdl.base "!builtin.tensor"
    %bias = irdl.base "!builtin.tensor"
    %output = irdl.base "!builtin.tensor"
    %patterns = irdl.base "#builtin.dense_typed_elements"
    %kernel_pattern = irdl.base "#builtin.dense_typed_elements"
    %strides = irdl.base "#builtin.dense_array"
    %padding = irdl.base "#builtin.dense_array"
    %dilations = irdl.base "#builtin.dense_array"
    %groups = irdl.base "#builtin.integer"
    %activation = irdl.base "#builtin.string"
    %segments = irdl.base "#builtin.dense_array"
    irdl.operands(input: %input, packed_weights: %weights, bias: optional %bias)
    irdl.results(output: %output)
    irdl.attributes {
      "patterns" = %patterns,
      "kernel_pattern" = %kernel_pattern,
      "strides" = %strides,
      "padding" = %padding,
      "dilations" = %dilations,
      "groups" = %groups,
      "activation" = %activation,
      "operandSegmentSizes" = %segments
    }
  }
}

// The pconv dialect: sparse convolutions whose kernels keep one of a few fixed shapes.
// Structure is checked here (operand/attribute kinds); the semantic checks that need
// numbers (table shapes, packed-weight length, output shape) live in dialect/pconv.py.
// Each constraint value is used once: a shared `irdl.base` would force equal types.
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
}

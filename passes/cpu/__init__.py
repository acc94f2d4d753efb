"""The CPU SIMD lowerings' own modules: pconv-vectorize's input staging, load-redundancy
elimination, register blocks and channel tiles; dense-vectorize's pooling. Target-neutral
planning is in passes/conv/."""

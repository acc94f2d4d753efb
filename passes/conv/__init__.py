"""Target-neutral planning of a pconv convolution: what every lowering of it (CPU SIMD, GPU,
the scalar reference) shares. No IR is emitted here except the epilogue's few ops."""

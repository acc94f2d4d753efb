"""The CPU SIMD lowering's own modules (pconv-vectorize): input staging, load-redundancy
elimination, register blocks and channel tiles. Target-neutral planning is in passes/conv/."""

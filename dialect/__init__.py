"""fretsaw.dialect: the pconv sparse-convolution dialect (IRDL definition + Python helpers)."""

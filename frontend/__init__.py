"""fretsaw.frontend: importing PyTorch modules and ONNX models into MLIR."""

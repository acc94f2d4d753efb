// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(profile-ops)' | filecheck %s
// RUN: not fretsaw-opt %s --pass-pipeline='builtin.module(profile-ops{entry=other})' 2>&1 | filecheck %s --check-prefix=ENTRY
// RUN: not fretsaw-opt %s --pass-pipeline='builtin.module(profile-ops, profile-ops)' 2>&1 | filecheck %s --check-prefix=TWICE
// RUN: not fretsaw-opt %S/Inputs/profile-ops-invalid.mlir --pass-pipeline='builtin.module(profile-ops)' 2>&1 | filecheck %S/Inputs/profile-ops-invalid.mlir

// The entry's body starts with stamp 0 and each top-level op that does work (a loop, a linalg op,
// a copy, a call) is followed by the next stamp; the free ops (views, constants, allocs, stores)
// fall into the next interval, nothing is stamped inside a loop, and the module names each
// interval's layer from the location of the op that ends it.
// CHECK: module attributes {fretsaw.profile = ["layer1 (conv)", "layer1 (conv)", "pool (pooling)", "?"]}
// CHECK: func.func private @fretsaw_profile_stamp(index)
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %[[S0:.*]] = arith.constant 0 : index
// CHECK-NEXT: call @fretsaw_profile_stamp(%[[S0]]) : (index) -> ()
// CHECK: memref.alloc
// CHECK: scf.parallel
// CHECK-NOT: call @fretsaw_profile_stamp
// CHECK: scf.reduce
// CHECK-NEXT: }
// CHECK-NEXT: %[[S1:.*]] = arith.constant 1 : index
// CHECK-NEXT: call @fretsaw_profile_stamp(%[[S1]])
// CHECK-NEXT: scf.for
// CHECK-NOT: call
// CHECK: }
// CHECK-NEXT: %[[S2:.*]] = arith.constant 2 : index
// CHECK-NEXT: call @fretsaw_profile_stamp(%[[S2]])
// CHECK-NEXT: memref.store
// CHECK-NEXT: linalg.fill
// CHECK-NEXT: %[[S3:.*]] = arith.constant 3 : index
// CHECK-NEXT: call @fretsaw_profile_stamp(%[[S3]])
// CHECK-NEXT: memref.copy
// CHECK-NEXT: %[[S4:.*]] = arith.constant 4 : index
// CHECK-NEXT: call @fretsaw_profile_stamp(%[[S4]])
// CHECK-NEXT: memref.dealloc
// CHECK-NEXT: return
// CHECK-NOT: fretsaw_profile_stamp
// ENTRY: profile-ops: the module has no function @other with a body to time; name the entry point with profile-ops{entry=...}
// TWICE: error: 'func.func' op: the module already calls @fretsaw_profile_stamp: profile-ops runs once
func.func @main(%v: f32, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %a = memref.alloc() : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    memref.store %v, %a[%i] : memref<4xf32>
    scf.reduce
  } loc("layer1"("/torch/nn/modules/conv.py":1:1))
  scf.for %i = %c0 to %c4 step %c1 {
    memref.store %v, %out[%i] : memref<4xf32>
  } loc("layer1"("/torch/nn/modules/conv.py":1:1))
  memref.store %v, %a[%c0] : memref<4xf32>
  linalg.fill ins(%v : f32) outs(%a : memref<4xf32>) loc("pool"("/torch/nn/modules/pooling.py":2:1))
  memref.copy %a, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  return
}

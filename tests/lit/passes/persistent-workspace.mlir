// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(persistent-workspace)' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(persistent-workspace{min-bytes=16})' | filecheck %s --check-prefix=SMALL

// A top-level static alloc of at least min-bytes (default 128 KiB) freed in its own block becomes
// an uninitialised private global, its dealloc gone. Small allocs, allocs inside loops and allocs
// that are never freed here (returned to the caller) stay.
// CHECK: memref.global "private" @__fretsaw_workspace_0 : memref<64x1024xf32> = uninitialized {alignment = 64 : i64}
// CHECK-NOT: memref.global
// CHECK-LABEL: func.func @main
// CHECK: %[[BIG:.*]] = memref.get_global @__fretsaw_workspace_0 : memref<64x1024xf32>
// CHECK: %[[TINY:.*]] = memref.alloc() : memref<4xf32>
// CHECK: %[[KEPT:.*]] = memref.alloc() : memref<64x1024xf32>
// CHECK: scf.for
// CHECK: memref.alloc() : memref<64x1024xf32>
// CHECK: memref.dealloc
// CHECK: memref.store {{.*}}, %[[BIG]]
// CHECK-NOT: memref.dealloc %[[BIG]]
// CHECK: memref.dealloc %[[TINY]]
// CHECK: return %[[KEPT]]
// With min-bytes=16 the 16-byte alloc goes too.
// SMALL-DAG: memref.global "private" @__fretsaw_workspace_{{[0-9]}} : memref<4xf32>
// SMALL-DAG: memref.global "private" @__fretsaw_workspace_{{[0-9]}} : memref<64x1024xf32>
// SMALL-NOT: memref.dealloc %{{.*}} : memref<4xf32>
func.func @main(%v: f32, %n: index) -> memref<64x1024xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %big = memref.alloc() : memref<64x1024xf32>
  %small = memref.alloc() : memref<4xf32>
  %kept = memref.alloc() : memref<64x1024xf32>
  scf.for %i = %c0 to %n step %c1 {
    %inner = memref.alloc() : memref<64x1024xf32>
    memref.store %v, %inner[%c0, %c0] : memref<64x1024xf32>
    memref.dealloc %inner : memref<64x1024xf32>
  }
  memref.store %v, %big[%c0, %c0] : memref<64x1024xf32>
  memref.store %v, %small[%c0] : memref<4xf32>
  memref.store %v, %kept[%c0, %c0] : memref<64x1024xf32>
  memref.dealloc %big : memref<64x1024xf32>
  memref.dealloc %small : memref<4xf32>
  return %kept : memref<64x1024xf32>
}

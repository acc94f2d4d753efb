// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(persistent-workspace)' | filecheck %s
// RUN: fretsaw-opt %s --split-input-file --pass-pipeline='builtin.module(persistent-workspace{min-bytes=16})' | filecheck %s --check-prefix=SMALL

// A top-level static alloc of at least min-bytes (default 128 KiB) freed in its own block becomes
// a view of one uninitialised private i8 global, its dealloc gone. Small allocs, allocs inside
// loops and allocs that are never freed here (returned to the caller) stay.
// CHECK: memref.global "private" @__fretsaw_workspace_0 : memref<262144xi8> = uninitialized {alignment = 64 : i64}
// CHECK-NOT: memref.global
// CHECK-LABEL: func.func @main
// CHECK: %[[ARENA:.*]] = memref.get_global @__fretsaw_workspace_0 : memref<262144xi8>
// CHECK: %[[BIG:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<262144xi8> to memref<64x1024xf32>
// CHECK: %[[TINY:.*]] = memref.alloc() : memref<4xf32>
// CHECK: %[[KEPT:.*]] = memref.alloc() : memref<64x1024xf32>
// CHECK: scf.for
// CHECK: memref.alloc() : memref<64x1024xf32>
// CHECK: memref.dealloc
// CHECK: memref.store {{.*}}, %[[BIG]]
// CHECK-NOT: memref.dealloc %[[BIG]]
// CHECK: memref.dealloc %[[TINY]]
// CHECK: return %[[KEPT]]
// With min-bytes=16 the 16-byte alloc goes too, into the same arena after the big one.
// SMALL: memref.global "private" @__fretsaw_workspace_0 : memref<262208xi8>
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

// -----

// Three layers' buffers, deallocated together at the end as the deallocation pipeline leaves them.
// %a is last used (through a subview, inside a loop) by the op that fills %b; %c comes after
// that: %a and %c share bytes 0.., %b (live with both) gets its own, so the arena holds two
// buffers, not three.
// CHECK: memref.global "private" @__fretsaw_workspace_0 : memref<524288xi8>
// CHECK-LABEL: func.func @layers
// CHECK: memref.view %{{.*}}[%c0{{[_0-9]*}}][] : memref<524288xi8> to memref<64x1024xf32>
// CHECK: memref.view %{{.*}}[%c262144][] : memref<524288xi8> to memref<64x1024xf32>
// CHECK: memref.view %{{.*}}[%c0{{[_0-9]*}}][] : memref<524288xi8> to memref<32x2048xf32>
// CHECK-NOT: memref.dealloc
func.func @layers(%v: f32, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<64x1024xf32>
  memref.store %v, %a[%c0, %c0] : memref<64x1024xf32>
  %b = memref.alloc() : memref<64x1024xf32>
  %row = memref.subview %a[0, 0] [1, 1024] [1, 1] : memref<64x1024xf32> to memref<1024xf32, strided<[1]>>
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %row[%i] : memref<1024xf32, strided<[1]>>
    memref.store %x, %b[%i, %c0] : memref<64x1024xf32>
  }
  %c = memref.alloc() : memref<32x2048xf32>
  %y = memref.load %b[%c0, %c0] : memref<64x1024xf32>
  memref.store %y, %c[%c0, %c0] : memref<32x2048xf32>
  %z = memref.load %c[%c0, %c0] : memref<32x2048xf32>
  memref.dealloc %a : memref<64x1024xf32>
  memref.dealloc %b : memref<64x1024xf32>
  memref.dealloc %c : memref<32x2048xf32>
  return %z : f32
}

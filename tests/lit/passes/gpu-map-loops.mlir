// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(gpu-map-loops)' | filecheck %s

// A 2-D parallel loop of 8 x 100 iterations becomes 800 threads in 13 workgroups of 64 (the
// last one's threads past 800 do nothing), its coordinates taken apart again; the reduction loop
// inside stays in each thread.
// CHECK-LABEL: func.func @loops
// CHECK: scf.parallel (%[[WG:.*]], %[[T:.*]]) = (%{{.*}}, %{{.*}}) to (%c13, %c64)
// CHECK: %[[FLAT:.*]] = arith.addi
// CHECK: arith.cmpi ult, %[[FLAT]], %c800
// CHECK: arith.remui %[[FLAT]], %c100
// CHECK: arith.divui %[[FLAT]], %c100
// CHECK: scf.for
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_x{{.*}}processor = thread_x
// A copy is one thread per element; a lone reduction loop one thread.
// CHECK: scf.parallel
// CHECK: memref.load %arg1
// CHECK: memref.store {{.*}}, %arg2
// CHECK: processor = thread_x
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%c64{{.*}})
// CHECK: arith.cmpi ult, %{{.*}}, %c1{{.*}} : index
// CHECK: scf.for
// CHECK-NOT: memref.copy
func.func @loops(%a: memref<8x100xf32>, %b: memref<8x100xf32>, %c: memref<8x100xf32>, %s: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c100 = arith.constant 100 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c8, %c100) step (%c1, %c1) {
    scf.for %k = %c0 to %c8 step %c1 {
      %x = memref.load %a[%k, %j] : memref<8x100xf32>
      memref.store %x, %c[%i, %j] : memref<8x100xf32>
    }
  }
  memref.copy %b, %c : memref<8x100xf32> to memref<8x100xf32>
  scf.for %k = %c0 to %c8 step %c1 {
    %x = memref.load %a[%k, %c0] : memref<8x100xf32>
    memref.store %x, %s[] : memref<f32>
  }
  return
}

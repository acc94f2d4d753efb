// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(spirv-target{device=mali})' | filecheck %s
// RUN: fretsaw-opt %s --pass-pipeline='builtin.module(spirv-target{device=adreno f16=true})' | filecheck %s --check-prefix=F16

// The device's target env on each kernel module (Mali-class: subgroup 16, 512 invocations), and
// each kernel's workgroup size from its launch's known block size.
// CHECK: gpu.module @main_kernel [#spirv.target_env<#spirv.vce<v1.3, [Shader], [SPV_KHR_storage_buffer_storage_class]>
// CHECK-SAME: max_compute_workgroup_invocations = 512
// CHECK-SAME: subgroup_size = 16
// CHECK: gpu.func @main_kernel
// CHECK-SAME: spirv.entry_point_abi = #spirv.entry_point_abi<workgroup_size = [64, 1, 1]>
// With f16 the env asks fp16 arithmetic and 16-bit storage buffers.
// F16: #spirv.vce<v1.3, [Shader, Float16, StorageBuffer16BitAccess], [SPV_KHR_storage_buffer_storage_class, SPV_KHR_16bit_storage]>
// F16-SAME: subgroup_size = 64
module attributes {gpu.container_module} {
  gpu.module @main_kernel {
    gpu.func @main_kernel(%arg0: memref<64xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
      gpu.return
    }
  }
}

#!/usr/bin/env bash
# Brings a fresh Debian machine to the point where fretsaw runs and tests:
# Debian packages (only those missing), .venv with the pinned requirements, fretsaw editable.
set -euo pipefail
cd "$(dirname "$0")/.."

# libmlir-22 ships libmlir_c_runner_utils (memrefCopy), which the torch-mlir wheel lacks;
# libomp-22-dev ships libomp.so, the OpenMP runtime of the threaded conv loops.
# llvm-22 (opt-22, llc-22, llvm-mca-22), gcc-aarch64-linux-gnu and qemu-user build and run the
# AArch64 backend's code; make builds its artifacts.
# mesa-vulkan-drivers (lavapipe, a CPU Vulkan driver) and libvulkan1 (the loader) run the SPIR-V
# backend's kernels (libvulkan-dev: the headers of its example C loader); spirv-tools' spirv-val checks
# them; glslang-tools builds the runtime's test shaders.
DEBIAN_PACKAGES=(libmlir-22 libomp-22-dev llvm-22 gcc-aarch64-linux-gnu qemu-user make
                 mesa-vulkan-drivers libvulkan1 libvulkan-dev spirv-tools glslang-tools)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.fretsaw-installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: pip install -r requirements.txt && pip install -e ."
  .venv/bin/pip install -q -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
  .venv/bin/pip install -q --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)
  touch "$stamp"
fi

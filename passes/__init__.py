"""fretsaw.passes: fretsaw's own passes, one file each named like the pass, and their registry.

Shared code lives beside them, not in a pass: builders.py (IR builders), match.py (queries on IR
values), conv/ (target-neutral planning of a pconv conv: epilogue, shared rewrites).
"""

from fretsaw.passes.base import ModulePass
from fretsaw.passes.check_buffer_reads import CheckBufferReads
from fretsaw.passes.dense_vectorize import DenseVectorize
from fretsaw.passes.distinct_results import DistinctResults
from fretsaw.passes.fold_result_copies import FoldResultCopies
from fretsaw.passes.gpu_map_loops import MapLoops
from fretsaw.passes.gpu_matmul import GpuMatmul
from fretsaw.passes.mca_regions import McaRegions
from fretsaw.passes.pconv_drop_dead_filters import DropDeadFilters
from fretsaw.passes.pconv_filter_kernel_reorder import FilterKernelReorder
from fretsaw.passes.pconv_fold_constant_channels import FoldConstantChannels
from fretsaw.passes.pconv_gpu import Gpu
from fretsaw.passes.pconv_lower import Lower
from fretsaw.passes.pconv_pack_fkw import PackFkw
from fretsaw.passes.pconv_raise import Raise
from fretsaw.passes.pconv_vectorize import Vectorize
from fretsaw.passes.pconv_verify import Verify
from fretsaw.passes.persistent_workspace import PersistentWorkspace
from fretsaw.passes.profile_ops import ProfileOps
from fretsaw.passes.spirv_target import SpirvTarget

# pipeline name -> pass class; the pipeline parser looks names up here first.
REGISTRY: dict[str, type[ModulePass]] = {p.name: p for p in (
    Raise, FoldConstantChannels, DropDeadFilters, Verify, FilterKernelReorder, PackFkw, Lower, Vectorize,
    DenseVectorize, CheckBufferReads, DistinctResults, FoldResultCopies, PersistentWorkspace, ProfileOps, McaRegions, Gpu, GpuMatmul, MapLoops, SpirvTarget)}

__all__ = ["REGISTRY", "ModulePass"]

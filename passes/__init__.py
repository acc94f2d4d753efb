"""fretsaw.passes: fretsaw's own passes, one file each, and their registry."""

from fretsaw.passes.base import ModulePass
from fretsaw.passes.check_buffer_reads import CheckBufferReads
from fretsaw.passes.constant_channels import DropDeadFilters, FoldConstantChannels
from fretsaw.passes.dense import DenseVectorize
from fretsaw.passes.distinct_results import DistinctResults
from fretsaw.passes.fkw import FilterKernelReorder, PackFkw
from fretsaw.passes.lower import Lower
from fretsaw.passes.mca import McaRegions
from fretsaw.passes.raise_ import Raise
from fretsaw.passes.vectorize import Vectorize
from fretsaw.passes.verify import Verify
from fretsaw.passes.workspace import PersistentWorkspace

# pipeline name -> pass class; the pipeline parser looks names up here first.
REGISTRY: dict[str, type[ModulePass]] = {p.name: p for p in (
    Raise, FoldConstantChannels, DropDeadFilters, Verify, FilterKernelReorder, PackFkw, Lower, Vectorize,
    DenseVectorize, CheckBufferReads, DistinctResults, PersistentWorkspace, McaRegions)}

__all__ = ["REGISTRY", "ModulePass"]

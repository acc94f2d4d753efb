"""What the GPU lowerings share: scf.parallel loops mapped to workgroups and threads."""

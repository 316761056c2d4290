"""Between a batched DGLGraph's flat atom rows and dense (molecules, max atoms, ...) tensors."""

from __future__ import annotations

from dataclasses import dataclass

import dgl
import torch


@dataclass
class AtomLayout:
    """Where each atom of a batched graph sits in the padded (B, N) layout."""

    molecule: torch.Tensor  # (V,) molecule index of each atom
    position: torch.Tensor  # (V,) index of each atom inside its molecule
    mask: torch.Tensor  # (B, N) True for real atoms

    @classmethod
    def of(cls, graph: dgl.DGLGraph) -> "AtomLayout":
        counts = graph.batch_num_nodes()
        device = counts.device
        molecule = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts)
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(graph.num_nodes(), device=device) - starts[molecule]
        n_max = int(counts.max()) if counts.numel() else 0
        mask = torch.arange(n_max, device=device)[None, :] < counts[:, None]
        return cls(molecule, position, mask)

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> "AtomLayout":
        """The layout whose real positions are True in a (B, N) mask (molecules' atoms first)."""
        molecule, position = mask.nonzero(as_tuple=True)
        return cls(molecule, position, mask)

    def edges(self, graph: dgl.DGLGraph) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each edge of ``graph`` as (molecule, source position, target position) in this layout."""
        src, dst = graph.edges()
        return self.molecule[src], self.position[src], self.position[dst]

    def pad(self, atoms: torch.Tensor) -> torch.Tensor:
        """(V, ...) -> (B, N, ...) with zeros at padding."""
        dense = atoms.new_zeros(*self.mask.shape, *atoms.shape[1:])
        dense[self.molecule, self.position] = atoms
        return dense

    def unpad(self, dense: torch.Tensor) -> torch.Tensor:
        """(B, N, ...) -> (V, ...)."""
        return dense[self.molecule, self.position]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of (B, L, d) counting only positions where mask (B, L) is True."""
    weights = mask.to(values.dtype).unsqueeze(-1)
    return (values * weights).sum(1) / weights.sum(1).clamp(min=1.0)

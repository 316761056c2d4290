"""Data-parallel helpers driven by torchrun's environment, so the same command runs on 1 or N processes.

``torchrun --nproc_per_node N -m lgmcl_dgl pretrain ...`` (or ``--nnodes``/``--rdzv-endpoint`` for
several machines) sets RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT; without them every helper
here degrades to a single process. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment variables (idempotent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        use_cuda = resolve_device(device).type == "cuda"
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info()


def info() -> DistInfo:
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo(0, 1, 0)


def rank() -> int:
    return info().rank


def world_size() -> int:
    return info().world_size


def is_main() -> bool:
    return info().is_main


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: this process's GPU (LOCAL_RANK) when CUDA is available, else the CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(device)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over processes (a copy; the input is left alone)."""
    if world_size() == 1:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out / world_size()


def average_gradients(parameters) -> None:
    """Average ``.grad`` over processes in one flat all-reduce (what DDP does, for any model method).

    Calling this after backward works whatever methods the step function called on the model,
    which ``DistributedDataParallel`` (hooked to ``forward`` only) does not.
    """
    world = world_size()
    if world == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.size = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every process's loss depends on every slice
        return grad[ctx.rank * ctx.size:(ctx.rank + 1) * ctx.size]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate equal-sized (B, ...) tensors from all processes in rank order; gradients flow back.

    With gradients averaged over processes afterwards, a loss computed on the gathered batch
    gets exactly the gradient of the single-process loss on the global batch (any backend).
    """
    if world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Send a picklable object from ``src`` to every process (in memory; nothing read from disk)."""
    if world_size() == 1:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order, on every process."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

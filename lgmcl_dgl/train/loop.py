"""The one training loop behind ``pretrain`` and ``finetune``: resumable, data-parallel, logged.

The caller supplies the model, a map-style dataset with its collate function, and a step function
``step_fn(model, batch) -> {"loss": tensor, **other scalar tensors}``; the loop owns everything
else: optimiser, warm-up schedule, gradient accumulation and clipping, AMP on CUDA, periodic
atomic checkpoints, per-epoch evaluation with early stopping and best weights, logs and plots.

Reproducibility across a kill: an epoch's batches are a function of ``(seed, epoch)`` (and, with
``atom_budget``, of the atom counts: ``batching.py``), so the position ``(epoch, batch)`` plus the
RNG states saved with each checkpoint let a resumed run continue with exactly the batches and
dropout masks an uninterrupted run would have used.

Data parallelism: ``batch_size`` is the global micro-batch; each of the N processes takes its
contiguous 1/N of every micro-batch, and gradients are averaged over processes before each
optimiser step, so a run's result does not depend on how many processes share it.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lgmcl_dgl.train import distributed
from lgmcl_dgl.train.batching import plain_batches, sized_batches
from lgmcl_dgl.train.checkpoint import (capture_rng_state, discard_after, list_checkpoints, load_latest, restore_rng_state,
                                        save_checkpoint)
from lgmcl_dgl.train.logging import STEP_LOG, RunLogger, epoch_line, log, peak_memory_mb

StepFn = Callable[[torch.nn.Module, Any], dict[str, torch.Tensor]]
EvaluateFn = Callable[[torch.nn.Module], dict[str, float]]
CHECKPOINT_DIR = "checkpoints"


@dataclass
class ParamGroup:
    """Parameters under some top-level modules, trained at ``lr_factor`` x the run's rate (warm-up and decay
    included) and frozen for the first ``frozen_epochs`` epochs; e.g. pretrained encoders beside a fresh head."""

    modules: list[str]  # names of the model's direct children
    lr_factor: float = 1.0
    frozen_epochs: int = 0

    def __post_init__(self) -> None:
        self.modules = list(self.modules)
        if self.lr_factor < 0 or self.frozen_epochs < 0:
            raise ValueError(f"lr_factor and frozen_epochs must be >= 0, got {self.lr_factor} and {self.frozen_epochs}")


@dataclass
class TrainConfig:
    """How to train; model and data settings live elsewhere."""

    epochs: int = 10
    max_steps: int | None = None  # optimiser steps in total (over resumes); stops before ``epochs`` if reached
    time_limit: float | None = None  # seconds of training in this invocation; then checkpoint and stop
    batch_size: int = 64  # global micro-batch (all processes together)
    grad_accum: int = 1  # micro-batches per optimiser step
    lr: float = 1e-4
    weight_decay: float = 0.0
    optimizer: str = "adamw"  # adamw | adam (adam: L2 penalty, as the reference implementation)
    warmup_steps: int = 0
    warmup_epochs: float = 0.0  # the warm-up given in epochs instead (the loop knows their steps); not both
    schedule: str = "cosine"  # cosine | linear | constant, after warm-up
    param_groups: list[ParamGroup] = field(default_factory=list)  # parameters trained apart; the rest: lr, never frozen
    clip_norm: float | None = 1.0
    checkpoint_every: int = 500  # optimiser steps; a checkpoint is also written at every epoch end and at the end
    keep_last: int = 3
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling)
    log_every: int = 10
    num_workers: int = 0
    shuffle: bool = True
    drop_last: bool = False  # size-blind batches only (with a budget no molecule is left out)
    atom_budget: int = 0  # padded atom slots (molecules x largest) per micro-batch, size-aware batches; 0: size-blind
    resume: bool = True  # continue from the latest checkpoint in the output directory if there is one
    monitor: str | None = None  # evaluation metric for early stopping and best weights
    mode: str = "max"  # max | min
    patience: int | None = None  # epochs without improvement before stopping
    progress: bool = True
    tensorboard: bool = True
    label: str = ""  # names the progress bar and each epoch line when a caller trains several models, e.g. "seed 2"

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "adam"):
            raise ValueError(f"optimizer must be adamw or adam, not {self.optimizer!r}")
        if self.schedule not in ("cosine", "linear", "constant"):
            raise ValueError(f"schedule must be cosine, linear or constant, not {self.schedule!r}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be max or min, not {self.mode!r}")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be >= 1")
        if self.atom_budget < 0:
            raise ValueError(f"atom_budget must be >= 0 (0: size-blind batches), got {self.atom_budget}")
        if self.warmup_steps and self.warmup_epochs:
            raise ValueError("give the warm-up in steps or in epochs, not both")
        if self.warmup_steps < 0 or self.warmup_epochs < 0:
            raise ValueError("the warm-up must be >= 0")
        self.param_groups = [ParamGroup(**g) if isinstance(g, dict) else g for g in self.param_groups]


@dataclass
class TrainResult:
    step: int
    epoch: int  # epochs fully completed
    stopped_because: str  # epochs | max_steps | time_limit | early_stopping | interrupted
    molecules_seen: int
    train_seconds: float  # over all invocations of this run
    last_metrics: dict[str, float] = field(default_factory=dict)
    best_metrics: dict[str, float] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch, "epoch" from 1


@dataclass
class _State:
    """Everything besides tensors that a resumed run needs; saved as JSON in each checkpoint."""

    step: int = 0
    epoch: int = 0  # epochs finished; the one in progress is logged and shown as epoch + 1
    batch_in_epoch: int = 0
    molecules_seen: int = 0
    train_seconds: float = 0.0
    best_value: float | None = None
    best_metrics: dict[str, float] | None = None
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    finished: str | None = None  # set by early stopping: a resumed run does not train on
    epoch_sums: dict[str, float] = field(default_factory=dict)  # the current epoch so far (its log row)
    epoch_steps: int = 0
    epoch_molecules: int = 0
    epoch_seconds: float = 0.0
    epoch_cpu_seconds: float = 0.0  # CPU of this process (all threads) in the epoch: unlike wall, not others' load


class EpochBatches:
    """Micro-batches of one epoch, a function of (seed, epoch); each batch split over processes.

    With ``atom_budget`` (and the items' ``atom_counts``), batches group molecules of similar size
    under that budget of padded atom slots (``batching.sized_batches``); without, they are
    consecutive slices of a permutation.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, shuffle: bool = True, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1, atom_counts: np.ndarray | None = None, atom_budget: int = 0):
        if world_size > batch_size:
            raise ValueError(f"batch_size {batch_size} is smaller than the {world_size} processes sharing it")
        if atom_budget and (atom_counts is None or len(atom_counts) != n_items):
            raise ValueError("an atom budget needs the atom count of every item")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.shuffle, self.drop_last, self.rank, self.world_size = shuffle, drop_last, rank, world_size
        self.atom_counts, self.atom_budget = atom_counts, atom_budget
        self._epoch: tuple[int, list[np.ndarray]] | None = None

    def count(self, epoch: int) -> int:
        """Batches in ``epoch`` (with a budget it varies a little from epoch to epoch)."""
        return len(self.global_batches(epoch))

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        if self._epoch is None or self._epoch[0] != epoch:
            if self.atom_budget:
                batches = sized_batches(self.atom_counts, self.batch_size, self.atom_budget, self.seed, epoch,
                                        self.shuffle, min_items=self.world_size)
            else:
                batches = plain_batches(self.n_items, self.batch_size, self.seed, epoch, self.shuffle, self.drop_last,
                                        self.world_size)
            self._epoch = (epoch, batches)
        return self._epoch[1]

    def local_batches(self, epoch: int) -> list[list[int]]:
        return [np.array_split(b, self.world_size)[self.rank].tolist() for b in self.global_batches(epoch)]


def lr_lambda(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Linear warm-up to the base rate, then cosine / linear decay to zero at ``total_steps``, or constant."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress

    return factor


def train(model: torch.nn.Module, dataset: Sequence, collate: Callable, step_fn: StepFn,
          out_dir: str | Path, config: TrainConfig, evaluate: EvaluateFn | None = None,
          extra_state: dict[str, Any] | None = None) -> TrainResult:
    """Train ``model`` in place; checkpoints and logs go to ``out_dir``. Returns where it stopped.

    ``extra_state`` (JSON-able or tensors) is stored in every checkpoint, e.g. the caller's config.
    With ``config.monitor`` set, the model ends holding the best-scoring weights.
    """
    return _Trainer(model, dataset, collate, step_fn, Path(out_dir), config, evaluate, extra_state or {}).run()


class _Trainer:
    def __init__(self, model, dataset, collate, step_fn, out_dir, config, evaluate, extra_state):
        self.dist = distributed.info()
        self.device = distributed.resolve_device(config.device)
        self.model = model.to(self.device)
        self.dataset, self.collate, self.step_fn, self.evaluate = dataset, collate, step_fn, evaluate
        self.out_dir, self.config, self.extra_state = out_dir, config, extra_state
        if len(dataset) == 0:
            raise ValueError("the training set is empty")
        atom_counts = _atom_counts(dataset) if config.atom_budget else None
        self.batches = EpochBatches(len(dataset), config.batch_size, config.seed, config.shuffle, config.drop_last,
                                    self.dist.rank, self.dist.world_size, atom_counts, config.atom_budget)
        if self.batches.count(0) == 0:
            raise ValueError(f"batch_size {config.batch_size} with drop_last leaves no batch of {len(dataset)} items")
        self.total_steps = config.max_steps or sum(math.ceil(self.batches.count(epoch) / config.grad_accum)
                                                   for epoch in range(config.epochs))
        # warm-up in epochs: steps of the first epoch (size-aware batches vary a little from epoch to epoch)
        first_epoch_steps = math.ceil(self.batches.count(0) / config.grad_accum)
        warmup_steps = config.warmup_steps or round(config.warmup_epochs * first_epoch_steps)
        _seed_everything(config.seed + self.dist.rank)
        self.optimizer, self.grouped = _make_optimizer(model, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(config.schedule, warmup_steps, self.total_steps))
        self.amp_dtype = _amp_dtype(self.device, config.amp)
        self.scaler = torch.cuda.amp.GradScaler() if self.amp_dtype == torch.float16 else None
        self.state = _State()
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.logger = RunLogger(out_dir, enabled=self.dist.is_main, tensorboard=config.tensorboard)
        self._stop_signal: str | None = None
        self._saved_step: int | None = None

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self._resume()
        started = time.monotonic()
        seconds_before = self.state.train_seconds
        stopped = self.state.finished or "epochs"
        bar = tqdm(total=self.total_steps, initial=self.state.step, unit="step", dynamic_ncols=True,
                   desc=self.config.label or None, disable=not (self.config.progress and self.dist.is_main))
        with _signals_to_flag(self):
            while self.state.finished is None and self.state.epoch < self.config.epochs:
                if self.config.max_steps is not None and self.state.step >= self.config.max_steps:
                    stopped = "max_steps"
                    break
                stopped = self._run_epoch(bar, started) or "epochs"
                if stopped != "epochs":
                    break
            self.state.train_seconds = seconds_before + time.monotonic() - started
            self._checkpoint()
        self._freeze_for(math.inf)  # the model goes back with every parameter it was given trainable
        bar.close()
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        self.logger.close()
        distributed.barrier()
        last = self.state.history[-1] if self.state.history else {}
        return TrainResult(self.state.step, self.state.epoch, stopped, self.state.molecules_seen,
                           self.state.train_seconds, {k: v for k, v in last.items() if isinstance(v, float)},
                           self.state.best_metrics, list(self.state.history))

    def _run_epoch(self, bar, started: float) -> str | None:
        """Train the rest of the current epoch; returns why training must stop, or None to go on."""
        cfg, state = self.config, self.state
        if hasattr(self.dataset, "set_epoch"):  # per-epoch augmentation, derived from (seed, epoch, index)
            self.dataset.set_epoch(state.epoch)
        self._freeze_for(state.epoch)
        local = self.batches.local_batches(state.epoch)
        sizes = [len(b) for b in self.batches.global_batches(state.epoch)]
        loader = DataLoader(self.dataset, batch_sampler=local[state.batch_in_epoch:], collate_fn=self.collate,
                            num_workers=cfg.num_workers,
                            generator=torch.Generator().manual_seed(cfg.seed))  # keeps the global RNG untouched
        self.model.train()
        group_sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        epoch_start = time.monotonic() - state.epoch_seconds
        epoch_cpu_start = time.process_time() - state.epoch_cpu_seconds
        tick, tick_molecules = time.monotonic(), 0
        stop = None
        for index, batch in enumerate(loader, state.batch_in_epoch):
            group_start = index - index % cfg.grad_accum
            group_len = min(cfg.grad_accum, len(local) - group_start)
            batch = _to_device(batch, self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                outputs = self.step_fn(self.model, batch)
            loss = outputs["loss"].float() / group_len
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            for key, value in outputs.items():
                group_sums[key] += value.detach().float() / group_len
            tick_molecules += sizes[index]
            if index - group_start + 1 < group_len:
                continue
            self._optimizer_step()
            state.step += 1
            state.batch_in_epoch = index + 1
            state.molecules_seen += sum(sizes[group_start:index + 1])
            state.epoch_molecules += sum(sizes[group_start:index + 1])
            names = list(group_sums)
            values = distributed.all_reduce_mean(torch.stack([group_sums[k] for k in names])).tolist()
            reduced = dict(zip(names, values))
            group_sums.clear()
            for key, value in reduced.items():
                state.epoch_sums[key] = state.epoch_sums.get(key, 0.0) + value
            state.epoch_steps += 1
            bar.update(1)
            stop = self._should_stop(started)
            if stop or state.step % cfg.log_every == 0 or state.batch_in_epoch == len(local):
                now = time.monotonic()
                rate = tick_molecules / max(now - tick, 1e-9)
                tick, tick_molecules = now, 0
                self.logger.log_step({"step": state.step, "epoch": state.epoch + 1,  # numbered from 1, as shown
                                      "lr": self.scheduler.get_last_lr()[0],
                                      **reduced, "mol_per_s": rate,
                                      "elapsed_s": state.train_seconds + now - started})
                bar.set_postfix(loss=f"{reduced['loss']:.4f}", mol_s=f"{rate:.0f}")
            state.epoch_seconds = time.monotonic() - epoch_start
            state.epoch_cpu_seconds = time.process_time() - epoch_cpu_start
            if stop and state.batch_in_epoch == len(local):
                break  # the epoch is complete: close it (log, evaluate) before stopping
            if stop or state.step % cfg.checkpoint_every == 0:
                self._checkpoint(started)
            if stop:
                return stop
        seconds = time.monotonic() - epoch_start
        row = {"epoch": state.epoch + 1, "step": state.step,
               **{k: v / max(state.epoch_steps, 1) for k, v in state.epoch_sums.items()},
               "mol_per_s": state.epoch_molecules / max(seconds, 1e-9),
               "peak_memory_mb": peak_memory_mb(self.device), "epoch_seconds": seconds,
               "epoch_cpu_seconds": time.process_time() - epoch_cpu_start}
        if self.evaluate is not None:
            row.update(self._evaluate())
            stop = self._early_stop(row) or stop
        state.history.append(row)
        self.logger.log_epoch(row)
        if self.dist.is_main:
            line = epoch_line(row, cfg.epochs, cfg.label)
            if bar.disable:  # no bar, no printing: the line goes where the caller's logging sends it
                log.info(line)
            else:
                bar.write(line)
        state.epoch += 1
        state.batch_in_epoch = state.epoch_steps = state.epoch_molecules = 0
        state.epoch_sums, state.epoch_seconds, state.epoch_cpu_seconds = {}, 0.0, 0.0
        self._checkpoint(started)
        return stop

    def _freeze_for(self, epoch: float) -> None:
        """Groups still in their frozen epochs take no gradient (so no update, no optimiser state); derived
        from the epoch alone, so a run resumed mid-way freezes exactly what an uninterrupted one does."""
        for group, params in self.grouped:
            for param in params:
                param.requires_grad_(epoch >= group.frozen_epochs)

    def _optimizer_step(self) -> None:
        cfg = self.config
        distributed.average_gradients(self.model.parameters())
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if cfg.clip_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _should_stop(self, started: float) -> str | None:
        cfg = self.config
        reason = None
        if cfg.max_steps is not None and self.state.step >= cfg.max_steps:
            reason = "max_steps"
        elif cfg.time_limit is not None and time.monotonic() - started >= cfg.time_limit:
            reason = "time_limit"
        elif self._stop_signal:
            reason = "interrupted"
        return distributed.broadcast_object(reason)  # processes must agree (time and signals differ)

    # -- evaluation and early stopping --------------------------------------------------------
    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        with torch.no_grad(), torch.autocast(self.device.type, dtype=self.amp_dtype,
                                             enabled=self.amp_dtype is not None):
            metrics = {f"{k}": float(v) for k, v in self.evaluate(self.model).items()}
        self.model.train()
        return metrics

    def _early_stop(self, row: dict[str, Any]) -> str | None:
        cfg, state = self.config, self.state
        if cfg.monitor is None:
            return None
        if cfg.monitor not in row:
            raise KeyError(f"evaluation returned {sorted(row)}, not the monitored metric {cfg.monitor!r}")
        value = row[cfg.monitor]
        better = state.best_value is None or (value > state.best_value if cfg.mode == "max" else value < state.best_value)
        if better and not math.isnan(value):
            state.best_value, state.best_metrics, state.bad_epochs = value, dict(row), 0
            self.best_weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            return None
        state.bad_epochs += 1
        if cfg.patience is not None and state.bad_epochs >= cfg.patience:
            state.finished = "early_stopping"
        return state.finished

    # -- checkpoints ------------------------------------------------------------------------
    def _checkpoint(self, started: float | None = None) -> None:
        if self._saved_step == self.state.step and started is None:
            return
        state = asdict(self.state)
        if started is not None:
            state["train_seconds"] = self.state.train_seconds + time.monotonic() - started
        rng = distributed.gather_objects(capture_rng_state())
        self._saved_step = self.state.step
        if not self.dist.is_main:
            return
        extra = {"loop": state, "rng": rng, "train_config": asdict(self.config), "world_size": self.dist.world_size,
                 "scaler": self.scaler.state_dict() if self.scaler else None, "caller": self.extra_state}
        if self.best_weights is not None:
            extra["best_weights"] = self.best_weights
        try:
            save_checkpoint(self.out_dir / CHECKPOINT_DIR, self.state.step, self.model, self.optimizer, self.scheduler,
                            extra, keep_last=self.config.keep_last)
        except OSError as exc:  # a full disk must not end the run: keep training, keep the older checkpoints
            log.warning("could not write checkpoint at step %d (%s); training goes on, the previous "
                        "checkpoints are intact", self.state.step, exc)

    def _resume(self) -> None:
        if not self.config.resume:
            return
        directory = self.out_dir / CHECKPOINT_DIR
        started_before = bool(list_checkpoints(directory)) or (self.out_dir / STEP_LOG).is_file()
        checkpoint = load_latest(directory) if self.dist.is_main else None
        checkpoint = distributed.broadcast_object(checkpoint)
        if self.dist.is_main:
            discard_after(directory, checkpoint.step if checkpoint is not None else -1)
        if checkpoint is None:
            if started_before and self.dist.is_main:
                log.warning("%s: no usable checkpoint to resume from; training starts over from step 0 "
                            "(the logs are cut back to match)", self.out_dir)
            self.logger.resume_at(0, 0)
            return
        extra = checkpoint.restore(self.model, self.optimizer, self.scheduler)
        self.model.to(self.device)
        _optimizer_to(self.optimizer, self.device)
        self.state = _State(**extra["loop"])
        self._saved_step = self.state.step
        self.best_weights = extra.get("best_weights")
        if self.scaler and extra.get("scaler"):
            self.scaler.load_state_dict(extra["scaler"])
        if len(extra["rng"]) == self.dist.world_size:
            restore_rng_state(extra["rng"][self.dist.rank])
        else:
            log.warning("resuming on %d processes a run saved on %d: random streams restart from the seed",
                        self.dist.world_size, len(extra["rng"]))
        self.logger.resume_at(self.state.step, self.state.epoch)
        if self.dist.is_main:
            log.info("%sresumed from %s (step %d, epoch %d, batch %d)", f"{self.config.label}: " if self.config.label
                     else "", checkpoint.path, self.state.step, self.state.epoch + 1, self.state.batch_in_epoch)


def _atom_counts(dataset: Sequence) -> np.ndarray:
    """Atoms per item, which size-aware batches need before any item is loaded."""
    if not hasattr(dataset, "atom_counts"):
        raise TypeError(f"an atom budget needs a dataset with atom_counts(); {type(dataset).__name__} has none")
    return np.asarray(dataset.atom_counts(), dtype=np.int64)


def _make_optimizer(model: torch.nn.Module, config: TrainConfig
                    ) -> tuple[torch.optim.Optimizer, list[tuple[ParamGroup, list[torch.nn.Parameter]]]]:
    """The optimiser over the trainable parameters: first those in no ``ParamGroup`` (so the logged ``lr`` is the
    run's rate), then each group at its factor. Also each group's parameters, for freezing."""
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    children = dict(model.named_children())
    grouped, taken = [], set()
    for group in config.param_groups:
        unknown = [m for m in group.modules if m not in children]
        if unknown:
            raise ValueError(f"param_groups: the model has no module {unknown[0]!r} (it has {', '.join(children)})")
        names = [n for n in trainable if n.split(".")[0] in group.modules and n not in taken]
        taken.update(names)
        grouped.append((group, [trainable[n] for n in names]))
    rest = [p for n, p in trainable.items() if n not in taken]
    groups = [{"params": rest, "lr": config.lr}] + [{"params": params, "lr": config.lr * group.lr_factor}
                                                    for group, params in grouped]
    groups = [g for g in groups if g["params"]] or groups[:1]  # a group with nothing to train (all frozen) is left out
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.lr, weight_decay=config.weight_decay), grouped


def _amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_device(batch: Any, device: torch.device) -> Any:
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _optimizer_to(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for per_param in optimizer.state.values():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor) and key != "step":
                per_param[key] = value.to(device)


class _signals_to_flag:
    """SIGTERM / SIGINT ask the loop to checkpoint and stop at the next step instead of dying mid-step."""

    def __init__(self, trainer: _Trainer):
        self.trainer, self.previous = trainer, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.trainer._stop_signal:  # a second signal: stop now
            raise KeyboardInterrupt
        self.trainer._stop_signal = signal.Signals(signum).name
        log.warning("%s received: writing a checkpoint and stopping after this step", self.trainer._stop_signal)

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False

"""Non-finite losses and gradients are caught before they reach the weights.

:class:`NonFiniteGuard` is a mixin for mmengine optim wrappers. During the forward
(``optim_context``) it records the model's loss dict and, for a model with
``grouped_losses`` (``CenterNet``), the losses by structure (head, task, term). In
``update_params`` it checks the summed loss before ``backward`` (in distributed runs all ranks
agree, so that none skips a backward the others run) and every gradient before ``step``. A non-finite value then follows the wrapper's ``non_finite`` policy:

- ``'stop'`` (default): raise :class:`NonFiniteLossError`, naming the iteration, the loss
  term(s) with their head and task, or the parameters whose gradient is not finite;
- ``'skip'``: drop the step (gradients zeroed, no optimizer step; parameters, buffers such as
  BatchNorm statistics and optimizer state as before the step), warn, and count it in the
  logged scalar ``non_finite_skipped``.

``tools/train.py`` (:func:`centerx.engine.launch.load_config`) swaps ``OptimWrapper`` /
``AmpOptimWrapper`` for their guarded versions, so every training is guarded.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import Tensor

from centerx.models.loss_groups import GroupLosses
from centerx.registry import OPTIM_WRAPPERS

POLICIES = ('stop', 'skip')
#: the scalar (``train/`` prefixed in the message hub) that counts skipped steps
SKIPPED_KEY = 'non_finite_skipped'


class NonFiniteLossError(FloatingPointError):
    """A training step produced a loss or gradient that is not finite (policy ``'stop'``)."""


def _is_finite(value: Tensor) -> bool:
    return bool(torch.isfinite(value.detach()).all())


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a (Distributed)DataParallel wrapper."""
    return getattr(model, 'module', model)


def _all_ranks_agree(finite: bool, device: torch.device) -> bool:
    """Whether the loss is finite on every rank (``finite`` outside distributed runs).

    Ranks must decide together: a rank that skipped ``backward`` while the others run it would
    leave them waiting in DDP's gradient all-reduce forever. (Gradients need no vote: after that
    all-reduce they are the same on every rank.)
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return finite
    flag = torch.tensor([1.0 if finite else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() == 1.0)


class NonFiniteGuard:
    """Mixin (put it before the mmengine wrapper class) that checks each step; see the module doc.

    Args:
        non_finite: ``'stop'`` or ``'skip'``.
        check_grads: also check gradients (off for fp16 loss scaling, whose scaler already
            skips steps with inf/nan gradients).
    """

    check_grads: bool = True

    def __init__(self, *args, non_finite: str = 'stop', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if non_finite not in POLICIES:
            raise ValueError(f'optim_wrapper.non_finite must be one of {POLICIES}, got {non_finite!r}')
        self.non_finite = non_finite
        self._model: Optional[torch.nn.Module] = None
        self._flat_losses: Dict[str, Tensor] = {}
        self._grouped: GroupLosses = {}
        self._buffers: List[Tensor] = []

    # ------------------------------------------------------------------ recording
    @contextmanager
    def optim_context(self, model: torch.nn.Module) -> Iterator[None]:
        inner = _unwrap(model)
        self._model, self._flat_losses, self._grouped = inner, {}, {}
        if self.non_finite == 'skip':
            self._buffers = [b.detach().clone() for b in inner.buffers()]

        def keep_output(module, args, output):
            if isinstance(output, dict):
                self._flat_losses = dict(output)

        handle = model.register_forward_hook(keep_output)
        original = getattr(inner, 'grouped_losses', None)
        if original is not None:
            def recording(*args, **kwargs) -> GroupLosses:
                self._grouped = original(*args, **kwargs)
                return self._grouped
            inner.grouped_losses = recording
        try:
            with super().optim_context(model):
                yield
        finally:
            handle.remove()
            if original is not None:
                del inner.grouped_losses  # the instance attribute; the method shows through again

    # ------------------------------------------------------------------ checking
    def update_params(self, loss: Tensor, step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        finite = _is_finite(loss)
        problem = None if finite else self._describe_loss(loss)
        if not _all_ranks_agree(finite, loss.device) and problem is None:
            problem = 'the loss of another rank is not finite (see its message)'
        if problem is None:
            self.backward(self.scale_loss(loss))
            problem = self._describe_grads() if self.check_grads else None
        if problem is not None:
            self._handle(problem, zero_kwargs or {})
            return
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

    def _describe_loss(self, loss: Tensor) -> str:
        """Which recorded loss terms are not finite, by head, task and term."""
        log_name = {id(v): k for k, v in self._flat_losses.items()}
        parts = []
        for group, terms in self._grouped.items():
            for term, value in terms.items():
                if isinstance(value, Tensor) and not _is_finite(value):
                    named = f' ({log_name[id(value)]})' if id(value) in log_name else ''
                    task = f"task '{group.task}' " if group.task is not None else 'heatmap '
                    parts.append(f"head '{group.head}' {task}term '{term}' = {value.detach().float().sum().item()}"
                                 f'{named}')
        structured = set(id(v) for terms in self._grouped.values() for v in terms.values())
        for key, value in self._flat_losses.items():
            if 'loss' in key and isinstance(value, Tensor) and id(value) not in structured \
                    and not _is_finite(value):
                parts.append(f'{key} = {value.detach().float().sum().item()}')
        if not parts:
            parts.append(f'every term is finite but their sum is {loss.item()} (overflow)')
        return f'non-finite loss {loss.item()}: ' + '; '.join(parts)

    def _describe_grads(self) -> Optional[str]:
        """``None`` when every gradient is finite, else the parameters (and their head) that are not."""
        model = self._model
        if model is None:
            return None
        bad = [name for name, p in model.named_parameters() if p.grad is not None and not _is_finite(p.grad)]
        if not bad:
            return None
        heads = getattr(model, 'heads', None)
        head_of = {id(p): h for h, module in heads.items() for p in module.parameters()} \
            if isinstance(heads, torch.nn.ModuleDict) else {}
        params = dict(model.named_parameters())
        by_place: Dict[str, List[str]] = {}
        for name in bad:
            place = f"head '{head_of[id(params[name])]}'" if id(params[name]) in head_of else 'shared layers'
            by_place.setdefault(place, []).append(name)
        places = sorted(by_place, key=lambda place: place == 'shared layers')  # heads first
        shown = '; '.join(f"{place}: {', '.join(by_place[place][:3])}"
                          + (f' and {len(by_place[place]) - 3} more' if len(by_place[place]) > 3 else '')
                          for place in places)
        return f'non-finite gradient (the loss is finite) in {len(bad)} parameter(s), {shown}'

    def _handle(self, problem: str, zero_kwargs: Dict) -> None:
        hub = MessageHub.get_current_instance()
        iteration = int(hub.get_info('iter', 0)) + 1
        if self.non_finite == 'stop':
            self.zero_grad(**zero_kwargs)
            raise NonFiniteLossError(
                f'iteration {iteration}: {problem}. Training stopped before the weights were updated; '
                "set optim_wrapper.non_finite='skip' to skip such steps instead")
        self.zero_grad(**zero_kwargs)
        if self._model is not None and self._buffers:
            with torch.no_grad():
                for buffer, saved in zip(self._model.buffers(), self._buffers):
                    buffer.copy_(saved)
        key = f'train/{SKIPPED_KEY}'
        skipped = int(hub.log_scalars[key].current()) + 1 if key in hub.log_scalars else 1
        hub.update_scalar(key, skipped)
        print_log(f'iteration {iteration}: skipped the step ({skipped} skipped so far): {problem}',
                  logger='current', level=30)


@OPTIM_WRAPPERS.register_module()
class GuardedOptimWrapper(NonFiniteGuard, OptimWrapper):
    """mmengine's ``OptimWrapper`` with the non-finite check (``non_finite='stop'|'skip'``)."""


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(NonFiniteGuard, AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` (CUDA fp16) with the non-finite loss check; gradients are
    left to its loss scaler, which skips steps with inf/nan gradients and lowers the scale."""

    check_grads = False


#: wrapper types that load_config replaces by their guarded version
GUARDED_VERSION = {'OptimWrapper': 'GuardedOptimWrapper', 'AmpOptimWrapper': 'GuardedAmpOptimWrapper'}

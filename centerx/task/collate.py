"""Concatenate per-image ground truth into one table of the batch's objects."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from .presence import PRESENCE_KEY, Presence


def concat_instances(gts: Sequence[InstanceData], label_map: Optional[Tensor] = None,
                     annotated_labels: Optional[Sequence[Optional[Sequence[int]]]] = None) -> InstanceData:
    """Concatenate the ground truth of B images into one InstanceData of M rows.

    Adds ``batch_idx`` (M,) int64. When ``label_map`` is given ((num_dataset_classes,)
    int64 with -1 for classes the head does not predict), labels are mapped to head
    channels and rows of other classes are removed. A field that some images lack is
    filled in their rows (NaN for floats, 0 for integers and booleans); what each image is
    annotated for is the :class:`~centerx.task.presence.Presence` mask in
    ``metainfo['presence']`` (read it with :func:`~centerx.task.presence.presence_of`).

    Args:
        gts: per-image ground truth.
        label_map: dataset label -> head channel (-1: not on this head); several labels may map
            to one channel (merged classes), and the channels it uses must be ``0 .. C - 1``.
        annotated_labels: per image, the dataset labels its source annotates (None for an
            image: every class). Needs ``label_map`` (it gives the number of classes).

    Raises:
        ValueError: ``annotated_labels`` without ``label_map``, of the wrong length, naming a
            label outside the classes, or an image with objects of a class it does not annotate;
            ``label_map`` skipping a head channel (with ``annotated_labels``).
    """
    device = None
    fields: Dict[str, Tensor] = {}
    for gt in gts:
        for key in gt.keys():
            fields.setdefault(key, gt.get(key))
            device = gt.get(key).device
    parts = {key: [] for key in fields}
    batch_idx = []
    for i, gt in enumerate(gts):
        n = len(gt) if len(gt.keys()) else 0
        batch_idx.append(torch.full((n,), i, dtype=torch.int64, device=device))
        for key, example in fields.items():
            if key in gt:
                parts[key].append(gt.get(key))
            elif example.is_floating_point():
                parts[key].append(torch.full((n, *example.shape[1:]), float('nan'), dtype=example.dtype, device=device))
            else:
                parts[key].append(torch.zeros((n, *example.shape[1:]), dtype=example.dtype, device=device))
    annotated_per_label = _annotated_per_label(len(gts), label_map, annotated_labels, device)
    out = InstanceData()
    out.batch_idx = torch.cat(batch_idx) if batch_idx else torch.zeros(0, dtype=torch.int64)
    for key in fields:
        out.set_field(torch.cat(parts[key]), key)
    if 'labels' not in out:  # no image of the batch carries any annotation
        out.labels = torch.zeros(len(out.batch_idx), dtype=torch.int64, device=out.batch_idx.device)
    if 'ignore' not in out:
        out.ignore = torch.zeros(len(out.batch_idx), dtype=torch.bool, device=out.batch_idx.device)
    classes = None
    if annotated_per_label is not None:
        _check_objects_are_annotated(out, annotated_per_label, annotated_labels)
        classes = _annotated_per_channel(annotated_per_label, label_map)
    out.set_metainfo({PRESENCE_KEY: Presence(
        batch_size=len(gts),
        fields={key: torch.tensor([key in gt for gt in gts], dtype=torch.bool, device=device) for key in fields},
        classes=classes)})
    if label_map is not None and 'labels' in out:
        mapped = label_map.to(out.labels.device)[out.labels]
        keep = mapped >= 0
        out = out[keep]
        out.labels = mapped[keep]
    return out


def _annotated_per_label(batch_size: int, label_map: Optional[Tensor],
                         annotated_labels: Optional[Sequence[Optional[Sequence[int]]]],
                         device: Optional[torch.device]) -> Optional[Tensor]:
    """(B, dataset classes) bool: image b annotates dataset label d; None = every image all of them."""
    if annotated_labels is None or all(a is None for a in annotated_labels):
        return None
    if label_map is None:
        raise ValueError('concat_instances: annotated_labels needs the label_map (it gives the classes)')
    if len(annotated_labels) != batch_size:
        raise ValueError(f'concat_instances: annotated_labels has {len(annotated_labels)} entries '
                         f'for {batch_size} images')
    num_classes = len(label_map)
    mask = torch.ones(batch_size, num_classes, dtype=torch.bool)
    for i, labels in enumerate(annotated_labels):
        if labels is None:
            continue
        labels = [int(v) for v in labels]
        outside = [v for v in labels if not 0 <= v < num_classes]
        if outside:
            raise ValueError(f'image {i} of the batch: annotated_labels {outside} are outside the '
                             f'{num_classes} classes')
        mask[i] = False
        mask[i, labels] = True
    return mask.to(device) if device is not None else mask


def _annotated_per_channel(annotated_per_label: Tensor, label_map: Tensor) -> Tensor:
    """(B, dataset classes) bool -> (B, C) bool over the head channels ``0 .. C - 1``.

    An image annotates a channel when it annotates any dataset label mapped to it (several
    labels merged into one channel are combined with OR, whatever their order).

    Raises:
        ValueError: a head channel that no dataset label maps to (the channels of ``label_map``
            must be ``0 .. C - 1``; the mask would have no source for it).
    """
    channels = label_map.to(annotated_per_label.device).long()
    on_head = channels >= 0
    num_channels = int(channels[on_head].max()) + 1 if bool(on_head.any()) else 0
    missing = sorted(set(range(num_channels)) - set(channels[on_head].tolist()))
    if missing:
        raise ValueError(f'concat_instances: label_map {label_map.tolist()} maps no dataset label to head '
                         f'channels {missing}; its channels must be 0 .. {num_channels - 1}')
    hits = torch.zeros(annotated_per_label.shape[0], num_channels, dtype=torch.int64, device=channels.device)
    hits.index_add_(1, channels[on_head], annotated_per_label[:, on_head].to(torch.int64))
    return hits > 0


def _check_objects_are_annotated(gt: InstanceData, annotated_per_label: Tensor,
                                 annotated_labels: Sequence[Optional[Sequence[int]]]) -> None:
    """Raise when an object's class is not among the classes its image annotates."""
    labels = gt.labels.long().to(annotated_per_label.device)
    batch_idx = gt.batch_idx.to(annotated_per_label.device)
    in_range = (labels >= 0) & (labels < annotated_per_label.shape[1])
    ok = in_range & annotated_per_label[batch_idx, labels.clamp(0, annotated_per_label.shape[1] - 1)]
    if bool(ok.all()):
        return
    first = int(batch_idx[~ok][0])
    bad = sorted(set(labels[~ok & (batch_idx == first)].tolist()))
    raise ValueError(f'image {first} of the batch has objects of labels {bad}, which its annotated_labels '
                     f'{list(annotated_labels[first])} do not include')

"""The encode rule's helpers: ``Centers.peak_cells`` / ``offsets_to`` and ``Task.at_peaks``."""
from __future__ import annotations

import torch

from centerx.task import Centers, Grid, Task

GRID = Grid(batch_size=2, shape=(8, 10), stride=4, input_shape=(32, 40))


def centers(xy, valid) -> Centers:
    n = len(xy)
    return Centers(batch_idx=torch.tensor([0, 1, 1][:n]), labels=torch.zeros(n, dtype=torch.int64),
                   xy=torch.tensor(xy), sizes=torch.ones(n, 2), valid=torch.tensor(valid),
                   ignore=torch.zeros(n, dtype=torch.bool))


def test_peak_cells_are_the_cells_the_decoder_reads() -> None:
    c = centers([[2.5, 3.25], [9.99, 0.0], [12.0, -1.0]], [True, True, False])
    assert c.peak_cells(GRID).tolist() == [[2, 3], [9, 0], [9, 0]]  # the last one clamped inside
    assert c.cell_index(GRID).tolist() == [32, 9, 9]


def test_at_peaks_measures_own_points_from_the_chosen_cells() -> None:
    chosen = centers([[2.5, 3.25], [5.1, 6.9], [1.0, 1.0]], [True, True, False])
    own = torch.tensor([[4.0, 1.5], [5.6, 7.2], [float('nan'), 0.0]])
    offset, weight = Task.at_peaks(own, torch.tensor([True, False, False]), chosen, GRID)
    assert weight.tolist() == [1.0, 0.0, 0.0] and weight.dtype == torch.float32
    # from cell (2, 3) to (4.0, 1.5); rows without weight are zero, NaN included
    torch.testing.assert_close(offset, torch.tensor([[2.0, -1.5], [0.0, 0.0], [0.0, 0.0]]))


def test_at_peaks_is_the_sub_cell_offset_for_the_task_that_placed_the_peaks() -> None:
    chosen = centers([[2.5, 3.25], [5.1, 6.9]], [True, True])
    offset, _ = Task.at_peaks(chosen.xy, torch.tensor([True, True]), chosen, GRID)
    torch.testing.assert_close(offset, chosen.offset)


def test_bind_classes_stores_the_head_classes() -> None:
    task = Task()
    assert task.classes is None
    task.bind_classes(['car', 'pedestrian'])
    assert task.classes == ('car', 'pedestrian')

"""What ``tools/test.py --show-dir`` drew, summed over the test images, and the closing line that
says so (and what to do when the pictures are blank)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, List, Optional, Set

from centerx.structures import DetSample


def drawn_heads(model, sample: DetSample) -> List[str]:
    """The heads of ``sample.preds`` to draw: all of them, unless the image's source annotates
    only some classes (``sample.annotated_labels``, set by a multi-source dataset): then the
    heads with at least one of those classes (``model.head_to_dataset``)."""
    heads = list(sample.preds.keys())
    labels = getattr(sample, 'annotated_labels', None)
    if labels is None or not hasattr(model, 'head_to_dataset'):
        return heads
    wanted = {int(v) for v in labels}
    return [h for h in heads if wanted & {int(v) for v in model.head_to_dataset(h).tolist()}]


@dataclass
class ShowStats:
    """Counts over the drawn images: predictions of the drawn heads, those above the threshold,
    the best score, images with nothing drawn, and the heads left out somewhere."""

    score_thr: float
    images: int = 0
    predictions: int = 0
    drawn: int = 0
    blank_images: int = 0
    best_score: Optional[float] = None
    skipped_heads: Set[str] = field(default_factory=set)

    def add(self, sample: DetSample, heads: Collection[str]) -> None:
        """Count one image whose ``heads`` were drawn."""
        self.images += 1
        self.skipped_heads |= set(sample.preds.keys()) - set(heads)
        above = 0
        for name in heads:
            scores = sample.preds[name].scores
            self.predictions += int(scores.numel())
            above += int((scores > self.score_thr).sum())
            if scores.numel():
                best = float(scores.max())
                self.best_score = best if self.best_score is None else max(self.best_score, best)
        self.drawn += above
        self.blank_images += int(above == 0)

    def summary(self, out_dir: str) -> str:
        """One line (two when pictures are blank): what was drawn where, and how to see more."""
        under = self.predictions - self.drawn
        line = (f'--show-dir: {self.images} pictures in {out_dir}; {self.drawn} predictions drawn (score > '
                f'--show-score-thr {self.score_thr:g}), {under} under it')
        if self.skipped_heads:
            line += (f'; heads {sorted(self.skipped_heads)} not drawn on images whose source does not annotate '
                     'their classes')
        if self.blank_images:
            best = 'no predictions at all' if self.best_score is None else f'the best score was {self.best_score:.3f}'
            hint = f'--show-score-thr {max(round(self.best_score / 2, 3), 0.0):g}' if self.best_score else None
            line += (f'\n--show-dir: {self.blank_images} of {self.images} pictures show no prediction ({best}); '
                     + (f'lower the threshold, e.g. {hint}' if hint else 'the model predicts nothing to draw'))
        return line

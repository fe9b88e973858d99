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
    images with nothing drawn and the best score on them, and the heads left out somewhere."""

    score_thr: float
    images: int = 0
    predictions: int = 0
    drawn: int = 0
    blank_images: int = 0
    best_blank_score: Optional[float] = None
    skipped_heads: Set[str] = field(default_factory=set)

    def add(self, sample: DetSample, heads: Collection[str]) -> None:
        """Count one image whose ``heads`` were drawn."""
        self.images += 1
        self.skipped_heads |= set(sample.preds.keys()) - set(heads)
        above, best = 0, None
        for name in heads:
            scores = sample.preds[name].scores
            self.predictions += int(scores.numel())
            above += int((scores > self.score_thr).sum())
            if scores.numel():
                best = max(float(scores.max()), best if best is not None else float('-inf'))
        self.drawn += above
        if above == 0:
            self.blank_images += 1
            if best is not None:
                self.best_blank_score = best if self.best_blank_score is None else max(self.best_blank_score, best)

    def summary(self, out_dir: str) -> str:
        """One line (two when pictures are blank): what was drawn where, and how to see more."""
        under = self.predictions - self.drawn
        line = (f'--show-dir: {self.images} pictures in {out_dir}; {self.drawn} predictions drawn (score > '
                f'--show-score-thr {self.score_thr:g}), {under} under it')
        if self.skipped_heads:
            line += (f'; heads {sorted(self.skipped_heads)} not drawn on images whose source does not annotate '
                     'their classes')
        if self.blank_images:
            best = self.best_blank_score
            seen = 'no predictions at all' if best is None else f'their best score was {best:.3f}'
            hint = f'--show-score-thr {max(round(best / 2, 3), 0.0):g}' if best else None
            line += (f'\n--show-dir: {self.blank_images} of {self.images} pictures show no prediction ({seen}); '
                     + (f'lower the threshold, e.g. {hint}' if hint else 'the model predicts nothing to draw'))
        return line

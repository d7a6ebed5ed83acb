"""A training report a person can read: one self-contained HTML file with the learning curves
and the confusion matrix drawn as PNG images (Pillow only, no plotting library).

The chart functions return Pillow images, so a window can show the same pictures live.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from engine.atomic import atomic_write_text
from engine.training.charts import TRAIN_COLOR, VAL_COLOR, chart_font, reliability_image, roc_image
from engine.training.records import selected

if TYPE_CHECKING:
    from engine.training.evaluation import EvaluationResult
    from engine.training.health import HealthReport
    from engine.training.metrics import ClassificationMetrics
    from engine.training.records import Calibration, EpochRecord, TrainResult

_INK, _GRID, _WHITE = (40, 40, 40), (225, 225, 225), (255, 255, 255)
_MAX_ROWS = 50  # misclassified images listed in the report

Series = tuple[str, Sequence[float], tuple[int, int, int]]
_STYLE = (
    "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th:first-child,td:first-child{text-align:left}"
    "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}</style>"
)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    size: tuple[int, int] = (420, 280),
    y_range: tuple[float, float] | None = None,
) -> Image.Image:
    """An RGB chart of one or more series against epoch 1..n, with axes and a legend."""
    width, height = size
    image = Image.new("RGB", size, _WHITE)
    draw = ImageDraw.Draw(image)
    font = chart_font(12)
    left, top, right, bottom = 48, 28, width - 12, height - 28
    draw.text((8, 6), title, fill=_INK, font=font)
    values = [v for _, ys, _ in series for v in ys if math.isfinite(v)]
    count = max((len(ys) for _, ys, _ in series), default=0)
    lo, hi = y_range or (min(values, default=0.0), max(values, default=1.0))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo)  # keeps the markers of extreme points inside the frame

    def x_at(i: int) -> float:
        return left + (right - left) * (i / max(1, count - 1))

    def y_at(v: float) -> float:
        return bottom - (bottom - top) * (v - lo + pad) / (hi - lo + 2 * pad)

    for k in range(5):
        v = lo + (hi - lo) * k / 4
        draw.line([(left, y_at(v)), (right, y_at(v))], fill=_GRID)
        draw.text((4, y_at(v) - 7), f"{v:.2f}", fill=_INK, font=font)
    draw.rectangle([left, top, right, bottom], outline=_INK)
    step = max(1, math.ceil(count / 10))
    for i in range(0, count, step):
        draw.text((x_at(i) - 4, bottom + 6), str(i + 1), fill=_INK, font=font)
    legend_x = right - sum(32 + font.getlength(label) for label, _, _ in series)
    for label, ys, color in series:
        points = [(x_at(i), y_at(v)) for i, v in enumerate(ys) if math.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        draw.line([(legend_x, 14), (legend_x + 16, 14)], fill=color, width=3)
        draw.text((legend_x + 20, 7), label, fill=_INK, font=font)
        legend_x += 32 + font.getlength(label)
    return image


def curves_image(
    history: Sequence[EpochRecord], *, size: tuple[int, int] = (840, 280)
) -> Image.Image:
    """Loss and accuracy per epoch (train and validation), side by side, as one RGB image."""
    half = (size[0] // 2, size[1])
    loss = line_chart(
        [
            ("train", [r.train_loss for r in history], TRAIN_COLOR),
            ("validation", [r.val_loss for r in history], VAL_COLOR),
        ],
        title="loss per epoch",
        size=half,
    )
    accuracy = line_chart(
        [
            ("train", [r.train_accuracy for r in history], TRAIN_COLOR),
            ("validation", [r.val_accuracy for r in history], VAL_COLOR),
        ],
        title="accuracy per epoch",
        size=half,
        y_range=(0.0, 1.0),
    )
    image = Image.new("RGB", size, _WHITE)
    image.paste(loss, (0, 0))
    image.paste(accuracy, (half[0], 0))
    return image


def confusion_image(
    confusion: Sequence[Sequence[int]], class_names: Sequence[str], *, cell: int = 0
) -> Image.Image:
    """The confusion matrix as an RGB image: rows = true class, columns = predicted class,
    each cell shaded by its share of the row and labelled with its count."""
    k = len(class_names)
    cell = cell or max(24, min(64, 480 // max(k, 1)))
    font = chart_font(12 if cell >= 40 else 10)
    names = [n if len(n) <= 14 else n[:13] + "…" for n in class_names]
    margin = 16 + max(int(font.getlength(n)) for n in names)
    width, height = margin + k * cell + 10, margin + k * cell + 24
    image = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((margin, 4), "predicted class", fill=_INK, font=font)
    for j, name in enumerate(names):  # column labels, written vertically
        label = Image.new("RGB", (int(font.getlength(name)) + 4, 16), _WHITE)
        ImageDraw.Draw(label).text((2, 1), name, fill=_INK, font=font)
        rotated = label.rotate(90, expand=True)
        image.paste(rotated, (margin + j * cell + (cell - 16) // 2, margin - rotated.height - 2))
    for i, row in enumerate(confusion):
        y = margin + i * cell
        draw.text((4, y + cell // 2 - 7), names[i], fill=_INK, font=font)
        total = max(1, sum(row))
        for j, count in enumerate(row):
            share = count / total
            color = _shade(share, correct=i == j)
            x = margin + j * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=color, outline=_GRID)
            text = str(count)
            ink = _WHITE if share > 0.55 else _INK
            tw = font.getlength(text)
            draw.text((x + (cell - tw) / 2, y + cell / 2 - 7), text, fill=ink, font=font)
    draw.text((4, height - 18), "rows: true class", fill=_INK, font=font)
    return image


def _shade(share: float, *, correct: bool) -> tuple[int, int, int]:
    base = (33, 113, 181) if correct else (203, 24, 29)
    return tuple(round(255 + (c - 255) * share) for c in base)  # type: ignore[return-value]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def write_report(path: str | Path, result: TrainResult, *, health: HealthReport, arch: str) -> None:
    """Write the HTML report for ``result`` atomically; images are embedded in the file."""
    atomic_write_text(path, report_html(result, health=health, arch=arch))


def report_html(result: TrainResult, *, health: HealthReport, arch: str) -> str:
    e = html.escape
    curves = _img(curves_image(result.history), "loss and accuracy per epoch")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Training report: {e(result.model_path.name)}</title>",
        _STYLE + "</head><body>",
        f"<h1>Training report: {e(result.model_path.name)}</h1>",
        f"<p>{e(arch)}, {len(result.class_names)} classes; {e(_stopped(result))}. "
        f"{e(result.split.describe())}. {result.seconds / 60:.1f} minutes.</p>",
        "<ul>" + "".join(f"<li>{e(n)}</li>" for n in result.notes) + "</ul>",
        _cross_validation(result),
        f"<h2>Validation results (best epoch: {e(selected(result.select_by))})</h2>",
        _metrics_table(result.metrics),
        f"<p>Accuracy {result.metrics.accuracy:.1%}, balanced accuracy "
        f"{result.metrics.balanced_accuracy:.1%}{_binary(result.metrics)}.</p>",
        _calibration(result.calibration),
        _img(confusion_image(result.metrics.confusion, result.class_names), "confusion matrix"),
        roc_html(result.test_metrics or result.metrics),
    ]
    if result.test_metrics is not None:
        parts += ["<h2>Test set</h2>", _metrics_table(result.test_metrics),
                  _img(confusion_image(result.test_metrics.confusion, result.class_names),
                       "test confusion matrix")]  # fmt: skip
    parts += ["<h2>Learning curves</h2>", curves, _history_table(result.history)]
    parts += ["<h2>Data set</h2>", f"<pre>{e(health.describe())}</pre>"]
    parts += [_mistakes(result), "</body></html>"]
    return "\n".join(parts)


def _img(image: Image.Image, alt: str) -> str:
    data = base64.b64encode(png_bytes(image)).decode("ascii")
    return f"<p><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'></p>"


def _calibration(c: Calibration) -> str:
    if c.fitted == 1.0 and c.temperature == 1.0:
        how = "left at 1: the validation split has no mistakes to calibrate against"
    else:
        how = f"{c.temperature:.3f}, fitted on the validation split"
    note = f" {html.escape(c.note)}" if c.note else ""
    chart = _img(reliability_image(c.reliability_before, c.reliability_after), "reliability")
    return (
        f"<p>Calibration: temperature {how}; expected calibration error {c.ece_before:.3f} "
        f"before, {c.ece_after:.3f} after, measured on {html.escape(c.measured_on)}.{note}</p>"
        + chart
    )


def roc_html(metrics: ClassificationMetrics) -> str:
    """The ROC curve of a two-class result (empty for more classes)."""
    if not metrics.roc or metrics.positive is None:
        return ""
    return _img(roc_image(metrics.roc, positive=metrics.positive, auc=metrics.roc_auc), "ROC")


def _cross_validation(result: TrainResult) -> str:
    cv = result.cross_validation
    if cv is None:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m:.3f} ± {sd:.3f}</td></tr>"
        for name, m, sd in cv.figures
    )
    return (
        f"<h2>Cross-validation ({cv.folds} folds)</h2><table><tr><th>figure</th>"
        f"<th>mean ± sd</th></tr>{rows}</table><p>The final model was trained on all training "
        "images; the validation figures below are those of the folds' models on the images each "
        "did not train on.</p>"
    )


def _stopped(result: TrainResult) -> str:
    how = {
        "completed": "all epochs done",
        "early_stopped": "stopped early",
        "cancelled": "cancelled",
    }
    return (
        f"{how[result.stopped]} after {len(result.history)} epochs, best epoch {result.best_epoch}"
    )


def _binary(metrics: ClassificationMetrics) -> str:
    if metrics.sensitivity is None or metrics.specificity is None:
        return ""
    auc = metrics.roc_auc
    auc_text = "n/a" if auc is None or math.isnan(auc) else f"{auc:.3f}"
    return (
        f"; positive class {metrics.positive!r}: sensitivity {metrics.sensitivity:.1%}, "
        f"specificity {metrics.specificity:.1%}, ROC-AUC {auc_text}"
    )


def _metrics_table(metrics: ClassificationMetrics) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{c.precision:.3f}</td><td>{c.recall:.3f}</td>"
        f"<td>{c.f1:.3f}</td><td>{c.support}</td></tr>"
        for c in metrics.per_class
    )
    head = "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>"
    return f"<table>{head}{rows}</table>"


def _history_table(history: Sequence[EpochRecord]) -> str:
    head = (
        "<tr><th>epoch</th><th>phase</th><th>train loss</th><th>train acc.</th>"
        "<th>val. loss</th><th>val. acc.</th><th>learning rate</th><th>images/s</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{r.epoch}{' *' if r.improved else ''}</td><td>{r.phase}</td>"
        f"<td>{r.train_loss:.4f}</td><td>{r.train_accuracy:.3f}</td><td>{r.val_loss:.4f}</td>"
        f"<td>{r.val_accuracy:.3f}</td><td>{r.lr:.2e}</td><td>{r.images_per_s:.1f}</td></tr>"
        for r in history
    )
    return f"<table>{head}{rows}</table><p>* the best epoch so far (the one kept).</p>"


def _mistakes(result: TrainResult) -> str:
    if not result.misclassified:
        return "<h2>Misclassified validation images</h2><p>None.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(m.path))}</td><td>{html.escape(m.true_label)}</td>"
        f"<td>{html.escape(m.predicted_label)}</td><td>{m.prob:.1%}</td></tr>"
        for m in result.misclassified[:_MAX_ROWS]
    )
    more = len(result.misclassified) - _MAX_ROWS
    tail = f"<p>and {more} more.</p>" if more > 0 else ""
    head = "<tr><th>file</th><th>true class</th><th>predicted</th><th>probability</th></tr>"
    return f"<h2>Misclassified validation images</h2><table>{head}{rows}</table>{tail}"


def write_evaluation_report(path: str | Path, result: EvaluationResult) -> None:
    """Write the HTML report of :func:`engine.training.evaluation.evaluate_model` atomically."""
    atomic_write_text(path, evaluation_html(result))


def evaluation_html(result: EvaluationResult) -> str:
    e, m = html.escape, result.metrics
    title = f"Evaluation: {e(result.model_path.name)} on {e(result.data_root.name)}"
    counts = ", ".join(f"{e(n)}: {c}" for n, c in result.counts)
    rows = "".join(
        f"<tr><td>{e(str(x.path))}</td><td>{e(x.true_label)}</td><td>{e(x.predicted_label)}</td>"
        f"<td>{x.prob:.1%}</td></tr>"
        for x in result.misclassified[:_MAX_ROWS]
    )
    head = "<tr><th>file</th><th>true class</th><th>predicted</th><th>probability</th></tr>"
    return "\n".join(
        [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>",
            f"{_STYLE}</head><body><h1>{title}</h1>",
            f"<p>{m.count} images in {e(str(result.data_root))} ({counts}).</p>",
            _metrics_table(m),
            f"<p>Accuracy {m.accuracy:.1%}, balanced accuracy {m.balanced_accuracy:.1%}"
            f"{_binary(m)}.</p>",
            _calibration(result.calibration),
            _img(confusion_image(m.confusion, result.class_names), "confusion matrix"),
            roc_html(m),
            f"<h2>Misclassified images</h2><table>{head}{rows}</table>" if rows else "",
            "</body></html>",
        ]
    )

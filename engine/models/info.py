"""Everything ResLens knows about one model, for ``reslens info`` and Model > About This Model.

>>> print("\\n".join(model_facts("resnet18").lines()))   # doctest: +SKIP

An architecture name gives the stock network (ImageNet's 1,000 classes, torchvision's
preprocessing); a ``.reslens`` or ``.onnx`` file gives its own card: the network it holds
(pruned widths included), classes, preprocessing, provenance (weights, data, split, teacher),
validation metrics, and the deployment table when one was measured. The network is rebuilt
with random weights to count parameters and FLOPs (weights do not change either).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ModelLoadError
from engine.models.anatomy import Anatomy, anatomy
from engine.models.card import META_PREFIX, ModelCard
from engine.models.model_file import MODEL_SUFFIX, build_network, read_model_info
from engine.models.registry import get_architecture, imagenet_categories, pretrained_preprocess


@dataclass(frozen=True)
class ModelFacts:
    """What :func:`model_facts` found; ``lines()`` is the text the CLI prints and the app shows."""

    title: str
    card: ModelCard
    anatomy: Anatomy
    provenance: tuple[tuple[str, str], ...] = ()
    metrics: tuple[tuple[str, str], ...] = ()
    deployment: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def summary(self) -> list[tuple[str, str]]:
        a, card = self.anatomy, self.card
        names = ", ".join(card.class_names[:8]) + (", ..." if len(card.class_names) > 8 else "")
        return [
            ("architecture", get_architecture(card.arch).display_name + _pruned(card)),
            ("stem", a.stem),
            ("head", a.head),
            ("parameters", f"{a.params / 1e6:.2f} M ({a.params:,})"),
            (
                "compute",
                f"{a.gflops:.2f} GFLOPs ({a.gflops / 2:.2f} G multiply-adds) per image at "
                f"{a.input_size}x{a.input_size} px",
            ),
            (
                "CAM layer",
                f"{a.cam_layer}: {a.cam_channels} channels, {a.cam_size}x{a.cam_size} cells of "
                f"{a.cam_stride} px, receptive field {a.receptive_field} px",
            ),
            ("preprocessing", card.preprocess.describe()),
            ("classes", f"{len(card.class_names)}: {names}"),
            ("temperature", f"{card.temperature:.3f}"),
        ]

    def lines(self) -> list[str]:
        out = [self.title, ""]
        out += [f"{k:<14} {v}" for k, v in self.summary()]
        out += ["", *self.anatomy.stage_table()]
        for heading, rows in (("provenance", self.provenance), ("metrics", self.metrics)):
            if rows:
                out += ["", heading, *(f"  {k:<12} {v}" for k, v in rows)]
        if self.deployment:
            out += ["", "deployment", *deployment_lines(self.deployment)]
        return out


def model_facts(spec: str | Path) -> ModelFacts:
    """Facts for an architecture name, a ``.reslens`` file or an ``.onnx`` file.

    Raises ModelLoadError for an unknown name or a file ResLens cannot read."""
    path = Path(spec)
    if path.suffix.lower() == ".onnx":
        return _from_card(path.name, onnx_card(path), {})
    if path.suffix.lower() == MODEL_SUFFIX or path.is_file():
        info = read_model_info(path)
        return _from_card(path.name, info.card(), info.extra)
    arch = get_architecture(str(spec))
    card = ModelCard(
        arch.name,
        imagenet_categories(arch.name),
        pretrained_preprocess(arch.name),
        source="torchvision's ImageNet weights (1,000 classes)",
    )
    return _from_card(f"{arch.display_name} (stock architecture)", card, {})


def onnx_card(path: Path) -> ModelCard:
    """The card in an ``.onnx`` file's ``reslens.*`` metadata (the graph is not loaded)."""
    import onnx

    if not path.is_file():
        raise ModelLoadError(f"Model file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
        meta = {
            p.key[len(META_PREFIX) :]: json.loads(p.value)
            for p in proto.metadata_props
            if p.key.startswith(META_PREFIX)
        }
        return ModelCard(**ModelCard.card_fields(meta))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path} has no readable ResLens metadata ({exc}).") from exc
    except Exception as exc:  # onnx raises its own error types for foreign files
        raise ModelLoadError(f"{path} is not an ONNX model ({exc}).") from exc


def _from_card(title: str, card: ModelCard, extra: Mapping[str, Any]) -> ModelFacts:
    return ModelFacts(
        title=title,
        card=card,
        anatomy=anatomy(build_network(card), card.arch, card.preprocess.crop),
        provenance=tuple(provenance(card, extra)),
        metrics=tuple(metric_rows(extra)),
        deployment=tuple(extra.get("deployment") or ()),
    )


def provenance(card: ModelCard, extra: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Where the weights came from, on which data and split, from which teacher or original."""
    rows: list[tuple[str, str]] = []
    training = extra.get("training") or {}
    if card.source:
        rows.append(("weights", card.source))
    if training.get("start"):
        rows.append(("started", str(training["start"])))
    split = extra.get("split") or {}
    files = split.get("files") or []
    if files:
        counts = {name: sum(f["split"] == name for f in files) for name in ("train", "val", "test")}
        how = "your folders" if split.get("source") == "folders" else f"seed {split.get('seed')}"
        data_hash = hashlib.sha256("".join(sorted(f["sha256"] for f in files)).encode())
        rows.append(("data", f"{len(files)} files, content hash {data_hash.hexdigest()[:16]}"))
        rows.append(
            (
                "split",
                f"{counts['train']} train / {counts['val']} val / {counts['test']} test ({how})",
            )
        )
    if card.teacher:
        t = card.teacher
        rows.append(
            (
                "teacher",
                f"{t.get('file')} ({t.get('arch')}, sha256 "
                f"{str(t.get('sha256', ''))[:12]}), T={t.get('temperature')}, "
                f"alpha={t.get('alpha')}",
            )
        )
    if card.structure:
        s = card.structure
        rows.append(
            (
                "pruned",
                f"{float(s.get('ratio', 0)):.0%} of channels removed from "
                f"{s.get('pruned_from')} ({s.get('method')})",
            )
        )
    return rows


def metric_rows(extra: Mapping[str, Any]) -> list[tuple[str, str]]:
    metrics = extra.get("metrics") or {}
    rows = []
    for split in ("val", "test"):
        m = metrics.get(split)
        if m:
            rows.append(
                (
                    split,
                    f"accuracy {m['accuracy']:.3f}, balanced "
                    f"{m['balanced_accuracy']:.3f}, loss {m['loss']:.3f} "
                    f"({m['count']} images)",
                )
            )
    return rows


def deployment_lines(rows: tuple[Mapping[str, Any], ...]) -> list[str]:
    """The deployment table as text: one row per variant of one model."""
    head = (
        f"  {'variant':<18} {'MB':>6} {'params M':>8} {'GFLOPs':>7} {'img/s b1':>8} "
        f"{'img/s b32':>9} {'val acc':>7} {'agree':>6}"
    )
    out = [head]
    for r in rows:
        agree = "-" if r.get("agreement") is None else f"{r['agreement']:.3f}"
        acc = "-" if r.get("val_accuracy") is None else f"{r['val_accuracy']:.3f}"
        out.append(
            f"  {r['variant']:<18} {r['size_mb']:>6.2f} {r['params_m']:>8.2f} "
            f"{r['gflops']:>7.3f} {r['ips_1']:>8.0f} {r['ips_32']:>9.0f} {acc:>7} {agree:>6}"
        )
    return out


def _pruned(card: ModelCard) -> str:
    if not card.structure:
        return ""
    return f", pruned ({float(card.structure.get('ratio', 0)):.0%} of channels removed)"

"""Output shared by the subcommands that make a variant of a model (distill, prune)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.training.records import EpochRecord


def print_epoch(record: EpochRecord) -> None:
    """One line per finished epoch on stderr; * marks the epoch whose weights are kept."""
    print(
        f"epoch {record.epoch}: train loss {record.train_loss:.3f}, val loss "
        f"{record.val_loss:.3f}, val accuracy {record.val_accuracy:.3f} "
        f"({record.seconds:.0f} s){' *' if record.improved else ''}",
        file=sys.stderr,
    )


def finish(original: Path, variants: Mapping[str, Path], data: Path | None, *, table: bool) -> None:
    """Say what was written and how it scores; with ``table``, measure the deployment table,
    store it in each variant's file (``reslens info`` shows it) and print it."""
    from engine.models.info import model_facts

    for path in variants.values():
        facts = model_facts(path)
        print(
            f"wrote {path}: {facts.anatomy.params / 1e6:.2f} M parameters, "
            f"{facts.anatomy.gflops:.3f} GFLOPs per image",
            file=sys.stderr,
        )
        for split, text in facts.metrics:
            print(f"  {split}: {text}", file=sys.stderr)
    if table and data is not None:
        from engine.training.deployment import deployment_table, record_table, table_text

        rows = deployment_table(original, variants, data)
        for path in variants.values():
            record_table(path, rows)
        print(table_text(rows))
        print(
            "(stored in the model files: `reslens info` and their reports show it)", file=sys.stderr
        )

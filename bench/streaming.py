"""What streaming rows to OUT.partial costs against writing them all at the end.

    PYTHONPATH=. .venv/bin/python bench/streaming.py [--images 400] [--rows 20000] [--repeats 3]

One process, one model (random weights on ONNX Runtime: a fast model is the worst case for
the relative cost of writing), one folder of 640x480 JPEGs (generated once into bench/out/).
Two figures:
- isolated: the folder is classified once; its results, repeated to ``--rows`` rows as a large
  folder gives, are then written the old way (collected, ``write_results`` at the end) and the
  new way (``ClassifyJob``: stat each file, append each row, flush after every batch, fsync
  every 2 s, rename), per format. The cost is the extra writing time per row against the time
  a row takes to classify (here, and at ``--reference-rate``).
- end to end: whole runs, alternated, old way vs new way; median throughput (noisier: a shared
  machine varies by more than the effect measured).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import make_photos  # noqa: E402
from engine.inference.batch import FileResult, classify_files  # noqa: E402
from engine.inference.identity import model_identity  # noqa: E402
from engine.inference.job import ClassifyJob, local_source  # noqa: E402
from engine.inference.loader import load_classifier  # noqa: E402
from engine.inference.results import write_results  # noqa: E402
from engine.jobs import ProgressMeter  # noqa: E402

BATCH = 16
TOP_K = 5


def replay(results: list[FileResult]) -> Callable[..., Iterator[FileResult]]:
    """A result source that hands over ``results`` batch by batch, as classify_files does."""

    def source(
        paths: Sequence[Path], cancel: object, on_progress: Callable | None
    ) -> Iterator[FileResult]:  # type: ignore[type-arg]
        meter = ProgressMeter(len(paths))
        for start in range(0, len(results), BATCH):
            chunk = results[start : start + BATCH]
            yield from chunk
            if on_progress is not None:
                on_progress(meter.advance(len(chunk)))

    return source


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def isolated(
    results: list[FileResult], paths: list[Path], arch: str, folder: Path
) -> dict[str, tuple[float, float]]:
    """Seconds to write ``results`` at the end vs streamed, per format (best of 7)."""
    identity = model_identity(arch, weights="none", top_k=TOP_K)
    figures = {}
    for suffix in (".jsonl", ".csv", ".json"):
        out = folder / f"r{suffix}"
        at_end = partial(write_results, out, results, top_k=TOP_K)
        streamed = partial(_stream, paths, identity, out, results)
        end = min(timed(at_end) for _ in range(7))
        figures[suffix] = (end, min(timed(streamed) for _ in range(7)))
    return figures


def _stream(paths: list[Path], identity: object, out: Path, results: list[FileResult]) -> None:
    ClassifyJob(paths, identity=identity, out=out).run(replay(results))  # type: ignore[arg-type]


def end_to_end(
    classifier: object, paths: list[Path], arch: str, folder: Path, repeats: int
) -> tuple[float, float]:
    identity = model_identity(arch, weights="none", top_k=TOP_K)
    out = folder / "e2e.jsonl"
    old, new = [], []
    for _ in range(repeats):

        def at_end() -> None:
            rows = list(classify_files(classifier, paths, top_k=TOP_K, batch_size=BATCH))  # type: ignore[arg-type]
            write_results(out, rows, top_k=TOP_K)

        def streamed() -> None:
            source = local_source(classifier, top_k=TOP_K, batch_size=BATCH)  # type: ignore[arg-type]
            ClassifyJob(paths, identity=identity, out=out).run(source)

        old.append(len(paths) / timed(at_end))
        new.append(len(paths) / timed(streamed))
    return statistics.median(old), statistics.median(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs (0: none)")
    parser.add_argument(
        "--rows", type=int, default=20000, help="rows written in the isolated comparison"
    )
    parser.add_argument(
        "--reference-rate",
        type=float,
        default=53.0,
        help="img/s to state the cost at as well (default: ResNet-18 on this VM, idle; "
        "a loaded machine classifies slower, which makes writing look cheaper)",
    )
    args = parser.parse_args()
    paths = make_photos(ROOT / "bench" / "out" / "photos_640", args.images, (640, 480))
    classifier = load_classifier(args.arch, weights="none", device="cpu", backend="onnx")
    start = time.perf_counter()
    results = list(classify_files(classifier, paths, top_k=TOP_K, batch_size=BATCH))
    classify_s = time.perf_counter() - start
    print(
        f"{args.arch} on {classifier.backend.name}, {len(paths)} x 640x480 JPEG, batch {BATCH}, top-{TOP_K}"
    )
    print(f"classification alone: {classify_s:.2f} s ({len(paths) / classify_s:.1f} img/s)")
    # As many rows as a large folder gives: the classified results over and over, each row
    # stat()ing its file as a real run does.
    many = (results * (args.rows // len(results) + 1))[: args.rows]
    many_paths = [r.path for r in many]
    print(f"isolated: {len(many)} rows (best of 7 each)")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, (end, streamed) in isolated(many, many_paths, args.arch, Path(tmp)).items():
            per_row = (streamed - end) / len(many)
            here = per_row / (classify_s / len(paths))
            print(f"{suffix:6s} write at end {end * 1e6 / len(many):5.1f} us/row | streamed "
                  f"{streamed * 1e6 / len(many):5.1f} us/row | cost {here:+.2%} here, "
                  f"{per_row * args.reference_rate:+.2%} at {args.reference_rate:g} img/s")  # fmt: skip
        if args.repeats:
            old, new = end_to_end(classifier, paths, args.arch, Path(tmp), args.repeats)
            print(f"end to end (.jsonl, median of {args.repeats}): write at end {old:.1f} img/s, "
                  f"streamed {new:.1f} img/s ({new / old - 1:+.1%})")  # fmt: skip


if __name__ == "__main__":
    main()

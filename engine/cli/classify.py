"""``reslens classify PATH...``: top-k for images and folders; stream, resume; sort copies.

With ``--out``, rows stream to ``OUT.partial`` as batches finish; the finished run renames it
to ``OUT``. Ctrl-C, SIGTERM or an error keep it, and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import engine.cli.validate as validate
from engine.cli.common import ProgressBar, add_model_options, load_from_args
from engine.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED
from engine.errors import Cancelled, EngineError
from engine.inference.batch import FileResult
from engine.inference.job import ClassifyJob, ResultSource, local_source
from engine.jobs import CancelToken

CLUSTER_HINT = "install reslens[cluster] (pip install 'ray[data]')"
SAME_FILE = "same file as"
TOP_K = 5


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "classify", help="classify images and folders (recursively)"
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    # Folders are where speed matters: ONNX Runtime runs ResNets ~1.5x faster than eager
    # torch on CPU and starts without importing torch once its verified export is cached.
    add_model_options(parser, default_backend="auto")
    parser.add_argument(
        "--top-k", type=validate.positive_int, help=f"classes per image (default: {TOP_K})"
    )
    parser.add_argument(
        "--batch-size", type=validate.positive_int, default=16, help="images per batch"
    )
    parser.add_argument(
        "--out",
        type=validate.results_path,
        metavar="FILE",
        help="write results to .csv, .jsonl or .json (streamed to FILE.partial while running)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --out: continue an interrupted run, skipping files already done",
    )
    parser.add_argument(
        "--sort-into", type=Path, metavar="DIR", help="copy images into DIR/<label>/"
    )
    parser.add_argument(
        "--min-confidence",
        type=validate.probability,
        metavar="P",
        help="with --sort-into: images below probability P (0 to 1) go to DIR/_uncertain/",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local = this machine; ray = a Ray cluster (needs reslens[cluster])",
    )
    parser.add_argument(
        "--ray-address", metavar="ADDR", help="with --engine ray: the cluster (default: local)"
    )
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    check_options(args)
    images, extra = gather_inputs(args)
    top_k = capped_top_k(args)
    from engine.inference.identity import model_identity

    # What an earlier run left (and whether its model is this one) is known before loading.
    identity = model_identity(args.model, weights=args.weights, top_k=top_k)
    job = ClassifyJob(images, identity=identity, extra=extra, out=args.out, resume=args.resume)
    if args.resume and job.plan.kept:
        print(
            f"resuming: {len(job.plan.kept)} files already done, {len(job.todo)} to classify",
            file=sys.stderr,
        )
    source = make_source(args, top_k)
    collected: list[FileResult] = []
    failed = _run_job(job, source, args, collected)
    if failed is None:
        return EXIT_INTERRUPTED
    if args.out is not None:
        print(f"wrote {job.rows_kept} rows to {args.out}", file=sys.stderr)
    if args.sort_into is not None:
        _sort(args, collected, top_k)
    total = len(job.extra) + len(job.images)
    if failed:
        print(f"{failed} of {total} files failed", file=sys.stderr)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def check_options(args: argparse.Namespace) -> None:
    """Every check that needs no model, before anything is loaded (exit 2, one line)."""
    parser: argparse.ArgumentParser = args.parser
    if args.min_confidence is not None and args.sort_into is None:
        parser.error("--min-confidence needs --sort-into")
    if args.resume and args.out is None:
        parser.error("--resume needs --out (the results file to continue)")
    if args.ray_address is not None and args.engine != "ray":
        parser.error("--ray-address needs --engine ray")
    if args.sort_into is not None:
        from engine.inference.sorting import check_destination

        try:
            check_destination(args.sort_into, args.paths)
        except EngineError as exc:
            parser.error(f"--sort-into: {exc}")
    if args.engine == "ray" and not _cluster_available():
        parser.error(f"--engine ray: {CLUSTER_HINT}")
    if args.out is not None and not args.resume:
        from engine.inference.stream import partial_path

        partial = partial_path(args.out)
        if partial.exists():
            parser.error(
                f"--out: {partial} holds the rows of an unfinished run; add --resume to "
                "continue it, or delete it to start again"
            )


def _cluster_available() -> bool:
    try:
        found = importlib.util.find_spec("engine.scale.ray_classify")
        return found is not None and importlib.util.find_spec("ray") is not None
    except ImportError:
        return False


def gather_inputs(args: argparse.Namespace) -> tuple[list[Path], list[FileResult]]:
    """The images under the named paths, and an error row for each named path that is not
    one (missing, not an image). Raises EngineError when none of the paths exists."""
    from engine.imaging.walk import find_images

    missing = [p for p in args.paths if not os.path.lexists(p)]
    if len(missing) == len(args.paths):
        names = ", ".join(str(p) for p in missing)
        raise EngineError(f"nothing to classify: {names} not found")
    images, skipped = find_images(args.paths)
    named = {_key(p) for p in args.paths}
    extra: list[FileResult] = []
    others = 0
    for path, why in skipped:
        if why.startswith(SAME_FILE):
            print(f"skipped {path}: {why}", file=sys.stderr)
        elif _key(path) in named:
            extra.append(FileResult(path, error=why))
        else:
            others += 1
    if others:
        print(f"skipped {others} files that are not images", file=sys.stderr)
    return images, extra


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def capped_top_k(args: argparse.Namespace) -> int:
    from engine.inference.identity import class_count

    asked = TOP_K if args.top_k is None else int(args.top_k)
    count = class_count(args.model)
    if count is not None and asked > count:
        if args.top_k is not None:  # the default needs no note: a 3-class model shows 3
            print(f"note: --top-k {asked} is more than the model's {count} classes; "
                  f"showing {count}", file=sys.stderr)  # fmt: skip
        return count
    return asked


def make_source(args: argparse.Namespace, top_k: int) -> ResultSource:
    """Where results come from: a model loaded here, or a Ray cluster."""
    if args.engine == "local":
        return local_source(load_from_args(args), top_k=top_k, batch_size=args.batch_size)
    from engine.scale.ray_classify import classify_on_ray

    def on_ray(paths: Any, cancel: Any, on_progress: Any) -> Iterator[FileResult]:
        return classify_on_ray(
            paths,
            model=str(args.model),
            weights=args.weights,
            device=args.device,
            backend=args.backend,
            top_k=top_k,
            batch_size=args.batch_size,
            address=args.ray_address,
            cancel=cancel,
            on_progress=on_progress,
        )

    return on_ray


def _run_job(
    job: ClassifyJob, source: ResultSource, args: argparse.Namespace, collected: list[FileResult]
) -> int | None:
    """Run ``job``; the number of failed rows, or None when interrupted (said on stderr).
    Without ``--out`` rows are printed, and kept in ``collected`` for ``--sort-into``."""
    bar = ProgressBar(sys.stderr)
    token = CancelToken()

    def on_row(result: FileResult) -> None:
        if args.out is None:
            bar.write(_line(result), sys.stdout)
            if args.sort_into is not None:
                collected.append(result)

    try:
        with cancel_on_signals(token):
            return job.run(source, cancel=token, on_progress=bar.show, on_row=on_row)
    except (KeyboardInterrupt, Cancelled):
        bar.close()
        print(f"interrupted{_kept(job, args)}", file=sys.stderr)
        return None
    except BaseException:
        bar.close()
        if job.stream is not None:
            print(_kept(job, args).lstrip(": "), file=sys.stderr)
        raise
    finally:
        bar.close()


def _kept(job: ClassifyJob, args: argparse.Namespace) -> str:
    if job.stream is None:
        return ""
    return (
        f": kept {job.rows_kept} rows in {job.stream.partial}; to continue: "
        f"{continue_command(getattr(args, 'argv', sys.argv[1:]))}"
    )


def continue_command(argv: list[str]) -> str:
    """The command line that continues this run."""
    prog = "reslens" if Path(sys.argv[0]).stem == "reslens" else "python -m engine.cli"
    rest = argv if "--resume" in argv else [*argv, "--resume"]
    return f"{prog} {shlex.join(rest)}"


@contextmanager
def cancel_on_signals(token: CancelToken) -> Iterator[None]:
    """Ctrl-C or SIGTERM: finish the batch in hand, keep its rows, stop. A second one stops
    at once (the partial file still has every row flushed before)."""

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _line(result: Any) -> str:
    if result.prediction is None:
        return f"{result.path}\tERROR\t{result.error}"
    tops = "\t".join(
        f"{label} ({prob:.1%})"
        for label, prob in zip(result.prediction.labels, result.prediction.probs, strict=True)
    )
    return f"{result.path}\t{tops}"


def _sort(args: argparse.Namespace, collected: list[FileResult], top_k: int) -> None:
    from engine.inference.sorting import execute_sort, plan_sort
    from engine.inference.stream import codec_for, read_stored

    if args.out is not None:  # the rows as written: the same whether resumed or not
        results = [row.result for row in read_stored(args.out, codec_for(args.out, top_k))]
    else:
        results = collected
    plan = plan_sort(results, args.sort_into, min_confidence=args.min_confidence)
    bar = ProgressBar(sys.stderr, unit="files")
    try:
        report = execute_sort(
            plan, on_progress=lambda done, total: bar.update(done, total, "copying")
        )
    finally:
        bar.close()
    there = f" ({len(report.already_there)} were already there)" if report.already_there else ""
    print(f"copied {len(report.copied)} files into {args.sort_into}{there}", file=sys.stderr)
    for path, why in report.failed:
        print(f"could not copy {path}: {why}", file=sys.stderr)

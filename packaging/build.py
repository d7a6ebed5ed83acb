"""Build the packaged ResLens app: ``dist/ResLens/`` (one folder) and its archive, from
packaging/reslens.spec.

    .venv/bin/python packaging/build.py                               # CPU bundle
    .venv/bin/python packaging/build.py --weights resnet50=FILE.pth   # with these weights
    .venv/bin/python packaging/build.py --variant cuda                # keep the CUDA libraries

Steps: check the environment against the constraints file (packaging/lock.py), stage the
pretrained weights (``--weights ARCH=FILE``, repeatable, else the default architecture's from
torch's hub cache; none is fine, and this script says so loudly) and export each to a verified
ONNX copy, run PyInstaller (which also writes the third-party notices), add the licence files
and the Linux desktop entry, check that every shared library the bundle links to is present,
write the archive (.tar.zst, or .zip on Windows) and print the sizes and build time.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "packaging")]

from archive import cuda_size, folder_size, largest, largest_files, write_archive  # noqa: E402
from lock import constraints_path, differences, unpinned  # noqa: E402

from engine.models.registry import ARCHITECTURES, DEFAULT_ARCH  # noqa: E402
from engine.models.weights import hub_cache_dir, weights_filename  # noqa: E402

log = logging.getLogger("build")
SPEC = ROOT / "packaging" / "reslens.spec"
# Provided by the user's NVIDIA driver, never shipped in a bundle.
DRIVER_LIBS = frozenset({"libcuda.so.1", "libnvidia-ml.so.1", "libnvcuvid.so.1"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="[ARCH=]FILE",
        help="pretrained weights to bundle, e.g. resnet50=resnet50-11ad3fa6.pth (repeatable; "
        "a plain FILE is for --arch)",
    )
    parser.add_argument("--arch", default=DEFAULT_ARCH, help="architecture of a plain --weights")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument(
        "--no-cache-weights", action="store_true", help="do not take weights from the cache"
    )
    parser.add_argument("--no-archive", action="store_true", help="skip the archive")
    parser.add_argument(
        "--unlocked", action="store_true", help="build even if the environment differs from "
        "the constraints file (the bundle is then not reproducible from it)"
    )  # fmt: skip
    return parser.parse_args(argv)


def weights_to_bundle(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(architecture, file) pairs from ``--weights``, else the hub cache's default, else []."""
    pairs = []
    for value in args.weights:
        arch, _, file = value.rpartition("=") if "=" in value else (args.arch, "", value)
        if arch not in ARCHITECTURES:
            raise SystemExit(f"error: unknown architecture {arch!r} in --weights {value}")
        if not Path(file).is_file():
            raise SystemExit(f"error: weights file not found: {file}")
        pairs.append((arch, Path(file)))
    if pairs or args.no_cache_weights:
        return pairs
    cached = hub_cache_dir() / weights_filename(args.arch)
    return [(args.arch, cached)] if cached.is_file() else []


def stage_weights(pairs: list[tuple[str, Path]], folder: Path) -> list[tuple[str, Path]]:
    """Check each file fits its architecture; copy it into ``folder`` under torchvision's name."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    from engine.models.registry import build_model
    from engine.models.weights import load_pretrained_into

    staged = []
    for arch, source in pairs:
        load_pretrained_into(build_model(arch), arch, source)  # ModelLoadError if it doesn't fit
        target = folder / weights_filename(arch)
        shutil.copyfile(source, target)
        staged.append((arch, target))
    return staged


def stage_onnx(staged: list[tuple[str, Path]], folder: Path) -> list[Path]:
    """Each staged weights file exported to ONNX and verified against PyTorch, by the same code
    and cache key the app uses, so that the bundle finds its copy instead of exporting."""
    cache = folder.parent / "export-cache"
    for path in (folder, cache):
        shutil.rmtree(path, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["RESLENS_CACHE_DIR"] = str(cache)
    from engine.inference.loader import load_classifier

    for arch, weights in staged:
        log.info("exporting %s to a verified ONNX copy", weights.name)
        load_classifier(arch, weights=weights, device="cpu", backend="onnx", allow_download=False)
    copies = []
    for made in sorted((cache / "onnx").glob("*.onnx")):
        copies.append(Path(shutil.move(made, folder / made.name)))
    return copies


def check_environment(args: argparse.Namespace) -> None:
    """Refuse to build from versions other than the constraints file's (unless --unlocked)."""
    path = constraints_path()
    if not path.is_file():
        log.warning("no constraints file %s: run packaging/lock.py to pin this build", path)
        return
    extra = unpinned(path)
    if extra:
        log.warning(
            "%d installed distributions are not in %s (%s ...): build from a venv made from it, "
            "or check the notices for what leaked in",
            len(extra), path.name, ", ".join(extra[:6]),
        )  # fmt: skip
    problems = differences(path)
    for problem in problems:
        log.error("%s", problem)
    if problems and not args.unlocked:
        raise SystemExit(
            f"error: this environment differs from {path.relative_to(ROOT)}; install from it "
            f"(pip install -c {path.relative_to(ROOT)} ...) or pass --unlocked"
        )


def warn_no_weights(arch: str) -> None:
    bar = "!" * 78
    log.warning(
        "\n%s\nNO PRETRAINED WEIGHTS BUNDLED: %s was neither given (--weights) nor in %s.\n"
        "The app is built anyway. On first use it offers to download them (%s, ~100 MB)\n"
        "or to choose a weights file; offline it cannot classify with ImageNet weights.\n%s",
        bar,
        weights_filename(arch),
        hub_cache_dir(),
        weights_filename(arch),
        bar,
    )


def run_pyinstaller(args: argparse.Namespace, weights: Path | None, onnx: Path | None) -> None:
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
        "--distpath", str(args.dist), "--workpath", str(args.work), str(SPEC),
        "--", "--variant", args.variant,
    ]  # fmt: skip
    if weights is not None:
        command += ["--weights-dir", str(weights)]
    if onnx is not None:
        command += ["--onnx-dir", str(onnx)]
    log.info("running %s", " ".join(command))
    subprocess.run(command, check=True, cwd=ROOT)


def add_top_level_files(bundle: Path) -> None:
    """The licence and the third-party notices beside the executable, where people look; on
    Linux also the .desktop entry and its icon (README: how to install)."""
    internal = bundle / "_internal"
    shutil.copyfile(internal / "LICENSE", bundle / "LICENSE")
    notices = internal / "assets" / "THIRD_PARTY_NOTICES.txt"
    shutil.copyfile(notices, bundle / notices.name)
    if not sys.platform.startswith("linux"):
        return
    shutil.copyfile(ROOT / "packaging" / "reslens.desktop", bundle / "reslens.desktop")
    shutil.copyfile(ROOT / "assets" / "icons" / "reslens-256.png", bundle / "reslens.png")


def missing_libraries(bundle: Path) -> dict[str, list[str]]:
    """Linux: shared libraries that a bundled library links to (DT_NEEDED) but that are
    neither in the bundle nor on this system -> {library: [who needs it]}."""
    if not sys.platform.startswith("linux"):
        return {}
    from PyInstaller.depend.bindepend import get_imports

    files = [p for p in bundle.rglob("*.so*") if p.is_file() and not p.is_symlink()]
    present = {p.name for p in bundle.rglob("*.so*")}
    system = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    missing: dict[str, list[str]] = {}
    for path in files:
        try:
            needed = get_imports(str(path))  # {(name, resolved path or None)}
        except Exception:  # not an ELF file (e.g. a linker script); nothing to check
            continue
        for name, _resolved in needed:
            if name in present or name in DRIVER_LIBS or f"{name} " in system:
                continue
            missing.setdefault(name, []).append(str(path.relative_to(bundle)))
    return missing


def report(bundle: Path, archive: Path | None, seconds: float, staged: list, variant: str) -> None:
    size, cuda = folder_size(bundle), cuda_size(bundle)
    print(f"\nbuilt {bundle} ({variant} bundle) in {seconds / 60:.1f} min")
    print(f"folder: {size / 2**30:.2f} GiB ({size / 1e9:.2f} GB)")
    if archive is not None:
        packed = archive.stat().st_size
        print(f"archive: {archive} {packed / 2**30:.2f} GiB ({packed / 1e9:.2f} GB)")
    print(
        f"CUDA libraries: {cuda / 2**30:.2f} GiB; without them (a CPU-only torch and onnxruntime)"
    )
    print(f"  the folder would be about {(size - cuda) / 2**30:.2f} GiB")
    parts = ", ".join(f"{n} {s / 2**20:.0f} MiB" for n, s in largest(bundle / "_internal"))
    print(f"largest parts: {parts}")
    files = ", ".join(f"{n} {s / 2**20:.0f} MiB" for n, s in largest_files(bundle / "_internal"))
    print(f"largest files: {files}")
    names = ", ".join(path.name for _, path in staged) or "NONE (download on first use)"
    print(f"weights: {names}")


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    start = time.perf_counter()
    check_environment(args)
    staged = stage_weights(weights_to_bundle(args), args.work / "weights")
    onnx = stage_onnx(staged, args.work / "onnx") if staged else []
    if not staged:
        warn_no_weights(args.arch)
    run_pyinstaller(
        args, args.work / "weights" if staged else None, args.work / "onnx" if onnx else None
    )
    bundle = args.dist / "ResLens"
    add_top_level_files(bundle)
    missing = missing_libraries(bundle)
    for name, users in sorted(missing.items()):
        log.error("missing library %s, needed by %s", name, ", ".join(users[:3]))
    archive = None
    if not args.no_archive:
        machine = platform.machine().lower()
        stem = args.dist / f"ResLens-{project_version()}-{sys.platform}-{machine}-{args.variant}"
        archive = write_archive(bundle, stem)
    report(bundle, archive, time.perf_counter() - start, staged, args.variant)
    if not staged:
        warn_no_weights(args.arch)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

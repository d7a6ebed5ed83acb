"""Build the packaged ResLens app: ``dist/ResLens/`` (one folder), from packaging/reslens.spec.

    .venv/bin/python packaging/build.py                      # CPU bundle, weights from the cache
    .venv/bin/python packaging/build.py --weights FILE.pth   # bundle this weights file
    .venv/bin/python packaging/build.py --variant cuda       # keep the CUDA libraries

Steps: stage the pretrained weights (a given file, else torch's hub cache; none is fine, the
app then downloads them on first use, and this script says so loudly), run PyInstaller, add the
Linux desktop entry and icon, check that every shared library the bundle links to is present,
and print the bundle's size and build time.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.models.registry import DEFAULT_ARCH  # noqa: E402
from engine.models.weights import hub_cache_dir, weights_filename  # noqa: E402

log = logging.getLogger("build")
SPEC = ROOT / "packaging" / "reslens.spec"
# Provided by the user's NVIDIA driver, never shipped in a bundle.
DRIVER_LIBS = frozenset({"libcuda.so.1", "libnvidia-ml.so.1", "libnvcuvid.so.1"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--weights", type=Path, help="pretrained weights file to bundle")
    parser.add_argument("--arch", default=DEFAULT_ARCH, help="architecture of those weights")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument(
        "--no-cache-weights", action="store_true", help="do not take weights from the cache"
    )
    return parser.parse_args(argv)


def find_weights_file(args: argparse.Namespace) -> Path | None:
    """The weights to bundle: ``--weights``, else the hub cache's file, else None."""
    if args.weights is not None:
        if not args.weights.is_file():
            raise SystemExit(f"error: weights file not found: {args.weights}")
        return args.weights
    if args.no_cache_weights:
        return None
    cached = hub_cache_dir() / weights_filename(args.arch)
    return cached if cached.is_file() else None


def stage_weights(source: Path | None, arch: str, folder: Path) -> Path | None:
    """Check ``source`` fits ``arch`` and copy it into ``folder`` under torchvision's name."""
    if folder.exists():
        shutil.rmtree(folder)
    if source is None:
        return None
    from engine.models.registry import build_model
    from engine.models.weights import load_pretrained_into

    load_pretrained_into(build_model(arch), arch, source)  # raises ModelLoadError if it doesn't fit
    folder.mkdir(parents=True)
    target = folder / weights_filename(arch)
    shutil.copyfile(source, target)
    return target


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


def run_pyinstaller(args: argparse.Namespace, weights_dir: Path | None) -> None:
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
        "--distpath", str(args.dist), "--workpath", str(args.work), str(SPEC),
        "--", "--variant", args.variant,
    ]  # fmt: skip
    if weights_dir is not None:
        command += ["--weights-dir", str(weights_dir)]
    log.info("running %s", " ".join(command))
    subprocess.run(command, check=True, cwd=ROOT)


def add_desktop_entry(bundle: Path) -> None:
    """Linux: the .desktop entry and its icon beside the executable (README: how to install)."""
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


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def biggest_parts(internal: Path, count: int = 8) -> list[tuple[str, int]]:
    sizes = [
        (p.name, folder_size(p) if p.is_dir() else p.stat().st_size)
        for p in internal.iterdir()
        if not p.is_symlink()
    ]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def report(bundle: Path, seconds: float, bundled: Path | None, variant: str) -> None:
    size = folder_size(bundle)
    print(f"\nbuilt {bundle} ({variant} bundle) in {seconds / 60:.1f} min")
    print(f"size: {size / 2**30:.2f} GiB ({size / 1e9:.2f} GB)")
    parts = ", ".join(f"{n} {s / 2**20:.0f} MiB" for n, s in biggest_parts(bundle / "_internal"))
    print(f"largest parts: {parts}")
    print(f"weights: {bundled.name if bundled else 'NONE (download on first use)'}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    start = time.perf_counter()
    staging = args.work / "weights"
    bundled = stage_weights(find_weights_file(args), args.arch, staging)
    if bundled is None:
        warn_no_weights(args.arch)
    run_pyinstaller(args, staging if bundled else None)
    bundle = args.dist / "ResLens"
    add_desktop_entry(bundle)
    missing = missing_libraries(bundle)
    for name, users in sorted(missing.items()):
        log.error("missing library %s, needed by %s", name, ", ".join(users[:3]))
    report(bundle, time.perf_counter() - start, bundled, args.variant)
    if bundled is None:
        warn_no_weights(args.arch)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

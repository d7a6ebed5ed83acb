"""Remake the README's screenshots of the desktop app (Linux, under Xvfb).

    .venv/bin/python docs/screenshots/make_screenshots.py

Pretrained ImageNet weights cannot be downloaded where these were made, so the classified
folder is an honest stand-in: a ResNet-18 trained from scratch by ``engine.training.recipe`` on
texture photos that ship with scikit-image (brick, grass, gravel, stars, stained tissue), shown
classifying validation patches it never saw, then the Train tab step by step on the same
folder. The missing-weights screenshot is the real first run offline. Runs on Xvfb at
1366x768 (a small laptop screen) with openbox for window frames, as
``../shared/tools/screenshot`` does; :mod:`docs.screenshots.drive` drives the window and grabs
the screen at each step. Work files go to bench/out/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
WORK = ROOT / "bench" / "out" / "screenshots"
SOURCES = ("brick", "grass", "gravel", "hubble_deep_field", "immunohistochemistry")
PATCH = 144
SCREEN = (1366, 768)  # a common laptop screen, the smallest the app is made for
TRAIN_SHARE = 0.7


def make_patches(folder: Path, per_class: int = 60, seed: int = 0) -> Path:
    """train/<class>/ from the top 70 % of each photo, val/<class>/ from the rest."""
    import skimage.data

    if (folder / ".complete").exists():
        return folder
    rng = np.random.default_rng(seed)
    for name in SOURCES:
        gray = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("L"))
        cut = int(gray.shape[0] * TRAIN_SHARE)
        for split, band, count in (("train", gray[:cut], per_class), ("val", gray[cut:], 8)):
            out = folder / split / name
            out.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                top = int(rng.integers(0, band.shape[0] - PATCH + 1))
                left = int(rng.integers(0, band.shape[1] - PATCH + 1))
                patch = band[top : top + PATCH, left : left + PATCH]
                Image.fromarray(patch).save(out / f"{name}_{i:03d}.png")
    (folder / ".complete").touch()
    return folder


def train_model(data: Path, out: Path) -> Path:
    if out.exists():
        return out
    from engine.training.records import TrainConfig
    from engine.training.run import train

    config = TrainConfig(
        arch="resnet18", epochs=6, image_size=64, pretrained=False, patience=0, device="cpu"
    )
    result = train(data, out, config, write_report=False)
    print(result.summary())
    return out


def save_small(screen: Image.Image, path: Path) -> None:
    """Crop the empty desktop away; 256 dithered colours keep it small (heat maps stay smooth)."""
    rgb = screen.convert("RGB")
    box = rgb.point(lambda v: 255 if v > 8 else 0).getbbox()
    rgb = rgb.crop(box)
    palette = rgb.quantize(256, method=Image.Quantize.MEDIANCUT)
    rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


def main() -> None:
    if shutil.which("openbox") is None or shutil.which("Xvfb") is None:
        sys.exit("needs openbox and Xvfb (apt-get install openbox xvfb) for a real screen")
    if "--drive" in sys.argv:
        sys.path.insert(0, str(Path(__file__).parent))
        from drive import drive  # runs on the virtual screen; imports Qt

        drive(Path(sys.argv[sys.argv.index("--drive") + 1]), OUT, save_small)
        return
    data = make_patches(WORK / "textures")
    model = train_model(data, WORK / "textures.reslens")
    wide = make_panorama(WORK / "panorama.jpg")
    on_screen([sys.executable, __file__, "--drive", str(WORK)], data, model, wide)


def make_panorama(path: Path) -> Path:
    """A 3:1 grey photo: grass, brick and gravel side by side, each a patch of the same size
    and scale as the training patches (from the validation band), so the network knows them;
    its centre crop sees only the brick."""
    import skimage.data

    if not path.exists():
        wide = Image.new("L", (3 * PATCH, PATCH))
        for i, name in enumerate(("grass", "brick", "gravel")):
            gray = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("L"))
            top = int(gray.shape[0] * TRAIN_SHARE)
            wide.paste(Image.fromarray(gray[top : top + PATCH, :PATCH]), (PATCH * i, 0))
        wide.save(path, quality=95)
    return path


def on_screen(command: list[str], data: Path, model: Path, wide: Path) -> None:
    """Run ``command`` (the driver) on a 1366x768 virtual screen with openbox's frames."""
    display = ":94"
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, XDG_CONFIG_HOME=home, TORCH_HOME=str(Path(home) / "torch"))
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
        env.update(RESLENS_SHOT_DATA=str(data), RESLENS_SHOT_MODEL=str(model))
        env.update(RESLENS_SHOT_WIDE=str(wide), RESLENS_SHOT_HOME=home)
        for only in ("missing-weights", "classify"):
            if f"--only-{only}" in sys.argv:
                env["RESLENS_SHOT_ONLY"] = only
        screen = f"{SCREEN[0]}x{SCREEN[1]}x24"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", screen, "-nolisten", "tcp"])
        procs = [xvfb]
        try:
            time.sleep(1)
            procs.append(subprocess.Popen(["openbox"], env=env, stderr=subprocess.DEVNULL))
            time.sleep(1)
            subprocess.run(command, env=env, cwd=ROOT, check=True, timeout=1800)
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=10)


if __name__ == "__main__":
    main()

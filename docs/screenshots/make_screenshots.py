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

import io
import os
import re
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
    from engine.training.recipe import train
    from engine.training.records import TrainConfig

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
    shoot_composited("missing-weights", 20, str(ROOT / "assets" / "samples"), "--model", "resnet50")


def make_panorama(path: Path) -> Path:
    """A 3:1 photo of grass, brick and gravel side by side: the centre crop sees only brick."""
    import skimage.data

    if not path.exists():
        parts = [
            Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize((360, 360))
            for name in ("grass", "brick", "gravel")
        ]
        wide = Image.new("RGB", (1080, 360))
        for i, part in enumerate(parts):
            wide.paste(part, (360 * i, 0))
        wide.save(path, quality=92)
    return path


def on_screen(command: list[str], data: Path, model: Path, wide: Path) -> None:
    """Run ``command`` (the driver) on a 1366x768 virtual screen with openbox's frames."""
    display = ":94"
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, XDG_CONFIG_HOME=home, TORCH_HOME=str(Path(home) / "torch"))
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
        env.update(RESLENS_SHOT_DATA=str(data), RESLENS_SHOT_MODEL=str(model))
        env.update(RESLENS_SHOT_WIDE=str(wide), RESLENS_SHOT_HOME=home)
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


def shoot_composited(name: str, seconds: int, *args: str) -> None:
    """Like :func:`shoot`, for a dialog over the main window.

    Xvfb's capture of the whole screen shows a transient dialog as a black box here, though
    the dialog's own window holds the right pixels; so the screen (with openbox's frames) is
    captured first, then each of the app's windows on its own, pasted at its place, largest
    first.
    """
    display = ":93"
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, XDG_CONFIG_HOME=home)  # the real weights cache: empty here
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
        xvfb = subprocess.Popen(
            ["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"]
        )
        procs = [xvfb]
        try:
            time.sleep(1)
            procs.append(subprocess.Popen(["openbox"], env=env, stderr=subprocess.DEVNULL))
            time.sleep(1)
            procs.append(subprocess.Popen([sys.executable, "-m", "gui", *args], env=env, cwd=ROOT))
            time.sleep(seconds)
            screen = _xwd(env, "-root")
            for wid, x, y, _, _ in sorted(_app_windows(env), key=lambda t: -t[3] * t[4]):
                screen.paste(_xwd(env, "-id", wid), (x, y))
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=10)
    save_small(screen, OUT / f"{name}.png")


def _xwd(env: dict[str, str], *target: str) -> Image.Image:
    raw = subprocess.run(["xwd", "-silent", *target], env=env, capture_output=True, check=True)
    png = subprocess.run(
        ["/usr/bin/convert", "xwd:-", "png:-"], input=raw.stdout, capture_output=True, check=True
    )
    return Image.open(io.BytesIO(png.stdout)).convert("RGB")


def _app_windows(env: dict[str, str]) -> list[tuple[str, int, int, int, int]]:
    """(id, x, y, width, height) on screen of the app's mapped windows (inside their frames)."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True, check=True
    ).stdout
    found = []
    for match in re.finditer(r"(0x[0-9a-f]+) \"[^\"]*ResLens[^\"]*\":", tree):
        info = subprocess.run(
            ["xwininfo", "-id", match.group(1)], env=env, capture_output=True, text=True
        ).stdout
        values = dict(
            re.findall(r"^\s*(Absolute upper-left [XY]|Width|Height):\s*(-?\d+)", info, re.M)
        )
        if "IsViewable" in info and int(values.get("Width", 0)) > 100:
            found.append(
                (
                    match.group(1),
                    int(values["Absolute upper-left X"]),
                    int(values["Absolute upper-left Y"]),
                    int(values["Width"]),
                    int(values["Height"]),
                )
            )
    return found


if __name__ == "__main__":
    main()

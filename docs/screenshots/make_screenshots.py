"""Remake the README's screenshots of the desktop app (Linux, under Xvfb).

    .venv/bin/python docs/screenshots/make_screenshots.py

Pretrained ImageNet weights cannot be downloaded where these were made, so the classified
folder is an honest stand-in: a ResNet-18 trained from scratch by ``engine.training.recipe`` on
texture photos that ship with scikit-image (brick, grass, gravel, stars, stained tissue), shown
classifying validation patches it never saw. The missing-weights screenshot is the real first
run offline. Uses ``../shared/tools/screenshot`` (Xvfb, 1440x900) with openbox for window
frames; work files go to bench/out/screenshots/.
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
TOOL = ROOT.parent / "shared" / "tools" / "screenshot"
SOURCES = ("brick", "grass", "gravel", "hubble_deep_field", "immunohistochemistry")
PATCH = 144
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
        arch="resnet18", epochs=12, image_size=112, pretrained=False, patience=0, device="cpu"
    )
    result = train(data, out, config, write_report=False)
    print(result.summary())
    return out


def shoot(name: str, seconds: int, *args: str) -> None:
    """Run the app on a virtual screen (with a window manager) and save the screen."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, XDG_CONFIG_HOME=home, TORCH_HOME=str(Path(home) / "torch"))
        app = " ".join(["exec", sys.executable, "-m", "gui", *args])
        command = f"openbox >/dev/null 2>&1 & sleep 1; {app}"
        raw = WORK / f"{name}-raw.png"
        subprocess.run(
            [str(TOOL), str(raw), str(seconds), "bash", "-c", command],
            env=env,
            cwd=ROOT,
            check=True,
        )
    save_small(Image.open(raw), OUT / f"{name}.png")


def save_small(screen: Image.Image, path: Path) -> None:
    """Crop the empty desktop away; 256 dithered colours keep it small (heat maps stay smooth)."""
    rgb = screen.convert("RGB")
    box = rgb.point(lambda v: 255 if v > 8 else 0).getbbox()
    rgb = rgb.crop(box)
    palette = rgb.quantize(256, method=Image.Quantize.MEDIANCUT)
    rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


def main() -> None:
    if shutil.which("openbox") is None:
        sys.exit("needs openbox (apt-get install openbox) for window frames")
    data = make_patches(WORK / "textures")
    model = train_model(data, WORK / "textures.reslens")
    val = str(data / "val")
    shoot("main", 25, val, "--model", str(model), "--select", "3", "--mode", "image")
    shoot("cam", 25, val, "--model", str(model), "--select", "20", "--mode", "overlay")
    shoot_composited("missing-weights", 20, str(ROOT / "assets" / "samples"), "--model", "resnet50")


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
            ["Xvfb", display, "-screen", "0", "1440x900x24", "-nolisten", "tcp"]
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

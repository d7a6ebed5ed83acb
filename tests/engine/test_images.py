"""Decoding and folder walking in engine.imaging.decode, on generated files and pydicom's samples."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from engine.errors import ImageLoadError
from engine.imaging import pixels
from engine.imaging.decode import load_image
from engine.imaging.walk import SUPPORTED_SUFFIXES, find_images, is_supported, walk_images


def _gradient_rgb(width: int = 64, height: int = 48) -> np.ndarray:
    """uint8 (H, W, 3): red rises left to right, green top to bottom, blue constant."""
    red = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, axis=0)
    green = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, axis=1)
    return np.dstack([red, green, np.full_like(red, 90)])


def _save(path: Path, image: Image.Image, **params: object) -> Path:
    image.save(path, **params)
    return path


def _dicom(name: str) -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom test file {name} is not shipped with this pydicom")
    return Path(str(found))


def _require_decoder(*modules: str) -> None:
    """Skip unless at least one of these DICOM decoder packages is importable."""
    if modules and not any(importlib.util.find_spec(module) for module in modules):
        pytest.skip(f"no DICOM decoder installed for this compression (tried {modules})")


def _write_dicom(path: Path, stored: np.ndarray, **elements: object) -> Path:
    """A minimal MONOCHROME2 Secondary Capture file holding ``stored`` (H, W) int16/uint16."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.set_pixel_data(stored, photometric_interpretation="MONOCHROME2", bits_stored=16)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


# --- formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "params", "tolerance"),
    [
        (".png", {}, 0),
        (".bmp", {}, 0),
        (".tiff", {}, 0),
        (".webp", {"lossless": True}, 0),
        (".jpg", {"quality": 95}, 12),
    ],
)
def test_rgb_formats_decode_to_the_same_pixels(
    tmp_path: Path, suffix: str, params: dict[str, object], tolerance: int
) -> None:
    pixels = _gradient_rgb()
    path = _save(tmp_path / f"photo{suffix}", Image.fromarray(pixels), **params)
    image = load_image(path)
    assert image.mode == "RGB"
    assert image.size == (64, 48)
    diff = np.abs(np.asarray(image).astype(int) - pixels.astype(int))
    assert diff.max() <= tolerance
    assert read_pixels(path).shape == (48, 64, 3)


def test_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    path = _save(tmp_path / "anim.gif", frames[0], save_all=True, append_images=frames[1:])
    assert Image.open(path).n_frames == 2
    assert load_image(path).getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [("<u2", 1000, 3000), (">u2", 0, 65535), ("<i4", -50_000, 70_000), ("<f4", -0.25, 0.75)],
)
def test_deep_tiff_gradient_spans_0_to_255(
    tmp_path: Path, dtype: str, low: float, high: float
) -> None:
    ramp = np.linspace(low, high, 256).astype(dtype)[None, :].repeat(4, axis=0)
    source = Image.fromarray(ramp)
    assert source.mode in {"I;16", "I;16B", "I", "F"}
    grey = read_pixels(_save(tmp_path / "deep.tif", source))[0, :, 0]
    assert grey[0] == 0
    assert grey[-1] == 255
    assert np.all(np.diff(grey.astype(int)) >= 0)
    assert np.abs(grey.astype(int) - np.arange(256)).max() <= 1


@pytest.mark.filterwarnings("error")
def test_float_image_with_nan_and_constant_image_are_safe(tmp_path: Path) -> None:
    values = np.array([[np.nan, 0.0, 1.0, np.inf]], dtype=np.float32).repeat(2, axis=0)
    grey = read_pixels(_save(tmp_path / "nan.tif", Image.fromarray(values)))[0, :, 0]
    assert grey.tolist() == [0, 0, 255, 0]
    flat = np.full((4, 4), 1234, dtype=np.uint16)
    assert read_pixels(_save(tmp_path / "flat.tif", Image.fromarray(flat))).max() == 0


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    left_red = np.zeros((20, 40, 3), dtype=np.uint8)
    left_red[:, :20] = (255, 0, 0)
    left_red[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: display rotated 90 degrees clockwise
    path = _save(tmp_path / "turned.jpg", Image.fromarray(left_red), exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (20, 40)
    top, bottom = np.asarray(image)[5, 10], np.asarray(image)[35, 10]
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_pixels_become_white(tmp_path: Path, mode: str) -> None:
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    image.putpixel((0, 0), (0, 0, 0, 255))
    path = _save(tmp_path / "alpha.png", image.convert(mode))
    pixels = read_pixels(path)
    assert tuple(pixels[3, 3]) == (255, 255, 255)
    assert tuple(pixels[0, 0]) == (0, 0, 0)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_transparency_becomes_white(tmp_path: Path, suffix: str) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    path = _save(tmp_path / f"palette{suffix}", image, transparency=0)
    pixels = read_pixels(path)
    assert tuple(pixels[3, 3]) == (255, 255, 255)
    assert tuple(pixels[0, 0]) == (255, 0, 0)


def test_other_modes_convert_to_rgb(tmp_path: Path) -> None:
    cyan = _save(tmp_path / "cmyk.jpg", Image.new("CMYK", (8, 8), (255, 0, 0, 0)), quality=95)
    assert np.abs(read_pixels(cyan)[4, 4].astype(int) - (0, 255, 255)).max() <= 8
    grey = _save(tmp_path / "grey.png", Image.new("L", (4, 4), 77))
    assert tuple(read_pixels(grey)[0, 0]) == (77, 77, 77)
    bits = Image.new("1", (4, 4), 0)
    bits.putpixel((1, 1), 1)
    pixels = read_pixels(_save(tmp_path / "bits.png", bits))
    assert tuple(pixels[1, 1]) == (255, 255, 255) and tuple(pixels[0, 0]) == (0, 0, 0)


def test_returned_image_is_loaded_and_independent_of_the_file(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", Image.fromarray(_gradient_rgb()))
    image = load_image(path)
    path.unlink()
    assert image.resize((8, 8)).size == (8, 8)


# --- reduced decoding --------------------------------------------------------------------


def test_big_jpeg_decodes_in_draft_mode_keeping_min_side(tmp_path: Path) -> None:
    big = Image.fromarray(_gradient_rgb(400, 300)).resize((4000, 3000))
    path = _save(tmp_path / "big.jpg", big, quality=80)
    image = load_image(path, min_side=256)
    # Draft mode at 1/8 gives exactly 500x375; box-reducing the full image would give 364x273.
    assert image.size == (500, 375)
    assert min(image.size) >= 256


def test_big_png_is_reduced_keeping_min_side_and_small_images_are_never_enlarged(
    tmp_path: Path,
) -> None:
    path = _save(tmp_path / "big.png", Image.fromarray(_gradient_rgb(2000, 1000)))
    image = load_image(path, min_side=256)
    assert 256 <= min(image.size) < 500
    small = _save(tmp_path / "small.png", Image.fromarray(_gradient_rgb(40, 30)))
    assert load_image(small, min_side=256).size == (40, 30)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_min_side_must_be_a_positive_int(tmp_path: Path, bad: object) -> None:
    path = _save(tmp_path / "a.png", Image.new("RGB", (4, 4)))
    with pytest.raises(ValueError, match="min_side"):
        load_image(path, min_side=bad)  # type: ignore[arg-type]


# --- failures ----------------------------------------------------------------------------


def _load_error(path: Path) -> str:
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    return caught.value.reason


def test_unusable_files_raise_image_load_error_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.png").write_text("shopping list\nmilk\n" * 20)
    (tmp_path / "doc.jpg").write_bytes(b"%PDF-1.7\n" + bytes(200))
    (tmp_path / "folder.png").mkdir()
    assert _load_error(tmp_path / "empty.jpg") == "file is empty"
    assert _load_error(tmp_path / "notes.png") == "not a supported image (looks like text)"
    assert _load_error(tmp_path / "doc.jpg") == "not a supported image (looks like a PDF document)"
    assert _load_error(tmp_path / "folder.png") == "is a folder, not an image file"
    assert _load_error(tmp_path / "missing.png") == "not found"


@pytest.mark.parametrize(("suffix", "keep"), [(".jpg", 0.6), (".png", 0.6), (".png", 0.02)])
def test_truncated_files_are_errors(tmp_path: Path, suffix: str, keep: float) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _save(tmp_path / f"full{suffix}", Image.fromarray(noisy)).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    assert _load_error(cut) == "image is truncated or corrupt"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = _save(tmp_path / "locked.png", Image.new("RGB", (4, 4)))
    path.chmod(0)
    try:
        assert "permission denied" in _load_error(path)
    finally:
        path.chmod(0o600)


def test_permission_error_on_open_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(tmp_path / "locked.png", Image.new("RGB", (4, 4)))

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    assert "permission denied" in _load_error(path)


def test_images_over_the_pixel_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(tmp_path / "wide.png", Image.new("RGB", (4000, 3000)))
    monkeypatch.setattr(pixels, "MAX_PIXELS", 5_000_000)
    assert _load_error(path) == "image is too large (12 megapixels; limit 5.0 megapixels)"
    monkeypatch.setattr(pixels, "MAX_PIXELS", 200_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # Pillow's own bomb error
    assert _load_error(path) == "image is too large (12 megapixels; limit 2.0 megapixels)"
    monkeypatch.undo()
    assert load_image(path).size == (4000, 3000)


# --- DICOM -------------------------------------------------------------------------------


def test_dicom_ct_decodes_to_grey_rgb() -> None:
    pixels = read_pixels(_dicom("CT_small.dcm"))
    assert pixels.shape == (128, 128, 3)
    assert np.array_equal(pixels[..., 0], pixels[..., 2])
    assert pixels.min() == 0 and pixels.max() == 255


def test_extensionless_dicom_is_recognised_by_its_magic(tmp_path: Path) -> None:
    plain = tmp_path / "IM0001"
    shutil.copyfile(_dicom("CT_small.dcm"), plain)
    assert is_supported(plain)
    assert np.array_equal(read_pixels(plain), read_pixels(_dicom("CT_small.dcm")))
    (tmp_path / "README").write_text("not dicom")
    assert not is_supported(tmp_path / "README")


def test_dicom_rescale_and_window_are_applied(tmp_path: Path) -> None:
    stored = np.linspace(0, 2000, 201).astype(np.uint16)[None, :].repeat(2, axis=0)
    path = _write_dicom(
        tmp_path / "ct.dcm", stored, RescaleSlope=1, RescaleIntercept=-1000,
        WindowCenter=0, WindowWidth=1000,
    )  # fmt: skip
    grey = read_pixels(path)[0, :, 0].astype(int)
    hounsfield = stored[0].astype(int) - 1000
    assert np.all(grey[hounsfield < -510] == 0)
    assert np.all(grey[hounsfield > 510] == 255)
    assert abs(grey[hounsfield == 0][0] - 128) <= 2
    unwindowed = read_pixels(_write_dicom(tmp_path / "plain.dcm", stored))[0, :, 0]
    assert unwindowed[0] == 0 and unwindowed[-1] == 255 and np.all(np.diff(unwindowed) >= 0)


def test_dicom_monochrome1_is_inverted(tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(_dicom("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = tmp_path / "mono1.dcm"
    ds.save_as(inverted)
    normal = read_pixels(_dicom("MR_small.dcm"))
    assert np.array_equal(read_pixels(inverted), 255 - normal)
    assert normal.std() > 10


@pytest.mark.parametrize(
    ("compressed", "plain", "decoders"),
    [
        ("MR_small_RLE.dcm", "MR_small.dcm", ()),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm", ("openjpeg", "gdcm")),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", ("gdcm", "jpeg_ls", "libjpeg")),
        ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm", ("gdcm", "libjpeg")),
        ("SC_ybr_full_422_uncompressed.dcm", "SC_rgb_rle.dcm", ()),
    ],
)
def test_dicom_compressions_decode_like_the_uncompressed_image(
    compressed: str, plain: str, decoders: tuple[str, ...]
) -> None:
    _require_decoder(*decoders)
    expected = read_pixels(_dicom(plain)).astype(int)
    assert np.abs(read_pixels(_dicom(compressed)).astype(int) - expected).mean() < 3


def test_dicom_jpeg2000_ybr_and_palette_colour() -> None:
    _require_decoder("openjpeg", "gdcm")
    assert read_pixels(_dicom("JPEG2000.dcm")).shape == (1024, 256, 3)
    rgb = read_pixels(_dicom("SC_rgb_dcmtk_+eb+cr.dcm")).astype(int)
    ybr = read_pixels(_dicom("SC_rgb_dcmtk_+eb+cy+n1.dcm")).astype(int)
    assert np.abs(rgb - ybr).mean() < 3
    assert tuple(rgb[5, 50]) == pytest.approx((255, 0, 0), abs=8)
    palette = read_pixels(_dicom("examples_palette.dcm"))
    assert palette.shape == (350, 800, 3)
    assert np.any(palette[..., 0] != palette[..., 1])


def test_dicom_multiframe_gives_the_first_frame() -> None:
    import pydicom

    ds = pydicom.dcmread(_dicom("SC_rgb_rle_2frame.dcm"))
    first, second = ds.pixel_array[0], ds.pixel_array[1]
    assert not np.array_equal(first, second)
    assert np.array_equal(read_pixels(_dicom("SC_rgb_rle_2frame.dcm")), first)


def test_broken_dicom_files_raise_image_load_error(tmp_path: Path) -> None:
    import pydicom

    assert _load_error(_dicom("MR_truncated.dcm")) == "DICOM pixel data is truncated or corrupt"
    assert _load_error(_dicom("rtplan.dcm")) == "DICOM file holds no image (no pixel data)"
    corrupt = _dicom("JPEG2000-embedded-sequence-delimiter.dcm")
    assert _load_error(corrupt).startswith("cannot decode the DICOM pixel data (JPEG 2000")
    video = pydicom.dcmread(_dicom("MR_small_RLE.dcm"))
    video.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no still decoder
    video.save_as(tmp_path / "video.dcm", enforce_file_format=False)
    assert _load_error(tmp_path / "video.dcm").startswith("DICOM compression not supported (MPEG2")
    (tmp_path / "fake.dcm").write_text("hello\n" * 50)
    assert _load_error(tmp_path / "fake.dcm") == "not a DICOM file"


# --- walking -----------------------------------------------------------------------------


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_supported_suffixes_are_lowercase_with_a_dot() -> None:
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in SUPPORTED_SUFFIXES)
    assert is_supported(Path("A.JPG")) and is_supported(Path("scan.DCM"))
    assert not is_supported(Path("notes.txt"))


def test_walk_orders_stably_and_skips_hidden_and_junk(tmp_path: Path) -> None:
    for name in ["b.png", "A.jpg", "a.JPG", "sub/c.tif", "Sub2/d.webp", "x.gif"]:
        _touch(tmp_path / name)
    for junk in [".hidden.jpg", ".cache/e.jpg", "._b.png", ".DS_Store", "Thumbs.db",
                 "desktop.ini", "__MACOSX/f.jpg"]:  # fmt: skip
        _touch(tmp_path / junk)
    skipped: list[tuple[Path, str]] = []
    found = list(walk_images([tmp_path], on_skip=lambda p, r: skipped.append((p, r))))
    names = [path.relative_to(tmp_path).as_posix() for path in found]
    assert names == ["A.jpg", "a.JPG", "b.png", "sub/c.tif", "Sub2/d.webp", "x.gif"]
    assert skipped == []


def test_unsupported_and_missing_paths_are_reported(tmp_path: Path) -> None:
    notes = _touch(tmp_path / "notes.txt")
    _touch(tmp_path / "dir" / "readme.md")
    _touch(tmp_path / "dir" / "photo.png")
    images_found, skipped = find_images([notes, tmp_path / "dir", tmp_path / "gone.jpg"])
    assert images_found == [tmp_path / "dir" / "photo.png"]
    assert skipped == [
        (notes, "unsupported file type (.txt)"),
        (tmp_path / "dir" / "readme.md", "unsupported file type (.md)"),
        (tmp_path / "gone.jpg", "not found"),
    ]


def test_each_file_is_yielded_once(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "album" / "photo.jpg")
    found = list(walk_images([photo, tmp_path / "album", tmp_path, str(photo)]))
    assert found == [photo]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_walk_survives_symlink_loops_and_broken_links(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "a" / "photo.png")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "a" / "dead.jpg").symlink_to(tmp_path / "nowhere.jpg")
    images_found, skipped = find_images([tmp_path])
    assert images_found == [photo]
    assert skipped == [(tmp_path / "a" / "dead.jpg", "broken link")]


@pytest.mark.timeout(20)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_walk_never_opens_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    os.mkfifo(tmp_path / "pipe")
    photo = _touch(tmp_path / "photo.png")
    images_found, skipped = find_images([tmp_path, tmp_path / "pipe.jpg"])
    assert images_found == [photo]
    assert sorted(path.name for path, _ in skipped) == ["pipe", "pipe.jpg"]
    assert all("not a regular file" in reason for _, reason in skipped)
    assert not is_supported(tmp_path / "pipe")
    assert "not a regular file" in _load_error(tmp_path / "pipe.jpg")


def test_walk_finds_extensionless_dicom_and_rejects_a_single_string(tmp_path: Path) -> None:
    shutil.copyfile(_dicom("CT_small.dcm"), tmp_path / "IM0001")
    _touch(tmp_path / "LICENSE", b"text")
    images_found, skipped = find_images([tmp_path])
    assert images_found == [tmp_path / "IM0001"]
    assert skipped == [(tmp_path / "LICENSE", "unsupported file (no extension)")]
    with pytest.raises(TypeError, match="iterable"):
        list(walk_images(str(tmp_path)))  # type: ignore[arg-type]


def read_pixels(path: Path) -> np.ndarray:
    return np.asarray(load_image(path), dtype=np.uint8)

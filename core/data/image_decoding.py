"""Image decoding: check options, then turn image files into uint8 arrays of one size.

Decoding refuses oversized files and images before any pixel is decoded, and converts every
Pillow mode to grayscale or RGB. `ImageCollector` decodes many files in turn and keeps a reason
for each one it refuses, so one corrupt file never stops a dataset from loading. Only numpy and
pillow are used here: the dashboard's home page imports this module without TensorFlow.

Example:

    array = decode_image(Path("part.png").read_bytes(), "part.png", image_size=(128, 128))
"""

from __future__ import annotations

import io
import numbers
from pathlib import Path

import numpy as np
from PIL import Image

from core.data import archive_checks, archives
from core.data.validation import RejectedFile, describe_value

SUPPORTED_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SUPPORTED_IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_FILE_BYTES = 64 * 1024**2
FORMATS_TEXT = "PNG, JPEG, BMP or TIFF"

_HIGH_BIT_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# What a file that is not a supported image holds, told by its first bytes, for the message.
_CONTENT_SIGNATURES = (
    ((b"GIF87a", b"GIF89a"), "GIF"),
    ((b"%!PS", b"\xc5\xd0\xd3\xc6"), "PostScript/EPS"),
    ((b"%PDF",), "PDF"),
    ((b"PK\x03\x04",), "ZIP archive"),
    ((b"\x1f\x8b",), "gzip"),
    ((b"\x89HDF\r\n\x1a\n",), "HDF5 (such as a Keras .h5 model)"),
    ((b"<?xml", b"<svg"), "XML/SVG"),
    ((b"\x00\x00\x01\x00",), "ICO"),
)


def decode_image(
    data: bytes,
    name: str,
    *,
    image_size: tuple[int, int] | None = (128, 128),
    channels: int = 1,
) -> np.ndarray:
    """Decodes one image file into a uint8 (height, width, channels) array.

    The pixel count is checked from the header before any pixel is decoded. Palette, alpha,
    CMYK and 1-bit images are converted; 16-bit and 32-bit integer images are divided by 257
    (keeping the 16-bit range, clipping above it); float images are stretched from their minimum
    to their maximum. Only the first frame of a multi-frame file is used. Images are stretched to
    `image_size` with bilinear resampling. EXIF orientation is not applied, as in Keras.

    Args:
        data: The file's bytes.
        name: The file name, used in error messages.
        image_size: Target (height, width), or None to keep the original size.
            Defaults to (128, 128).
        channels: 1 for grayscale, 3 for RGB. Defaults to 1.

    Returns:
        uint8 array of shape (height, width, channels).

    Raises:
        ValueError: If the options are invalid, or the file is empty, too large, not a
            PNG/JPEG/BMP/TIFF image, corrupt or truncated. The message names the file.
    """
    image_size, channels = check_image_options(image_size, channels)
    array, _ = _decode(data, name, image_size, channels)
    return array


def check_image_options(image_size: object, channels: object) -> tuple[tuple[int, int] | None, int]:
    """Returns `image_size` and `channels` as plain ints.

    Args:
        image_size: (height, width) with two positive integers, or None.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        `(image_size, channels)`, with numpy integers turned into Python ints.

    Raises:
        ValueError: If either option is invalid.
    """
    if image_size is not None:
        if not (
            isinstance(image_size, tuple | list)
            and len(image_size) == 2
            and all(_is_integer(side) and side > 0 for side in image_size)
        ):
            raise ValueError(
                "Expected `image_size` to be (height, width) with two positive integers, or None. "
                f"Received: image_size={describe_value(image_size)}"
            )
        image_size = (int(image_size[0]), int(image_size[1]))
    if not _is_integer(channels) or channels not in (1, 3):
        raise ValueError(
            f"Expected `channels` to be 1 (grayscale) or 3 (RGB). Received: channels={channels!r}"
        )
    return image_size, int(channels)


def read_image_file(name: str, path: Path) -> bytes:
    """Reads the file at `path`, known to the user as `name`, if it may hold an image.

    Raises:
        ValueError: If the name lacks an image suffix, the file is unreadable or too large.
    """
    if not _has_supported_suffix(name):
        raise ValueError(_suffix_reason(name))
    try:
        size = path.stat().st_size
        # An oversized file is refused without reading it.
        data = path.read_bytes() if size <= MAX_IMAGE_FILE_BYTES else b""
    except OSError as error:
        raise ValueError(f"Expected a readable file ({error}). Received: name={name!r}") from error
    if size > MAX_IMAGE_FILE_BYTES:
        raise ValueError(_file_size_reason(name, size))
    return data


def size_mismatch_reason(
    name: str, first_shape: tuple[int, ...], original_size: tuple[int, int]
) -> str:
    """The rejection of an image whose decoded shape differs from the first image's."""
    height, width = first_shape[:2]
    return (
        f"Expected every image to be {width}x{height} like the first one when "
        f"image_size is None. Received: name={name!r} of size "
        f"{original_size[0]}x{original_size[1]}"
    )


class ImageCollector:
    """Decodes files one by one, keeping the arrays and the rejections in load order.

    Args:
        image_size, channels: As returned by `check_image_options`. With image_size=None, images
            whose size differs from the first one are rejected.
    """

    def __init__(self, image_size: tuple[int, int] | None, channels: int):
        self.image_size = image_size
        self.channels = channels
        self.arrays: list[np.ndarray] = []
        self.names: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.rejected: list[RejectedFile] = []

    def reject(self, name: str, reason: str) -> None:
        """Records `name` as refused for `reason`."""
        self.rejected.append(RejectedFile(name, reason))

    def add_file(self, name: str, path: Path) -> None:
        """Decodes the file at `path`, known to the user as `name`, or records why not."""
        try:
            data = read_image_file(name, path)
        except ValueError as error:
            self.reject(name, str(error))
            return
        self.add_bytes(name, data)

    def add_bytes(self, name: str, data: bytes) -> None:
        """Decodes the file content `data`, or records why not."""
        if not _has_supported_suffix(name):
            self.reject(name, _suffix_reason(name))
            return
        try:
            array, size = _decode(data, name, self.image_size, self.channels)
        except ValueError as error:
            self.reject(name, str(error))
            return
        if self.arrays and array.shape != self.arrays[0].shape:
            self.reject(name, size_mismatch_reason(name, self.arrays[0].shape, size))
            return
        self.arrays.append(array)
        self.names.append(name)
        self.sizes.append(size)

    def stacked_images(self) -> np.ndarray:
        """Returns the decoded images as one uint8 (N, height, width, channels) array."""
        if self.arrays:
            return np.stack(self.arrays)
        height, width = self.image_size or (0, 0)
        return np.zeros((0, height, width, self.channels), dtype=np.uint8)


def _decode(
    data: bytes, name: str, image_size: tuple[int, int] | None, channels: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Returns the (height, width, channels) uint8 array and the original (width, height)."""
    if len(data) == 0:
        raise ValueError(f"Expected a non-empty image file. Received: name={name!r} with 0 bytes")
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise ValueError(_file_size_reason(name, len(data)))
    try:
        # Opening only parses the header; no pixel data is decoded yet.
        image = Image.open(io.BytesIO(data), formats=SUPPORTED_IMAGE_FORMATS)
    except Image.DecompressionBombError as error:
        raise ValueError(_pixels_reason(name, f"over {2 * Image.MAX_IMAGE_PIXELS:,}")) from error
    except Exception as error:
        raise ValueError(
            f"Expected a {FORMATS_TEXT} image; the file is not a readable image. "
            f"Received: name={name!r}{_content_hint(data)}"
        ) from error
    with image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ValueError(_pixels_reason(name, f"{width}x{height} = {width * height:,}"))
        if width < 1 or height < 1:
            raise ValueError(f"Expected a non-empty image. Received: name={name!r} of size 0")
        try:
            if image_size is not None:
                # JPEG can decode straight at 1/2, 1/4 or 1/8 scale, much faster for big photos.
                image.draft("L" if channels == 1 else "RGB", (image_size[1], image_size[0]))
            image.load()
        # Pillow's decoders raise many exception types on damaged input; all mean "corrupt".
        except Exception as error:
            raise ValueError(
                f"Expected a complete {image.format} image; the data is corrupt or truncated "
                f"({error}). Received: name={name!r}"
            ) from error
        try:
            converted = _convert(image, channels)
        except ValueError as error:
            raise ValueError(
                f"Expected a grayscale or colour image. Received: name={name!r} in mode "
                f"{image.mode!r}, which cannot be converted ({error})"
            ) from error
        if image_size is not None and converted.size != (image_size[1], image_size[0]):
            converted = converted.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
        array = np.array(converted, dtype=np.uint8)  # A writable copy.
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return array, (width, height)


def _convert(image: Image.Image, channels: int) -> Image.Image:
    """Converts any Pillow mode to 'L' (channels=1) or 'RGB' (channels=3)."""
    target = "L" if channels == 1 else "RGB"
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        # Pillow's own conversion clips 16-bit values at 255; scale the full range instead.
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535) // 257
        image = Image.fromarray(values.astype(np.uint8))
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        image = Image.fromarray(np.nan_to_num(scaled).round().astype(np.uint8))
    elif image.mode == "P":
        # Through RGBA so that palette transparency is handled without a warning.
        image = image.convert("RGBA")
    elif image.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    return image if image.mode == target else image.convert(target)


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _has_supported_suffix(name: str) -> bool:
    return name.lower().endswith(SUPPORTED_IMAGE_SUFFIXES)


def _suffix_reason(name: str) -> str:
    model_reason = archive_checks.model_file_reason(name)
    if model_reason is not None:
        return model_reason
    if archives.is_zip_name(name):
        return (
            f"Expected an image file ({FORMATS_TEXT}); archives inside a data set are not "
            f"opened. Received: name={name!r}"
        )
    return f"Expected an image file ({FORMATS_TEXT}). Received: name={name!r}"


def _content_hint(data: bytes) -> str:
    """Returns ' (GIF data)' and the like when the first bytes show what the file holds."""
    for signatures, kind in _CONTENT_SIGNATURES:
        if data.startswith(signatures):
            return f" ({kind} data)"
    if data[8:12] == b"WEBP" and data.startswith(b"RIFF"):
        return " (WebP data)"
    if data[4:8] == b"ftyp":
        return " (HEIF/AVIF or video data)"
    return ""


def _file_size_reason(name: str, size: int) -> str:
    return (
        f"Expected an image file of at most {MAX_IMAGE_FILE_BYTES:,} bytes. "
        f"Received: name={name!r} with {size:,} bytes"
    )


def _pixels_reason(name: str, pixels_text: str) -> str:
    return (
        f"Expected an image of at most {MAX_IMAGE_PIXELS:,} pixels; larger images are refused "
        f"before decoding. Received: name={name!r} with {pixels_text} pixels"
    )

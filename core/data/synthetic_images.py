"""Synthetic grayscale steel-surface images with and without defects.

Each image is a relief (grain, mill marks, mottling, plus an optional defect or harmless feature)
lit by an uneven light and photographed with an imperfect exposure and sensor noise. A share of
defects is deliberately hard (faint, small or partly outside the frame) and a share of defect-free
images carries harmless features (mill streaks, stains, dust) that resemble defects, so that the
classes are learnable but not trivially separable.

`render_surface_image_with_mask` also returns the defect's footprint: the pixels where the defect's
own relief layer changes the surface by at least `MASK_RELIEF_THRESHOLD` gray levels, computed from
values already drawn so that the image (and every later random draw) is unchanged.

Only numpy is used: the home page must render without TensorFlow.
"""

from __future__ import annotations

import itertools

import numpy as np

from core.data.validation import describe_value

IMAGE_CLASSES = ("ok", "scratch", "pit", "crack", "inclusion")
IMAGE_SIZE = 128
MINIMUM_IMAGE_SIZE = 32

# Share of defect images drawn as hard cases (faint, small or partly outside the frame), and of
# defect-free images that carry a harmless feature resembling a defect.
HARD_DEFECT_SHARE = 0.1
OK_DISTRACTOR_SHARE = 0.6

# A pixel belongs to a defect's mask when the defect's relief moves it by at least this many gray
# levels before lighting and exposure (which scale it by roughly 0.7 to 1.3). That is about three
# times the strongest sensor noise and at most half the peak of the faintest hard defect, so faint
# defects keep their footprint while the soft tails of grooves, rims and halos stay out.
MASK_RELIEF_THRESHOLD = 8.0


def render_surface_image(
    class_name: str, rng: np.random.Generator, size: int = IMAGE_SIZE
) -> np.ndarray:
    """Renders one grayscale steel-surface image of the given class.

    Args:
        class_name: One of `IMAGE_CLASSES`.
        rng: The random generator that decides everything about this image.
        size: Height and width in pixels. Defaults to 128.

    Returns:
        A `(size, size)` uint8 array.

    Raises:
        ValueError: If `class_name` is unknown or `size` is too small.
        TypeError: If `rng` is not a `numpy.random.Generator`.
    """
    image, _ = render_surface_image_with_mask(class_name, rng, size)
    return image


def render_surface_image_with_mask(
    class_name: str, rng: np.random.Generator, size: int = IMAGE_SIZE
) -> tuple[np.ndarray, np.ndarray | None]:
    """Renders one image like `render_surface_image` and the footprint of its defect.

    The image is the same, byte for byte, as `render_surface_image` gives for the same generator
    state, and the generator ends in the same state: the mask uses no random numbers.

    Args:
        class_name: One of `IMAGE_CLASSES`.
        rng: The random generator that decides everything about this image.
        size: Height and width in pixels. Defaults to 128.

    Returns:
        `(image, mask)`: a `(size, size)` uint8 image and, for a defect class, a `(size, size)` bool
        mask that is True where the defect's relief has magnitude >= `MASK_RELIEF_THRESHOLD`
        (it may be empty when a hard defect lies wholly outside the frame); for "ok" the mask
        is None, since harmless features are not defects.

    Raises:
        ValueError: If `class_name` is unknown or `size` is too small.
        TypeError: If `rng` is not a `numpy.random.Generator`.
    """
    if class_name not in IMAGE_CLASSES:
        raise ValueError(
            f"Expected class_name to be one of {IMAGE_CLASSES}. "
            f"Received: class_name={describe_value(class_name)}"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"Expected rng to be a numpy.random.Generator. Received: rng={describe_value(rng)}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < MINIMUM_IMAGE_SIZE:
        raise ValueError(
            f"Expected size to be an integer >= {MINIMUM_IMAGE_SIZE}. "
            f"Received: size={describe_value(size)}"
        )
    grid = _Grid(size)
    grain_angle = float(rng.choice([0.0, np.pi / 2]) + rng.normal(0.0, np.deg2rad(4.0)))
    relief = _background_relief(rng, grid, grain_angle)
    mask = None
    if class_name == "ok":
        if rng.random() < OK_DISTRACTOR_SHARE:
            relief += _draw_distractor(rng, grid, grain_angle)
    else:
        hard = bool(rng.random() < HARD_DEFECT_SHARE)
        drawer = _DEFECT_DRAWERS[class_name]
        defect_relief = drawer(rng, grid, grain_angle, hard)
        relief += defect_relief
        mask = np.abs(defect_relief) >= MASK_RELIEF_THRESHOLD
    return _photograph(rng, grid, relief), mask


class _Grid:
    """Pixel coordinates shared by the drawing helpers."""

    def __init__(self, size: int):
        self.size = size
        coordinates = np.arange(size, dtype=np.float64)
        self.rows, self.columns = np.meshgrid(coordinates, coordinates, indexing="ij")


def _filtered_noise(
    rng: np.random.Generator,
    grid: _Grid,
    sigma_along: float,
    sigma_across: float,
    angle: float,
) -> np.ndarray:
    """White noise smoothed by an oriented Gaussian, normalised to unit standard deviation."""
    size = grid.size
    white = rng.standard_normal((size, size))
    frequencies = np.fft.fftfreq(size)
    frequency_rows, frequency_columns = np.meshgrid(frequencies, frequencies, indexing="ij")
    # Frequencies along the grain direction are damped by the long sigma, across it by the short.
    along = frequency_columns * np.cos(angle) + frequency_rows * np.sin(angle)
    across = -frequency_columns * np.sin(angle) + frequency_rows * np.cos(angle)
    transfer = np.exp(-2.0 * np.pi**2 * ((along * sigma_along) ** 2 + (across * sigma_across) ** 2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(white) * transfer))
    deviation = smooth.std()
    return smooth / deviation if deviation > 0 else smooth


def _background_relief(rng: np.random.Generator, grid: _Grid, grain_angle: float) -> np.ndarray:
    """Rolled-steel texture: fine grain along the rolling direction, mill marks and mottling."""
    grain = _filtered_noise(rng, grid, rng.uniform(10.0, 40.0), rng.uniform(0.7, 1.3), grain_angle)
    relief = grain * rng.uniform(2.0, 7.0)
    mottling = _filtered_noise(rng, grid, rng.uniform(6.0, 16.0), rng.uniform(6.0, 16.0), 0.0)
    relief += mottling * rng.uniform(1.5, 6.0)
    # Mill marks: faint periodic bands across the rolling direction, wandering slowly in amplitude.
    across = -grid.columns * np.sin(grain_angle) + grid.rows * np.cos(grain_angle)
    period = rng.uniform(5.0, 28.0)
    envelope = 0.6 + 0.4 * _filtered_noise(rng, grid, 30.0, 30.0, 0.0)
    relief += (
        rng.uniform(0.0, 3.5) * envelope * np.sin(2 * np.pi * across / period + rng.uniform(0, 7))
    )
    return relief


def _photograph(rng: np.random.Generator, grid: _Grid, relief: np.ndarray) -> np.ndarray:
    """Lights the relief unevenly, applies exposure and sensor noise, and quantises to uint8."""
    size = grid.size
    centre = (size - 1) / 2.0
    rows = (grid.rows - centre) / size
    columns = (grid.columns - centre) / size
    light_angle = rng.uniform(0.0, 2 * np.pi)
    gradient = 1.0 + rng.uniform(-0.25, 0.25) * (
        columns * np.cos(light_angle) + rows * np.sin(light_angle)
    )
    vignette_rows = rows - rng.uniform(-0.2, 0.2)
    vignette_columns = columns - rng.uniform(-0.2, 0.2)
    vignette = 1.0 - rng.uniform(0.0, 0.5) * (vignette_rows**2 + vignette_columns**2)
    base_level = rng.uniform(100.0, 160.0)
    image = (base_level + relief) * gradient * vignette
    # Exposure: a gain and a gamma curve, like an auto-exposure that is never quite right.
    image = np.clip(image * rng.uniform(0.9, 1.1), 0.0, 255.0)
    image = 255.0 * (image / 255.0) ** rng.uniform(0.9, 1.1)
    image += rng.standard_normal((size, size)) * rng.uniform(1.0, 2.5)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _polyline_distance(points: np.ndarray, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Distance from every pixel to a polyline, and the signed side of its nearest segment."""
    distance = np.full(grid.rows.shape, np.inf)
    side = np.zeros(grid.rows.shape)
    for start, end in itertools.pairwise(points):
        segment = end - start
        length_squared = float(segment @ segment)
        if length_squared == 0.0:
            continue
        offset_rows = grid.rows - start[0]
        offset_columns = grid.columns - start[1]
        fraction = np.clip(
            (offset_rows * segment[0] + offset_columns * segment[1]) / length_squared, 0.0, 1.0
        )
        delta_rows = offset_rows - fraction * segment[0]
        delta_columns = offset_columns - fraction * segment[1]
        segment_distance = np.hypot(delta_rows, delta_columns)
        closer = segment_distance < distance
        distance = np.where(closer, segment_distance, distance)
        cross = segment[0] * offset_columns - segment[1] * offset_rows
        side = np.where(closer, np.sign(cross), side)
    return distance, side


def _random_point(rng: np.random.Generator, grid: _Grid, margin: float) -> np.ndarray:
    """A point in the frame, at least `margin` pixels inside (negative margin: may be outside)."""
    return rng.uniform(margin, grid.size - 1 - margin, size=2)


def _defect_strength(rng: np.random.Generator, hard: bool, normal: tuple, faint: tuple) -> float:
    return float(rng.uniform(*faint) if hard else rng.uniform(*normal))


def _draw_scratch(
    rng: np.random.Generator, grid: _Grid, grain_angle: float, hard: bool
) -> np.ndarray:
    """Thin straight or gently curved grooves with a bright lip on the lit side."""
    contrast = _defect_strength(rng, hard, (28.0, 65.0), (16.0, 24.0))
    angle = rng.uniform(0.0, np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)])
    normal = np.array([direction[1], -direction[0]])
    centre = _random_point(rng, grid, 4.0 if hard else 20.0)
    # A rough tool often leaves a bundle of parallel marks.
    count = 1 if hard else int(rng.integers(2, 7))
    relief = np.zeros(grid.rows.shape)
    for index in range(count):
        length = rng.uniform(35.0, 80.0) if hard else rng.uniform(70.0, 180.0)
        start = (
            centre
            + normal * rng.uniform(-45.0, 45.0) * (index > 0)
            + rng.normal(0.0, 8.0) * direction
        )
        steps = np.linspace(-0.5, 0.5, 9)
        bow = rng.uniform(-0.06, 0.06) * length
        points = np.array(
            [start + step * length * direction + bow * (1 - 4 * step**2) * normal for step in steps]
        )
        distance, side = _polyline_distance(points, grid)
        width = rng.uniform(0.7, 1.6)
        strength = contrast * (1.0 if index == 0 else rng.uniform(0.5, 1.0))
        relief += -strength * np.exp(-((distance / width) ** 2))
        relief += 0.5 * strength * np.exp(-(((distance - 1.8 * width) / width) ** 2)) * (side > 0)
    return relief


def _draw_pit(rng: np.random.Generator, grid: _Grid, grain_angle: float, hard: bool) -> np.ndarray:
    """A cluster of small round depressions, dark inside with a bright rim on the lit side."""
    contrast = _defect_strength(rng, hard, (30.0, 75.0), (20.0, 30.0))
    count = int(rng.integers(1, 3) if hard else rng.integers(12, 40))
    cluster_centre = _random_point(rng, grid, 2.0 if hard else 16.0)
    spread = rng.uniform(20.0, 40.0)
    light = rng.uniform(0.0, 2 * np.pi)
    relief = np.zeros(grid.rows.shape)
    for _ in range(count):
        centre = cluster_centre + rng.normal(0.0, spread, size=2) * (count > 1)
        radius = rng.uniform(1.9, 3.0) if hard else rng.uniform(1.8, 5.5)
        delta_rows = grid.rows - centre[0]
        delta_columns = grid.columns - centre[1]
        radial = np.hypot(delta_rows, delta_columns)
        bowl = -np.exp(-((radial / radius) ** 4))
        # The rim catches the light on one side only, which makes the pit look sunken.
        facing = (delta_columns * np.cos(light) + delta_rows * np.sin(light)) / (radial + 1e-6)
        rim = 0.45 * np.exp(-(((radial - 1.3 * radius) / (0.5 * radius)) ** 2)) * facing
        relief += contrast * rng.uniform(0.6, 1.0) * (bowl + rim)
    return relief


def _draw_crack(
    rng: np.random.Generator, grid: _Grid, grain_angle: float, hard: bool
) -> np.ndarray:
    """A dark jagged line that wanders and branches, sharper and darker than a scratch."""
    contrast = _defect_strength(rng, hard, (45.0, 90.0), (22.0, 34.0))
    relief = np.zeros(grid.rows.shape)
    step_count = int(rng.integers(10, 18) if hard else rng.integers(45, 80))
    if hard:
        # A short crack starting anywhere, even at the edge, but growing into the frame.
        start = _random_point(rng, grid, 2.0)
        to_centre = (grid.size - 1) / 2.0 - start
        heading = float(np.arctan2(to_centre[0], to_centre[1]) + rng.uniform(-1.2, 1.2))
    else:
        # A long crack is centred on its point so that it runs through the frame, not out of it.
        heading = rng.uniform(0.0, 2 * np.pi)
        middle = _random_point(rng, grid, 30.0)
        start = middle - 0.5 * step_count * 2.5 * np.array([np.sin(heading), np.cos(heading)])
    trunk = _random_walk(rng, start, heading, step_count, jitter=0.55)
    branches = [trunk]
    for _ in range(0 if hard else int(rng.integers(3, 8))):
        origin = trunk[int(rng.integers(1, len(trunk) - 1))]
        branch_heading = heading + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2)
        branches.append(_random_walk(rng, origin, branch_heading, int(rng.integers(5, 18)), 0.6))
    for index, points in enumerate(branches):
        distance, _ = _polyline_distance(points, grid)
        width = rng.uniform(0.8, 1.4) * (1.0 if index == 0 else 0.75)
        relief += -contrast * np.exp(-((distance / width) ** 4)) * (1.0 if index == 0 else 0.8)
    # A faint dark halo of oxidation along the crack.
    halo_distance, _ = _polyline_distance(trunk, grid)
    relief += -0.15 * contrast * np.exp(-((halo_distance / 4.0) ** 2))
    return np.maximum(relief, -1.1 * contrast)


def _random_walk(
    rng: np.random.Generator, start: np.ndarray, heading: float, step_count: int, jitter: float
) -> np.ndarray:
    """A zigzag path: short steps with a persistent but jittering heading."""
    points = [np.asarray(start, dtype=np.float64)]
    course = heading
    for _ in range(step_count):
        # The crack keeps its overall course: the heading is pulled back towards the start one.
        heading += rng.normal(0.0, jitter) - 0.35 * (heading - course)
        length = rng.uniform(1.5, 3.5)
        points.append(points[-1] + length * np.array([np.sin(heading), np.cos(heading)]))
    return np.array(points)


def _draw_inclusion(
    rng: np.random.Generator, grid: _Grid, grain_angle: float, hard: bool
) -> np.ndarray:
    """Foreign material rolled into the surface: rough elongated patches along the grain."""
    contrast = _defect_strength(rng, hard, (28.0, 60.0), (17.0, 26.0))
    sign = -1.0 if rng.random() < 0.75 else 1.0
    centre = _random_point(rng, grid, 3.0 if hard else 20.0)
    count = 1 if hard else int(rng.integers(5, 12))
    along = np.array([np.sin(grain_angle), np.cos(grain_angle)])
    across = np.array([along[1], -along[0]])
    rough = _filtered_noise(rng, grid, 1.5, 1.5, 0.0)
    mask = np.zeros(grid.rows.shape)
    for _ in range(count):
        piece_centre = centre + (
            along * rng.uniform(-50.0, 50.0) + across * rng.uniform(-40.0, 40.0)
        ) * (count > 1)
        half_length = rng.uniform(4.0, 8.0) if hard else rng.uniform(7.0, 24.0)
        half_width = rng.uniform(1.5, 2.5) if hard else rng.uniform(2.0, 5.0)
        delta_rows = grid.rows - piece_centre[0]
        delta_columns = grid.columns - piece_centre[1]
        along_distance = delta_rows * along[0] + delta_columns * along[1]
        across_distance = -delta_rows * along[1] + delta_columns * along[0]
        ellipse = (along_distance / half_length) ** 2 + (across_distance / half_width) ** 2
        mask = np.maximum(mask, np.clip(1.6 - ellipse - 0.35 * rough, 0.0, 1.0))
    # Inclusions are blotchy inside, not uniformly dark.
    interior = 0.75 + 0.25 * _filtered_noise(rng, grid, 1.2, 1.2, 0.0)
    return sign * contrast * mask * interior


def _draw_distractor(rng: np.random.Generator, grid: _Grid, grain_angle: float) -> np.ndarray:
    """A harmless feature on a good part: a mill streak, a stain or a few dust specks."""
    kind = rng.choice(["streak", "stain", "specks"], p=[0.4, 0.4, 0.2])
    if kind == "streak":
        # A mill streak runs the whole length of the strip along the grain, soft and wide.
        along = np.array([np.sin(grain_angle), np.cos(grain_angle)])
        centre = _random_point(rng, grid, 8.0)
        points = np.array([centre - 200 * along, centre + 200 * along])
        distance, _ = _polyline_distance(points, grid)
        width = rng.uniform(1.8, 4.0)
        strength = rng.uniform(10.0, 20.0) * rng.choice([-1.0, 1.0])
        return strength * np.exp(-((distance / width) ** 2))
    if kind == "stain":
        # A stain is large, very soft-edged and faint: it changes the tint, not the surface.
        blob = _filtered_noise(rng, grid, rng.uniform(8.0, 14.0), rng.uniform(8.0, 14.0), 0.0)
        centre = _random_point(rng, grid, 10.0)
        radial = np.hypot(grid.rows - centre[0], grid.columns - centre[1])
        envelope = np.exp(-((radial / rng.uniform(18.0, 35.0)) ** 2))
        strength = rng.uniform(14.0, 26.0) * rng.choice([-1.0, 1.0])
        return strength * envelope * np.clip(0.6 + 0.5 * blob, 0.0, 1.5)
    # Dust specks are smaller than pits, have no lit rim and are as often bright as dark.
    relief = np.zeros(grid.rows.shape)
    for _ in range(int(rng.integers(3, 9))):
        centre = _random_point(rng, grid, 3.0)
        radial = np.hypot(grid.rows - centre[0], grid.columns - centre[1])
        strength = rng.uniform(10.0, 18.0) * rng.choice([-1.0, 1.0])
        relief += strength * np.exp(-((radial / rng.uniform(0.9, 1.4)) ** 2))
    return relief


_DEFECT_DRAWERS = {
    "scratch": _draw_scratch,
    "pit": _draw_pit,
    "crack": _draw_crack,
    "inclusion": _draw_inclusion,
}

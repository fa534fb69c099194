"""Degradations that look like real camera failures, for making training examples.

Blur is applied at the working resolution (the size blurwatch scores at), so the
strengths below are in working-resolution pixels. Every degraded image then goes
through sensor noise, JPEG re-compression and sometimes a resize, so that the network
cannot learn the synthetic pipeline's fingerprint instead of blur.
"""

from __future__ import annotations

import cv2
import numpy as np

from blurwatch.exposure import CLIPPED_LEVEL, LINEAR

# Strengths that straddle "a photographer would reject it" at ~2000 px working size:
# a defocus disc of radius >= 2 px or a shake path of >= 4 px is visible at 100% view
# (a 24 MP photo's subtle blur, defocus 0.15% or shake 0.35% of its long side, is a
# 3 px disc or a 7 px path here). Starting the blurred examples higher (2.2 px, and
# sharp examples softened by up to 0.8 px) kept more shallow-DoF photos but lost a third
# of the subtle blur on held-out photos (training/README.md), so they start here.
DEFOCUS_RADIUS = (1.8, 9.0)
GAUSSIAN_SIGMA = (1.3, 5.0)
SHAKE_LENGTH = (3.5, 28.0)
LINE_LENGTH = (3.5, 28.0)


def defocus_kernel(radius: float) -> np.ndarray:
    """A uniform disc (a lens's out-of-focus point), anti-aliased at the rim."""
    size = int(np.ceil(radius)) * 2 + 3
    y, x = np.mgrid[:size, :size] - size // 2
    kernel = np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0)
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    size = int(np.ceil(sigma * 3)) * 2 + 1
    g = cv2.getGaussianKernel(size, sigma)
    return (g @ g.T).astype(np.float32)


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A straight motion streak (a short exposure's shake, or a moving subject)."""
    size = int(np.ceil(length)) + 3
    size += 1 - size % 2
    kernel = np.zeros((size * 4, size * 4), np.float32)
    c = size * 2
    dx, dy = np.cos(angle) * length * 2, np.sin(angle) * length * 2
    cv2.line(kernel, (int(c - dx), int(c - dy)), (int(c + dx), int(c + dy)), 1.0, thickness=1, lineType=cv2.LINE_AA)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def shake_kernel(length: float, rng: np.random.Generator) -> np.ndarray:
    """A hand-shake trajectory: a random walk with momentum, rasterised sub-pixel."""
    steps = 64
    velocity = rng.normal(size=2)
    velocity /= np.linalg.norm(velocity) + 1e-9
    points = [np.zeros(2)]
    for _ in range(steps):
        velocity = 0.8 * velocity + rng.normal(scale=0.6, size=2)
        velocity /= np.linalg.norm(velocity) + 1e-9
        points.append(points[-1] + velocity)
    path = np.array(points)
    path -= path.mean(axis=0)
    extent = np.abs(path).max() + 1e-9
    path *= (length / 2) / extent
    scale = 4
    size = int(np.ceil(length)) + 5
    size += 1 - size % 2
    canvas = np.zeros((size * scale, size * scale), np.float32)
    pts = ((path + size / 2) * scale).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], False, 1.0, thickness=1, lineType=cv2.LINE_AA)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def random_blur_kernel(rng: np.random.Generator, strength: float = 1.0) -> tuple[str, np.ndarray]:
    """One of the blur families at a random strength; ``strength`` < 1 gives subtle blur."""
    kind = rng.choice(["defocus", "shake", "line", "gaussian"], p=[0.25, 0.35, 0.3, 0.1])
    if kind == "defocus":
        return kind, defocus_kernel(strength * rng.uniform(*DEFOCUS_RADIUS))
    if kind == "shake":
        return kind, shake_kernel(strength * rng.uniform(*SHAKE_LENGTH), rng)
    if kind == "line":
        return kind, line_kernel(strength * rng.uniform(*LINE_LENGTH), rng.uniform(0, np.pi))
    return kind, gaussian_kernel(strength * rng.uniform(*GAUSSIAN_SIGMA))


def blur(gray: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blur in linear light (as optics do), then back to the display curve."""
    linear = (gray.astype(np.float32) / 255.0) ** 2.2
    out = cv2.filter2D(linear, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return (np.clip(out, 0, 1) ** (1 / 2.2) * 255.0).astype(np.float32)


def camera_finish(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise, an occasional resize and JPEG re-compression; returns uint8."""
    out = image.astype(np.float32)
    if rng.random() < 0.8:
        sigma = rng.uniform(0.5, 6.0)
        shot = np.sqrt(np.maximum(out, 0) / 255.0) * rng.uniform(0, 4.0)
        out = out + rng.normal(size=out.shape).astype(np.float32) * (sigma + shot)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        factor = rng.uniform(0.7, 0.95)
        small = cv2.resize(out, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.85:
        quality = int(rng.integers(60, 97))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


def sharp_variant(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sharp example: the photo, maybe downscaled (sharper per pixel), camera-finished."""
    out = gray
    if rng.random() < 0.4:
        factor = rng.uniform(0.5, 0.9)
        out = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return camera_finish(out, rng)


def bokeh_variant(gray: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A shallow depth-of-field example: an elliptical region stays sharp, the rest is defocused.

    Returns the image and a mask (True = sharp) so that patch labels follow the region.
    """
    h, w = gray.shape
    mask = np.zeros((h, w), np.uint8)
    centre = (int(rng.uniform(0.25, 0.75) * w), int(rng.uniform(0.25, 0.75) * h))
    axes = (int(rng.uniform(0.12, 0.3) * w), int(rng.uniform(0.12, 0.3) * h))
    cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1, -1)
    background = blur(gray, defocus_kernel(rng.uniform(6.0, 16.0)))
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 4.0)
    out = soft * gray.astype(np.float32) + (1 - soft) * background
    return camera_finish(out, rng), soft > 0.99


# Synthetic exposure faults, in stops from the photo as it was shot. A rendering 1.5 EV
# off is what the labelled sets call dark or overexposed (Afifi et al.'s N1.5 / P1.5);
# within half a stop the photo counts as exposed as intended.
DARK_EV = (-5.0, -1.5)
FINE_EV = (-0.5, 0.5)
BRIGHT_EV = (1.5, 3.0)
# What a well exposed photo shows blown (a lamp, a window, the sun) was brighter than
# white by an unknown amount: up to this many stops.
CLIPPED_HEADROOM_EV = 5.0


def expose(gray: np.ndarray, ev: float, rng: np.random.Generator) -> np.ndarray:
    """The photo as if shot ``ev`` stops off: in linear light, with sensor noise and clipping.

    Blown parts of the original get a random headroom first, so an underexposed copy of
    a room with a window keeps a bright window, as a real one does. A darker copy gains
    photon and read noise relative to its signal; a brighter one clips. Then the sRGB
    curve, 8 bits and a JPEG, as a camera would write it.
    """
    linear = LINEAR[gray].astype(np.float32)
    blown = gray >= CLIPPED_LEVEL
    if blown.any():
        linear[blown] *= np.float32(2.0 ** rng.uniform(0.0, CLIPPED_HEADROOM_EV))
    linear *= np.float32(2.0 ** ev)
    if ev < 0:
        gain = rng.uniform(0.0005, 0.003)  # photon noise per unit of signal, at full scale
        noise = np.sqrt(gain * np.maximum(linear, 0) + (0.3 * gain) ** 2)
        linear += rng.normal(size=linear.shape).astype(np.float32) * noise
    linear = np.clip(linear, 0.0, 1.0)
    display = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    out = np.clip(display * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 97))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def random_exposure(rng: np.random.Generator) -> tuple[float, str]:
    """A random shift and its label: ``dark``, ``ok`` or ``overexposed``, a third each."""
    kind = rng.choice(["dark", "ok", "overexposed"])
    span = {"dark": DARK_EV, "ok": FINE_EV, "overexposed": BRIGHT_EV}[kind]
    return float(rng.uniform(*span)), str(kind)

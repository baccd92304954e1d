"""Write the Teams app icons, color.png and outline.png, next to this script.

Teams requires a 192x192 full-colour icon and a 32x32 outline icon that is white on a
transparent background. Both show a check mark. The PNG files are written with zlib and
struct only, so the icons can be regenerated anywhere: `python teams/make_icons.py`.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).parent
ACCENT = (0x2E, 0x5A, 0x88)
WHITE = (0xFF, 0xFF, 0xFF)
# The check mark as a polyline in coordinates relative to the icon's side.
CHECK_MARK = ((0.24, 0.53), (0.43, 0.71), (0.77, 0.32))
CHECK_WIDTH = 0.11
# Samples per pixel side, for smooth edges.
SUPERSAMPLING = 4

Pixel = tuple[int, int, int, int]


def _segment_distance(
    x: float, y: float, start: tuple[float, float], end: tuple[float, float]
) -> float:
    (x1, y1), (x2, y2) = start, end
    dx, dy = x2 - x1, y2 - y1
    t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - (x1 + t * dx), y - (y1 + t * dy))


def check_mark_coverage(size: int, column: int, row: int) -> float:
    """Return the share of a pixel covered by the check mark, from 0 to 1."""
    inside = 0
    for sub_row in range(SUPERSAMPLING):
        for sub_column in range(SUPERSAMPLING):
            x = (column + (sub_column + 0.5) / SUPERSAMPLING) / size
            y = (row + (sub_row + 0.5) / SUPERSAMPLING) / size
            distance = min(
                _segment_distance(x, y, CHECK_MARK[i], CHECK_MARK[i + 1])
                for i in range(len(CHECK_MARK) - 1)
            )
            inside += distance <= CHECK_WIDTH / 2
    return inside / SUPERSAMPLING**2


def colour_icon(size: int = 192) -> list[list[Pixel]]:
    """Draw a white check mark on the accent colour, fully opaque."""
    rows = []
    for row in range(size):
        pixels = []
        for column in range(size):
            cover = check_mark_coverage(size, column, row)
            r, g, b = (round(a + (w - a) * cover) for a, w in zip(ACCENT, WHITE, strict=True))
            pixels.append((r, g, b, 255))
        rows.append(pixels)
    return rows


def outline_icon(size: int = 32) -> list[list[Pixel]]:
    """Draw a white check mark on transparency, with edge pixels in partly transparent white."""
    return [
        [
            (255, 255, 255, round(255 * check_mark_coverage(size, column, row)))
            for column in range(size)
        ]
        for row in range(size)
    ]


def png_bytes(rows: list[list[Pixel]]) -> bytes:
    """Encode RGBA rows as a PNG: 8 bits per channel, colour type 6, no filtering."""
    height, width = len(rows), len(rows[0])

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(v for pixel in row for v in pixel) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    (HERE / "color.png").write_bytes(png_bytes(colour_icon()))
    (HERE / "outline.png").write_bytes(png_bytes(outline_icon()))


if __name__ == "__main__":
    main()

"""The Teams app package: manifest.json and its two icons."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

TEAMS_DIR = Path(__file__).parent.parent.parent / "teams"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _manifest() -> dict[str, Any]:
    return json.loads((TEAMS_DIR / "manifest.json").read_text(encoding="utf-8"))


def _read_png(path: Path) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Decode an 8-bit RGBA PNG with no filtering, as teams/make_icons.py writes it."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, {}
    compressed = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        chunks[kind] = body
        if kind == b"IDAT":
            compressed += body
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 6), "expected 8-bit RGBA"
    raw = zlib.decompress(compressed)
    stride = 1 + 4 * width
    rows = []
    for row in range(height):
        line = raw[row * stride : (row + 1) * stride]
        assert line[0] == 0, "expected no PNG filter"
        rows.append([tuple(line[1 + 4 * i : 5 + 4 * i]) for i in range(width)])
    return width, height, rows


def test_manifest_declares_bot_and_commands() -> None:
    manifest = _manifest()

    assert manifest["manifestVersion"] == "1.17"
    assert "v1.17/MicrosoftTeams.schema.json" in str(manifest["$schema"])
    assert GUID.match(str(manifest["id"]))
    [bot] = manifest["bots"]
    assert GUID.match(bot["botId"])
    assert sorted(bot["scopes"]) == ["personal", "team"]
    [commands] = bot["commandLists"]
    assert [c["title"] for c in commands["commands"]] == ["help", "request", "status", "pending"]
    assert all(len(c["description"]) <= 128 for c in commands["commands"])


def test_manifest_text_within_limits() -> None:
    manifest = _manifest()

    assert len(manifest["name"]["short"]) <= 30
    assert len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    assert re.match(r"^#[0-9A-Fa-f]{6}$", str(manifest["accentColor"]))
    developer = manifest["developer"]
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert str(developer[key]).startswith("https://")


def test_colour_icon_is_opaque_192() -> None:
    width, height, rows = _read_png(TEAMS_DIR / "color.png")

    assert (width, height) == (192, 192)
    assert all(pixel[3] == 255 for row in rows for pixel in row)


def test_outline_icon_is_white_on_transparent() -> None:
    width, height, rows = _read_png(TEAMS_DIR / "outline.png")
    pixels = [pixel for row in rows for pixel in row]

    assert (width, height) == (32, 32)
    assert all(pixel[:3] == (255, 255, 255) for pixel in pixels if pixel[3] > 0)
    assert any(pixel[3] == 0 for pixel in pixels)
    assert any(pixel[3] == 255 for pixel in pixels)

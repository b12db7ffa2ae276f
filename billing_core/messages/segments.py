"""SMS encodings and segments: a message is GSM-7 when every character is in the GSM 03.38
alphabet (the extension characters count twice), otherwise UCS-2 (UTF-16 code units)."""

from __future__ import annotations

from enum import StrEnum
from math import ceil
from typing import NamedTuple

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


class Encoding(StrEnum):
    gsm7 = "GSM-7"
    ucs2 = "UCS-2"


class Segments(NamedTuple):
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int

    @property
    def per_segment(self) -> int:
        single, multi = _LIMITS[self.encoding]
        return single if self.parts <= 1 else multi


_LIMITS = {Encoding.gsm7: (160, 153), Encoding.ucs2: (70, 67)}


def count_segments(text: str) -> Segments:
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text):
        encoding = Encoding.gsm7
        units = sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
    else:
        encoding = Encoding.ucs2
        units = len(text.encode("utf-16-le")) // 2
    single, multi = _LIMITS[encoding]
    count = 1 if units <= single else ceil(units / multi)
    return Segments(encoding, units, count)

"""Text rules shared by the SMS and ZNS channels: length limits and plain-ASCII Vietnamese for
gateways whose brand-name SMS must carry no diacritics (a Unicode SMS holds 70 characters)."""

from __future__ import annotations

import unicodedata


def without_diacritics(text: str) -> str:
    """``"Quý khách sắp đến lượt"`` → ``"Quy khach sap den luot"`` (đ/Đ → d/D)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def fits(text: str, limit: int | None) -> bool:
    return limit is None or len(text) <= limit

"""Phone numbers in the forms gateways ask for, from an E.164 number (``+84912345678``)."""

from __future__ import annotations


def formatted(e164: str, style: str) -> str:
    """``e164`` as ``"+84912345678"`` (``e164``), ``"84912345678"`` (``84``, what most
    Vietnamese brand-name SMS gateways and Zalo ZNS want) or ``"0912345678"`` (``0``)."""
    digits = e164.lstrip("+")
    if style == "84":
        return digits
    if style == "0" and digits.startswith("84"):
        return "0" + digits[2:]
    return "+" + digits


def masked(number: str) -> str:
    """A number for logs and screens: the last three digits only (``+84*******678``)."""
    digits = number.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    head = "+84" if digits.startswith("+84") else digits[:1]
    return head + "*" * (len(digits) - len(head) - 3) + digits[-3:]

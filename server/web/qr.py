"""QR codes as SVG for screens (the printers draw their own)."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg


def svg(data: str, box_size: int = 10, border: int = 2) -> bytes:
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    qr.add_data(data)
    qr.make(fit=True)
    img = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()

"""PNG and JPEG images: one page, read by OCR."""
from __future__ import annotations

import io

import numpy as np

from index.ingest.parse.base import ParsedDocument, ParseError, ParseLimits, Progress, report
from index.ingest.parse.ocr import ocr_image

MAX_PIXELS = 60_000_000  # a 300 dpi A3 scan is ~17 Mpx; more is a decompression bomb, not a page


def parse_image(data: bytes, kind: str, progress: Progress | None = None,
                limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size  # read from the header, before any pixel is decoded
            if w * h > MAX_PIXELS:
                raise ParseError(f"the image is {w}x{h} pixels, over the limit of {MAX_PIXELS // 1_000_000} megapixels")
            rgb = np.asarray(img.convert("RGB"))
    except ParseError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ParseError(f"the {kind.upper()} image is damaged and cannot be read ({err})") from err
    report(progress, "OCR page", 1, 1)
    return ParsedDocument("image", [ocr_image(rgb[:, :, ::-1], limits.ocr_threads)], paged=True, ocr_pages=1)

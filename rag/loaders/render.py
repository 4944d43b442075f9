"""Pages of an indexed PDF as images, for showing a citation where it stands on its page."""

from __future__ import annotations

import hashlib
import io
import os
import threading

from rag.errors import SourceChangedError

MAX_WIDTH = 2000
_PDFIUM = threading.Lock()  # PDFium is not thread-safe: one call into it at a time
_HASHES: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> sha256, so a page view hashes once


def _sha256(path: str) -> str:
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in _HASHES:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _HASHES[key] = digest.hexdigest()
        return _HASHES[key]
    except OSError:
        raise SourceChangedError(f"{os.path.basename(path)} is no longer where it was indexed: run `rag index`") from None


def render_page(path: str | None, sha256: str, page: int, width: int) -> bytes:
    """PNG of page `page` (1-based), `width` pixels wide; SourceChangedError when the file is not the one indexed."""
    import pypdfium2

    if not path or _sha256(path) != sha256:
        name = os.path.basename(path or "the file")
        raise SourceChangedError(f"{name} changed since it was indexed: run `rag index` to see its pages")
    width = max(100, min(width, MAX_WIDTH))
    with _PDFIUM:
        pdf = pypdfium2.PdfDocument(path)
        try:
            pdf_page = pdf[page - 1]
            image = pdf_page.render(scale=width / pdf_page.get_width()).to_pil()
            pdf_page.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()

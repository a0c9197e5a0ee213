"""Portal channel: a document for the customer's web space — its PDF/A, an accessible HTML version, an index entry.

The HTML version is a standalone, accessible page (``lang``, a ``<title>``, one ``<h1>``, landmarks,
the PDF offered as a link with its size) made from the layout's ``<portal>`` variant. Files go under
``portal/CUSTOMER/``; ``portal/index.jsonl`` lists one entry per document for the portal's loader.
"""
from __future__ import annotations

import html
from pathlib import Path

from ...archive.pdf_archive import sanitise


def write_portal_document(portal_dir: Path, routed, pdf: bytes, pdf_name: str, job) -> dict:
    """Write one document's PDF/A and HTML under ``portal_dir``; returns its index entry."""
    content = routed.content["portal"]
    folder = sanitise(routed.customer_id).lstrip("._") or "customer"
    stem = pdf_name[:-4] if pdf_name.endswith(".pdf") else sanitise(routed.doc_id)
    (portal_dir / folder).mkdir(exist_ok=True)
    (portal_dir / folder / pdf_name).write_bytes(pdf)
    e = html.escape
    paras = "".join(f"<p>{e(p)}</p>" for p in content.paragraphs)
    page = (f'<!DOCTYPE html>\n<html lang="{e(routed.language)}">\n<head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(content.title)}</title></head>\n<body>\n<main>\n<h1>{e(content.title)}</h1>\n{paras}\n"
            f'<p><a href="{e(pdf_name)}" type="application/pdf">{e(content.title)} (PDF, '
            f"{len(pdf) // 1024 + 1} KB)</a></p>\n</main>\n</body>\n</html>\n")
    (portal_dir / folder / f"{stem}.html").write_text(page, encoding="utf-8")
    return {"doc_id": routed.doc_id, "customer_id": routed.customer_id, "doc_type": routed.doc_type,
            "date": job.date, "title": content.title, "pdf": f"portal/{folder}/{pdf_name}",
            "html": f"portal/{folder}/{stem}.html", "reason": routed.reason}

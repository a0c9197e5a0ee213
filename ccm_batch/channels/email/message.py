"""Email channel: one document's RFC 5322 message — subject, preheader, responsive HTML, plain text, PDF.

The HTML body is a table-based, single-column layout (600 px, fluid under 620 px via a media query)
whose stylesheet is inlined into ``style`` attributes by ``css-inline`` (mail clients drop ``<style>``
blocks; the media query is kept in the head for those that honour it). The plain-text alternative
carries the same blocks. The composed PDF (its PDF/A twin) is attached, or the body links to the
portal (``attach = "link"``). Everything is deterministic: ``Date`` is the job date, MIME boundaries
derive from the Message-ID, and the Message-ID from the document id
(``<DOCID.JOB.DATE@DOMAIN>``, see :func:`message_id`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

_ID_SAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")

CSS = """
body { margin: 0; padding: 0; background: #eef2f4; font-family: Arial, Helvetica, sans-serif; color: #1d2a30; }
.preheader { display: none; max-height: 0; overflow: hidden; opacity: 0; color: #eef2f4; font-size: 1px; }
.wrapper { width: 100%; background: #eef2f4; }
.container { width: 600px; max-width: 600px; background: #ffffff; }
.brand { background: BRAND; color: #ffffff; padding: 20px 24px; font-size: 20px; font-weight: bold; }
.content { padding: 24px; }
h1 { font-size: 22px; line-height: 28px; margin: 0 0 16px 0; color: BRAND; }
p { font-size: 15px; line-height: 22px; margin: 0 0 14px 0; }
.cta { padding: 8px 0 18px 0; }
.button { display: inline-block; background: BRAND; color: #ffffff; text-decoration: none; padding: 12px 22px;
          border-radius: 4px; font-weight: bold; font-size: 15px; }
.footer { font-size: 12px; line-height: 17px; color: #5a6b73; padding: 16px 24px; }
.footer p { font-size: 12px; line-height: 17px; margin: 0 0 6px 0; }
"""
MEDIA = ("@media only screen and (max-width: 620px) { .container { width: 100% !important; } "
         ".content { padding: 16px !important; } h1 { font-size: 20px !important; } }")


def message_id(doc_id: str, job: str, job_date: str, domain: str) -> str:
    """``<DOCID.JOB.DATE@DOMAIN>`` (characters not allowed in an id-left become ``_``)."""
    left = _ID_SAFE.sub("_", f"{doc_id}.{job}.{job_date}").strip(".") or "document"
    return f"<{left}@{domain}>"


def render_html(content, sender_name: str, language: str) -> str:
    """The responsive HTML body of ``content`` (:class:`ccm_batch.compose.variants.EmailContent`), CSS inlined."""
    import css_inline
    e = html.escape
    body = []
    for kind, text, href in content.blocks:
        if kind == "heading":
            body.append(f"<h1>{e(text)}</h1>")
        elif kind == "p":
            body.append(f"<p>{e(text)}</p>")
        elif kind == "button":
            body.append(f'<div class="cta"><a class="button" href="{e(href)}">{e(text)}</a></div>')
    footer = "".join(f"<p>{e(t)}</p>" for k, t, _ in content.blocks if k == "footer")
    css = CSS.replace("BRAND", content.brand_color)
    page = (f'<!DOCTYPE html><html lang="{e(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(content.subject)}</title><style>{css}{MEDIA}</style></head><body>"
            f'<div class="preheader">{e(content.preheader)}</div>'
            f'<table role="presentation" class="wrapper" width="100%" cellpadding="0" cellspacing="0"><tr>'
            f'<td align="center"><table role="presentation" class="container" width="600" cellpadding="0" '
            f'cellspacing="0"><tr><td class="brand">{e(sender_name)}</td></tr>'
            f'<tr><td class="content">{"".join(body)}</td></tr>'
            f'<tr><td class="footer">{footer}</td></tr></table></td></tr></table></body></html>')
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False).inline(page)


def render_text(content) -> str:
    """The plain-text alternative: the same blocks, a button as ``text: link``."""
    out = []
    for kind, text, href in content.blocks:
        if kind == "heading":
            out += [text, "=" * min(len(text), 72)]
        elif kind == "button":
            out.append(f"{text}: {href}")
        elif kind == "footer":
            out += ["--", text]
        else:
            out.append(text)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def build_message(content, *, sender: str, to: str, doc_id: str, customer_id: str, job: str, job_date: str,
                  language: str = "fr", reply_to: str = "", domain: str = "", attachment: bytes | None = None,
                  attachment_name: str = "document.pdf") -> EmailMessage:
    """The RFC 5322 message of one document (headers, alternatives, attachment)."""
    name, addr = parseaddr(sender)
    domain = domain or addr.rpartition("@")[2] or "localhost"
    mid = message_id(doc_id, job, job_date, domain)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=name, addr_spec=addr) if name else addr
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = content.subject
    msg["Date"] = format_datetime(_dt.datetime.fromisoformat(job_date).replace(tzinfo=_dt.timezone.utc))
    msg["Message-ID"] = mid
    msg["X-CCM-Document"] = doc_id
    msg["X-CCM-Customer"] = customer_id
    msg["X-CCM-Job"] = job
    msg.set_content(render_text(content), subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(render_html(content, name or addr, language), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename=attachment_name)
    seed = hashlib.sha256(mid.encode()).hexdigest()[:24]
    for n, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_ccm_{seed}_{n}")
    return msg


def sign_dkim(data: bytes, selector: str, domain: str, key_path: str) -> bytes:
    """``data`` with a DKIM-Signature header (rsa-sha256, relaxed/simple) prepended (``dkimpy``)."""
    import dkim
    with open(key_path, "rb") as f:
        key = f.read()
    sig = dkim.sign(data, selector.encode(), domain.encode(), key,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return sig + data

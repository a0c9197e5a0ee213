"""Compose/render support: font fallback chains, per-character font choice, system font lookup.

A chain is an ordered tuple of family names. :func:`set_fallbacks` sets the default chain (every
family) or one family's own chain; the chain of a font is its family's chain if it has one, else
the default. Fallback fonts are taken in the primary font's style (bold/italic, nearest existing
style as :func:`ccm_batch.fonts.resolve` does). A family of the chain that is not registered is
looked up among the system fonts and registered on first use; :data:`DEFAULT_FALLBACKS` entries
that cannot be found are skipped (a fresh machine without ``fonts-noto-cjk`` simply has no CJK
fallback), while families a layout or job names must exist (``KeyError`` at load time).

Everything here is deterministic for a given configuration and cached per process; changing the
configuration calls the callbacks registered with :func:`on_change` (composition caches).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

DEFAULT_FALLBACKS = ("Noto Sans Arabic", "Noto Sans Hebrew", "DejaVu Sans", "Noto Sans CJK JP")
"""The chain used when neither the layout nor the job sets one. The script fonts for Arabic and
Hebrew (Debian ``fonts-noto-core``) come first so that those scripts are drawn in a font made for
them (DejaVu Sans has an Arabic too); they cover nothing else a Latin font lacks."""

SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")

# Scripts drawn wrongly without shaping / bidi (see ccm_batch.fonts docstring): code point ranges.
COMPLEX_RANGES = ((0x0590, 0x08FF), (0x0900, 0x0DFF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFF),
                  (0x10800, 0x10FFF), (0x1E800, 0x1EFFF))

_lock = threading.RLock()
_default: tuple[str, ...] = DEFAULT_FALLBACKS
_default_optional = True
_by_family: dict[str, tuple[str, ...]] = {}
_chains: dict[str, tuple[str, ...]] = {}
_callbacks: list[Callable[[], None]] = []
_system_index: dict[str, list[tuple[str, int]]] | None = None


def needs_shaping(ch: str) -> bool:
    """True for characters of scripts that need shaping or right-to-left layout (shaped by
    :mod:`ccm_batch.fonts.shaping` when :func:`~ccm_batch.fonts.shaping.complex_text` is on)."""
    cp = ord(ch)
    if cp < 0x0590:
        return False
    for lo, hi in COMPLEX_RANGES:
        if lo <= cp <= hi:
            return True
    return False


def on_change(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the fallback configuration changes (caches keyed by spans)."""
    _callbacks.append(callback)


def _changed() -> None:
    _chains.clear()
    for cb in _callbacks:
        cb()


def _registry():
    import ccm_batch.fonts as fonts
    return fonts


def ensure_family(name: str) -> str:
    """The family key of ``name``: registered, or found among the system fonts and registered.

    Raises ``KeyError`` when neither.
    """
    fonts = _registry()
    try:
        fid = fonts.resolve(name)
        return fonts._styles[fid][0] if fid in fonts._styles else fid
    except KeyError:
        pass
    found = find_system_font(name)
    if not found:
        raise KeyError(f"font family {name!r} is neither registered nor installed on this system "
                       f"(looked in {', '.join(SYSTEM_FONT_DIRS)})")
    fid = None
    for path, index in found:
        fid = fonts.register_font(path, alias=name, index=index)
    return fonts._styles[fid][0]


def set_fallbacks(chain, family: str | None = None, optional: bool = False) -> None:
    """Set the fallback chain (family names, first tried first) of ``family``, or the default chain.

    Every family must exist (registered or installed) unless ``optional``; missing optional ones
    are skipped. An empty chain means no fallback.
    """
    chain = tuple(str(c).strip() for c in chain if str(c).strip())
    if not optional:
        for name in chain:
            ensure_family(name)
    global _default, _default_optional
    with _lock:
        if family is None:
            _default, _default_optional = chain, optional
        else:
            _by_family[ensure_family(family)] = chain
        _changed()


def reset_fallbacks() -> None:
    """Back to :data:`DEFAULT_FALLBACKS` and no per-family chain (tests, a new job)."""
    global _default, _default_optional
    with _lock:
        _default, _default_optional = DEFAULT_FALLBACKS, True
        _by_family.clear()
        _changed()


def fallbacks(family: str | None = None) -> tuple[str, ...]:
    """The configured chain of ``family`` (family names), or the default chain."""
    if family is not None:
        fonts = _registry()
        key = fonts._aliases.get(fonts._norm(family), family)
        if key in _by_family:
            return _by_family[key]
    return _default


def fallback_chain(font_id: str) -> tuple[str, ...]:
    """Font ids tried after ``font_id``, in order (same style, the primary itself left out)."""
    chain = _chains.get(font_id)
    if chain is not None:
        return chain
    fonts = _registry()
    with _lock:
        family, bold, italic = fonts._styles.get(font_id, (font_id, False, False))
        names = _by_family.get(family)
        optional = False
        if names is None:
            names, optional = _default, _default_optional
        out: list[str] = []
        for name in names:
            try:
                ensure_family(name)
                fid = fonts.resolve(name, bold, italic)
            except (KeyError, ValueError, OSError):
                if optional:
                    continue
                raise
            if fid != font_id and fid not in out:
                out.append(fid)
        chain = _chains[font_id] = tuple(out)
    return chain


def font_for(ch: str, font_id: str) -> str | None:
    """The font that draws ``ch`` for text in ``font_id``: itself, a fallback, or None."""
    fonts = _registry()
    if fonts.get_font(font_id).covers(ch):
        return font_id
    for fid in fallback_chain(font_id):
        if fonts.get_font(fid).covers(ch):
            return fid
    return None


def split_runs(text: str, font_id: str) -> list[tuple[str, str]]:
    """``text`` cut into ``(text, font id)`` runs: each character in the first font that has it.

    Characters no font covers stay in the run where they are (the primary font's when a run
    starts with one): the caller has checked :func:`uncovered` first. White space and
    controls the current font has continue its run.
    """
    fonts = _registry()
    fm = fonts.get_font(font_id)
    missing = fm.missing(text)
    if not missing:
        return [(text, font_id)]
    missing = set(missing)
    out: list[tuple[str, str]] = []
    cur_font, start = font_id, 0
    for i, ch in enumerate(text):
        if ch in missing:
            want = font_for(ch, font_id) or cur_font
        elif cur_font != font_id and ch.isspace() and fonts.get_font(cur_font).covers(ch):
            want = cur_font
        else:
            want = font_id
        if want != cur_font:
            if i > start:
                out.append((text[start:i], cur_font))
            cur_font, start = want, i
    out.append((text[start:], cur_font))
    return out


def uncovered(text: str, font_id: str) -> str:
    """Distinct characters of ``text`` that neither ``font_id`` nor its chain can draw (or that need
    shaping while shaping is off, see :func:`needs_shaping`), in order of first appearance."""
    fonts = _registry()
    missing = fonts.get_font(font_id).missing(text)
    from .shaping import complex_text
    if complex_text():
        return "".join(ch for ch in missing if font_for(ch, font_id) is None)
    out = [ch for ch in missing if font_for(ch, font_id) is None or needs_shaping(ch)]
    if not text.isascii():
        out.extend(ch for ch in dict.fromkeys(text) if needs_shaping(ch) and ch not in out)
        out.sort(key=text.index)
    return "".join(out)


# -- system fonts ------------------------------------------------------------------------------

def _norm(name: str) -> str:
    return "".join(name.split()).replace("-", "").replace("_", "").lower()


def _font_files() -> list[str]:
    out = []
    for base in SYSTEM_FONT_DIRS:
        base = os.path.expanduser(base)
        if not os.path.isdir(base):
            continue
        for root, dirs, files in os.walk(base):
            dirs.sort()
            out.extend(os.path.join(root, n) for n in sorted(files)
                       if n.lower().endswith((".ttf", ".otf", ".ttc")))
    return out


def _scan(paths) -> dict[str, list[tuple[str, int]]]:
    """Family (normalised) -> [(path, face index)] of the font files ``paths``."""
    from fontTools.ttLib import TTCollection, TTFont
    index: dict[str, list[tuple[str, int]]] = {}
    for path in paths:
        try:
            if path.lower().endswith(".ttc"):
                faces = list(enumerate(TTCollection(path, lazy=True).fonts))
            else:
                faces = [(0, TTFont(path, lazy=True))]
            for i, ttf in faces:
                table = ttf["name"]
                fam = table.getDebugName(16) or table.getDebugName(1) or ""
                if fam:
                    index.setdefault(_norm(fam), []).append((path, i))
                ttf.close()
        except Exception:          # noqa: BLE001 - an unreadable file is not a font
            continue
    return index


_likely: dict[str, list[tuple[str, int]]] = {}   # families found in the files read so far
_read: set = set()
_files: list[str] | None = None


def find_system_font(family: str) -> list[tuple[str, int]]:
    """``[(path, face index)]`` of the installed fonts of ``family`` (case and spaces ignored).

    Files whose name (before the first ``-``) starts the family name are read first
    (``NotoSansCJK-Regular.ttc`` for "Noto Sans CJK JP"); the name tables of all the others only
    if that fails.
    """
    global _files, _system_index
    key = _norm(family)
    with _lock:
        if _files is None:
            _files = _font_files()
        likely = [p for p in _files if p not in _read
                  and key.startswith(_norm(os.path.basename(p).rsplit(".", 1)[0].split("-")[0]))]
        _read.update(likely)
        for fam, faces in _scan(likely).items():
            _likely.setdefault(fam, []).extend(faces)
        if _likely.get(key):
            return list(_likely[key])
        if _system_index is None:
            _system_index = _scan(_files)
        return list(_system_index.get(key, ()))

"""Fonts: registry, resolution and metrics of the bundled Liberation fonts."""
import os
import shutil

import pytest
from fontTools.ttLib import TTFont

from ccm_batch import fonts


@pytest.mark.parametrize("family,bold,italic,expected", [
    ("Liberation Sans", False, False, "LiberationSans"),
    ("sans", True, False, "LiberationSans-Bold"),
    ("SANS-SERIF", False, True, "LiberationSans-Italic"),
    ("Helvetica", True, True, "LiberationSans-BoldItalic"),
    ("arial", False, False, "LiberationSans"),
    ("serif", False, False, "LiberationSerif"),
    ("Times", True, False, "LiberationSerif-Bold"),
    ("mono", False, True, "LiberationMono-Italic"),
    ("Courier", True, True, "LiberationMono-BoldItalic"),
    ("LiberationSans-Bold", False, True, "LiberationSans-BoldItalic"),
])
def test_resolve_aliases(family, bold, italic, expected):
    assert fonts.resolve(family, bold=bold, italic=italic) == expected


def test_resolve_unknown_family_names_it():
    with pytest.raises(KeyError, match="Comic"):
        fonts.resolve("Comic Sans")


def test_font_ids_and_paths_exist():
    ids = fonts.font_ids()
    assert len([i for i in ids if i.startswith("Liberation")]) == 12
    for fid in ids:
        assert os.path.isfile(fonts.font_path(fid))
    with pytest.raises(KeyError):
        fonts.font_path("NoSuchFont")


def test_get_font_is_cached_and_named():
    fm = fonts.get_font("LiberationSerif-Bold")
    assert fm is fonts.get_font("LiberationSerif-Bold")
    assert fm.postscript_name == "LiberationSerif-Bold"
    assert fm.bold and not fm.italic
    assert fm.units_per_em == 2048


def test_advances_and_width_without_kerning():
    fm = fonts.get_font("LiberationSans")
    assert fm.advance("A") == 1366 and fm.advance(" ") == 569
    # 10 pt = 200 units: "AV" = (1366 + 1366) * 200 / 2048 = 266.8 -> 267
    assert fm.width("AV", 200) == 267
    assert fm.width("", 200) == 0


def test_mono_is_fixed_pitch_and_unkerned():
    fm = fonts.get_font("LiberationMono")
    assert fm.fixed_pitch and not fm.has_kerning
    assert fm.width("iiii", 200) == fm.width("WWWW", 200) == round(4 * 1229 * 200 / 2048)
    assert fm.kerns("AVAT", 200) == ()


def test_kerning_gpos_pairs():
    fm = fonts.get_font("LiberationSans")
    assert fm.has_kerning
    assert fm.kern_pair("A", "V") == -152
    assert fm.kern_pair("T", "o") == -227
    assert fm.kern_pair("o", "o") == 0
    # pairs rounded one by one at 10 pt: AV, VA, AT -> -15 each; "To" -> -22
    assert fm.kerns("AVAT", 200) == ((0, -15), (1, -15), (2, -15))
    assert fm.kerns("Toto", 200) == ((0, -22),)
    assert fm.width("AVAT", 200, kern=True) == fm.width("AVAT", 200) - 45


def test_kerning_in_every_sans_and_serif_style():
    for fid in fonts.font_ids():
        if fid.startswith(("LiberationSans", "LiberationSerif")):
            fm = fonts.get_font(fid)
            assert fm.kern_pair("A", "V") < 0, fid


def test_vertical_metrics():
    fm = fonts.get_font("LiberationSans")
    # hhea: ascender 1854, descender -434, lineGap 67 at 2048 upem; 10 pt = 200 units
    assert fm.ascent(200) == 181
    assert fm.descent(200) == 42
    assert fm.line_gap(200) == 7
    assert fm.line_height(200) == 230
    offset, thick = fm.underline(200)
    assert 10 <= offset <= 25 and 10 <= thick <= 20


def test_coverage_and_missing():
    fm = fonts.get_font("LiberationSans")
    assert fm.covers("€") and fm.covers("\u202f") and fm.covers("œ")
    assert not fm.covers("\u4e00")
    assert fm.missing("Prix : 12 €\n\t") == ""
    assert fm.missing("a\u4e00b\u2011\u4e00") == "\u4e00\u2011"


def test_glyph_ids_for_renderers():
    fm = fonts.get_font("LiberationSans")
    gid = fm.glyph_id("A")
    assert gid > 0 and fm.glyph_order[gid] == "A"
    assert fm.glyph_ids("A\u4e00") == [gid, 0]
    assert fm.glyph_advances[gid] == 1366
    assert fm.cmap[ord("€")] == fm.glyph_name("€") == "Euro"


def _renamed_font(src: str, dest, family: str, ps_name: str, bold: bool) -> None:
    ttf = TTFont(src)
    name = ttf["name"]
    for rec in list(name.names):
        if rec.nameID in (1, 4, 6, 16, 17):
            name.removeNames(nameID=rec.nameID)
    name.setName(family, 1, 3, 1, 0x409)
    name.setName(ps_name, 6, 3, 1, 0x409)
    name.setName("Bold" if bold else "Regular", 2, 3, 1, 0x409)
    ttf["OS/2"].fsSelection = 0x20 if bold else 0x40
    ttf["head"].macStyle = 1 if bold else 0
    ttf.save(str(dest))


def test_register_directory_adds_family(tmp_path):
    _renamed_font(fonts.font_path("LiberationSerif"), tmp_path / "b.ttf", "Corporate Test",
                  "CorporateTest", False)
    _renamed_font(fonts.font_path("LiberationSerif-Bold"), tmp_path / "a.ttf", "Corporate Test",
                  "CorporateTest-Bold", True)
    ids = fonts.register_directory(str(tmp_path), alias="corporate")
    assert ids == ["CorporateTest-Bold", "CorporateTest"]          # sorted by file name
    assert fonts.resolve("Corporate Test") == "CorporateTest"
    assert fonts.resolve("corporate", bold=True) == "CorporateTest-Bold"
    # no italic shipped: falls back to the nearest style
    assert fonts.resolve("CORPORATE", bold=True, italic=True) == "CorporateTest-Bold"
    fm = fonts.get_font("CorporateTest-Bold")
    assert fm.width("AV", 200) == fonts.get_font("LiberationSerif-Bold").width("AV", 200)
    # registering the same file again is fine, and so is an identical copy elsewhere (two copies of
    # one layout directory in a process: the first path is kept); another font with the same id is not
    assert fonts.register_font(str(tmp_path / "a.ttf")) == "CorporateTest-Bold"
    shutil.copy(tmp_path / "a.ttf", tmp_path / "c.ttf")
    assert fonts.register_font(str(tmp_path / "c.ttf")) == "CorporateTest-Bold"
    assert fonts.font_path("CorporateTest-Bold") == str(tmp_path / "a.ttf")
    (tmp_path / "other").mkdir()
    _renamed_font(fonts.font_path("LiberationSerif"), tmp_path / "other" / "d.ttf", "Corporate Test",
                  "CorporateTest-Bold", True)
    with pytest.raises(ValueError, match="already registered"):
        fonts.register_font(str(tmp_path / "other" / "d.ttf"))


def test_register_empty_directory_fails(tmp_path):
    with pytest.raises(ValueError, match="no .ttf"):
        fonts.register_directory(str(tmp_path))


def test_register_accepts_cff_fonts_and_refuses_non_fonts(tmp_path):
    """CFF-flavoured OpenType registers (issue 12: Noto Sans CJK is CFF; renderers convert the
    glyphs they embed); a file that is not a font is refused with its path."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.t2CharStringPen import T2CharStringPen
    fb = FontBuilder(1000, isTTF=False)
    fb.setupGlyphOrder([".notdef"])
    fb.setupCharacterMap({})
    pen = T2CharStringPen(500, None)
    fb.setupCFF("CffTest", {"FullName": "CffTest"}, {".notdef": pen.getCharString()}, {})
    fb.setupHorizontalMetrics({".notdef": (500, 0)})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "Cff Test", "styleName": "Regular", "psName": "CffTest-Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.save(str(tmp_path / "cff.otf"))
    assert fonts.register_font(str(tmp_path / "cff.otf")) == "CffTest-Regular"
    assert fonts.get_font("CffTest-Regular").cff
    (tmp_path / "notafont.ttf").write_bytes(b"hello, not a font")
    with pytest.raises(ValueError, match="notafont.ttf"):
        fonts.register_font(str(tmp_path / "notafont.ttf"))

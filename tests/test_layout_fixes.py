"""Layout stage tests: the gaps a layout designer reported (issue "Layout language, composition engine").

One test (or a few) per fix: no-break spaces typed in a layout survive, numbers bound to metadata are
canonical, named carries, ``$item`` in repeats, fragment-relative images, duplicate message keys.
Each composes a small layout written to ``tmp_path`` and asserts on the page model or the metadata.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.errors import LayoutError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Text
from ccm_batch.records.model import Record

ROOT = Path(__file__).resolve().parent.parent
NBSP, NNBSP = "\u00a0", "\u202f"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r">
  <fields>
    <field name="a" path="a" required="false"/>
    <field name="items" path="items/item" type="list" required="false"/>
  </fields>
  <page-template name="p" size="A4"><body top="20mm" bottom="20mm" left="20mm" right="20mm"/>{fixed}</page-template>
  <pages first="p"/>
"""


def write(tmp_path, body: str, fixed: str = "", name: str = "l.xml", head: str = HEAD) -> Path:
    path = tmp_path / name
    path.write_text(head.replace("{fixed}", fixed) + body + "\n</layout>\n", encoding="utf-8")
    return path


def record(xml: str, number: int = 1) -> Record:
    tree = etree.fromstring(xml.encode("utf-8"))
    return Record("t.xml", number, 0, 1, xml.encode("utf-8"), tree)


def compose(path, xml="<r><a>x</a></r>"):
    return compose_document(load_layout(path), record(xml), job="J", job_date="2026-11-23")


def texts(result, page=0) -> list[str]:
    return [i.text for i in result.document.pages[page].items if isinstance(i, Text)]


def all_texts(result) -> list[str]:
    return [i.text for p in result.document.pages for i in p.items if isinstance(i, Text)]


def error_of(path) -> str:
    with pytest.raises(LayoutError) as info:
        load_layout(path)
    return str(info.value)


# -- 1. no-break spaces typed in a layout ---------------------------------------------------------

def test_nbsp_in_paragraph_text_is_kept(tmp_path):
    path = write(tmp_path, "<flow><p>Tél.\n   04&#160;72&#160;00 et 1&#8239;000</p></flow>")
    assert texts(compose(path)) == [f"Tél. 04{NBSP}72{NBSP}00 et 1{NNBSP}000"]


def test_nbsp_inside_expression_literal_and_message_is_kept(tmp_path):
    path = write(tmp_path, """
  <messages><message key="m"><text lang="fr">Appelez le {1}&#160;!</text></message></messages>
  <flow><p>{'04&#160;72'}</p><p>{msg('m', '09&#160;69')}</p></flow>""")
    assert texts(compose(path)) == [f"04{NBSP}72", f"Appelez le 09{NBSP}69{NBSP}!"]


def test_nbsp_at_paragraph_edges_and_in_fixed_text_is_kept(tmp_path):
    path = write(tmp_path, "<flow><p>&#160;x&#160;\n</p></flow>",
                 fixed='<text x="20mm" y="10mm">a&#160;&#160;b</text>')
    got = texts(compose(path))
    assert f"{NBSP}x{NBSP}" in got and f"a{NBSP}{NBSP}b" in got


def test_xml_whitespace_still_collapses(tmp_path):
    path = write(tmp_path, "<flow><p>\n  un\t\tdeux  \r\n trois  </p></flow>")
    assert texts(compose(path)) == ["un deux trois"]


# -- 2. numbers in metadata and index fields are canonical -----------------------------------------

def test_canonical_number():
    from ccm_batch.layout.functions import canonical_number
    assert canonical_number(163.1 + 0.05) == "163.15"
    assert canonical_number(0.1 + 0.2) == "0.3"
    assert canonical_number(3.0) == "3" and canonical_number(-0.0) == "0"
    assert canonical_number(1234567890.12) == "1234567890.12"
    assert canonical_number(2.9999999999999996) == "3"
    assert canonical_number(1e20) == "100000000000000000000"
    assert canonical_number(0.000001234) == "0.000001234"
    assert canonical_number(float("nan")) == ""


META = """
  <variables>
    <variable name="total" select="sum(items/item)"/>
    <variable name="n" select="count(items/item)"/>
  </variables>
  <meta doc-id="concat('D-', $n)" customer-id="$n" sender="$total">
    <index name="total" value="$total"/>
    <index name="count" value="$n"/>
    <index name="big" value="$total * 10000000"/>
    <index name="flag" value="$n &gt; 1"/>
    <index name="first" value="items/item"/>
  </meta>
  <flow><p>{$total}</p></flow>"""


def test_index_and_meta_numbers_are_canonical(tmp_path):
    res = compose(write(tmp_path, META), "<r><items><item>163.1</item><item>0.05</item></items></r>")
    meta = res.document.meta
    assert meta.index == (("total", "163.15"), ("count", "2"), ("big", "1631500000"), ("flag", "true"),
                          ("first", "163.1"))
    assert (meta.doc_id, meta.customer_id, meta.sender) == ("D-2", "2", "163.15")
    assert texts(res) == ["163.15"]


# -- 7. a message key defined twice is a load error naming both places ------------------------------

FRAG_MSGS = """<?xml version="1.0" encoding="UTF-8"?>
<fragments>
  <messages>
    <message key="page"><text lang="fr">Page {1}</text></message>
  </messages>
</fragments>
"""


def test_duplicate_message_key_across_imports_names_both_places(tmp_path):
    (tmp_path / "a.xml").write_text(FRAG_MSGS, encoding="utf-8")
    path = write(tmp_path, """<import href="a.xml"/>
  <messages>
    <message key="page"><text lang="fr">Feuille {1}</text></message>
  </messages>
  <flow><p>{msg('page', 1)}</p></flow>""")
    msg = error_of(path)
    assert re.match(rf"{re.escape(str(path.resolve()))}:\d+: message 'page' already defined at "
                    rf"{re.escape(str((tmp_path / 'a.xml').resolve()))}:4$", msg), msg


def test_duplicate_message_key_between_two_fragment_files(tmp_path):
    (tmp_path / "a.xml").write_text(FRAG_MSGS, encoding="utf-8")
    (tmp_path / "b.xml").write_text(FRAG_MSGS, encoding="utf-8")
    path = write(tmp_path, '<import href="a.xml"/><import href="b.xml"/><flow><p>x</p></flow>')
    msg = error_of(path)
    assert msg.startswith(f"{(tmp_path / 'b.xml').resolve()}:4: message 'page' already defined at")
    assert msg.endswith(f"{(tmp_path / 'a.xml').resolve()}:4")


def test_shipped_layouts_have_no_duplicate_message_keys():
    for path in sorted((ROOT / "layouts").glob("*.xml")):
        assert load_layout(path).name == path.stem, path


# -- 5. image src in a fragment resolves against the fragment file -----------------------------------

def _png(path: Path, width=10, height=5):
    from PIL import Image as PILImage
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (width, height), (200, 0, 0)).save(path, dpi=(72, 72))


def test_image_src_in_fragment_is_relative_to_the_fragment_file(tmp_path):
    _png(tmp_path / "frags" / "img" / "logo.png")
    (tmp_path / "frags" / "f.xml").write_text("""<?xml version="1.0" encoding="UTF-8"?>
<fragments><fragment name="logo"><image x="10mm" y="10mm" src="img/logo.png"/></fragment></fragments>
""", encoding="utf-8")
    path = write(tmp_path, '<import href="frags/f.xml"/><flow><p>x</p></flow>',
                 fixed='<use fragment="logo"/>')
    images = [i for i in compose(path).document.pages[0].items if type(i).__name__ == "Image"]
    assert [(i.width, i.height) for i in images] == [(200, 100)]          # 10 x 5 px at 72 dpi
    # the same src written in the layout file resolves against the layout's folder: not found
    bad = write(tmp_path, "<flow><p>x</p></flow>", fixed='<image x="1mm" y="1mm" src="img/logo.png"/>',
                name="bad.xml")
    assert "image 'img/logo.png' not found" in error_of(bad)


# -- 8. <use> inside <background> and inside another fragment ----------------------------------------

FRAGS = """<?xml version="1.0" encoding="UTF-8"?>
<fragments>
  <fragment name="marks"><rule x="4mm" y="99mm" length="4mm"/></fragment>
  <fragment name="head"><text x="20mm" y="10mm">En-tête</text><use fragment="marks"/></fragment>
  <fragment name="per-doc"><text x="20mm" y="30mm">{$a}</text></fragment>
  <fragment name="english"><text x="20mm" y="40mm" lang="en">Hello</text></fragment>
</fragments>
"""


def test_use_inside_background_and_inside_a_fragment(tmp_path):
    (tmp_path / "f.xml").write_text(FRAGS, encoding="utf-8")
    path = write(tmp_path, '<import href="f.xml"/><flow><p>x</p></flow>',
                 fixed='<background><use fragment="head"/></background><use fragment="per-doc"/>')
    page = compose(path, "<r><a>Dupont</a></r>").document.pages[0]
    form = page.background
    assert form.name == "t.p"
    assert [i.text for i in form.items if isinstance(i, Text)] == ["En-tête"]
    assert [type(i).__name__ for i in form.items].count("Rule") == 1        # head uses marks
    assert [i.text for i in page.items if isinstance(i, Text)] == ["x", "Dupont"]


@pytest.mark.parametrize("frag, word", [("per-doc", "unknown field or variable $a"), ("english", "no 'lang'")])
def test_background_fragment_with_record_data_or_lang_is_a_load_error(tmp_path, frag, word):
    (tmp_path / "f.xml").write_text(FRAGS, encoding="utf-8")
    path = write(tmp_path, '<import href="f.xml"/><flow><p>x</p></flow>',
                 fixed=f'<background><use fragment="{frag}"/></background>')
    msg = error_of(path)
    assert msg.startswith(f"{(tmp_path / 'f.xml').resolve()}:") and word in msg, msg


def test_shared_common_fragments_in_a_background(tmp_path):
    head = HEAD.replace('<layout name="t" record="r">', f'<layout name="t" record="r">\n'
                        f'<import href="{ROOT / "layouts" / "fragments" / "common.xml"}"/>')
    path = write(tmp_path, "<flow><p>x</p></flow>", head=head,
                 fixed='<background><use fragment="fold-marks-a4"/></background><use fragment="pager-a4"/>')
    page = compose(path).document.pages[0]
    from ccm_batch.layout import parse_length
    rules = page.background.items
    assert [r.x for r in rules] == [parse_length("4mm")] * 2
    assert [abs(r.y - parse_length(y)) <= r.thickness for r, y in zip(rules, ("99mm", "198mm"))] == [True] * 2
    assert "Page 1 sur 1" in [i.text for i in page.items if isinstance(i, Text)]


# -- 9. the documentation's Python preview example runs -------------------------------------------

def test_doc_python_preview_example_runs(monkeypatch, capsys):
    doc = (ROOT / "docs" / "layout-language.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Previewing a layout"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "Record" in code and "compose_document(layout, record" in code
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "layout-language.md", "exec"), scope)
    assert scope["result"].document.pages and scope["result"].warnings == []
    assert type(scope["record"]).__name__ == "Record"
    assert capsys.readouterr().out.startswith(f"{len(scope['result'].document.pages)} [")


# -- 10. letter.xml's comment names the window it uses ------------------------------------------------

def test_letter_comment_matches_its_window():
    text = (ROOT / "layouts" / "letter.xml").read_text(encoding="utf-8")
    windows = set(re.findall(r'window="([^"]+)"', text))
    assert windows == {"fr-dl-right"}
    head = text[:text.index("<layout")]
    assert "DL right window" in head and "DL left" not in head


# -- 4. $item: the current item of a repeat; $index follows the iteration (sorted) order ------------

ITEMS = "<r><items><item n='b' v='2'/><item n='c' v='3'/><item n='a' v='1'/></items></r>"


def test_item_is_the_current_node_and_index_the_sorted_position(tmp_path):
    path = write(tmp_path, """<flow>
    <repeat select="$items" sort="@v" order="descending">
      <p>{$index}/{$count} {@n} {$item/@n} {$items[$index]/@n}</p>
    </repeat></flow>""")
    # $items[$index] is the index-th item in document order, not the current one under sort=
    assert texts(compose(path, ITEMS)) == ["1/3 c c b", "2/3 b b c", "3/3 a a a"]


def test_item_in_a_predicate_in_table_rows_and_charts(tmp_path):
    path = write(tmp_path, """
  <variables><variable name="acts" select="acts/act"/></variables>
  <flow>
    <table><column width="40mm"/><column width="40mm"/>
      <repeat select="$items">
        <row><cell>{@n}</cell><cell>{sum($acts[@item = $item/@n]/@amount)}</cell></row>
      </repeat>
    </table>
    <chart width="100mm" height="30mm" select="$items" value="sum($acts[@item = $item/@n]/@amount)"
           label="{$item/@n}" value-label="{$value}"/>
  </flow>""")
    xml = ITEMS.replace("</r>", "<acts><act item='a' amount='1.5'/><act item='c' amount='2'/>"
                                "<act item='a' amount='3'/></acts></r>")
    got = texts(compose(path, xml))
    assert got[:6] == ["b", "0", "c", "2", "a", "4.5"]
    assert {"b", "c", "a", "0", "2", "4.5"} <= set(got[6:])


def test_item_is_reserved(tmp_path):
    head = HEAD.replace('<field name="a" path="a" required="false"/>', '<field name="item" path="a"/>')
    assert "reserved" in error_of(write(tmp_path, "<flow><p>x</p></flow>", head=head))


def test_item_outside_a_repeat_is_a_load_error(tmp_path):
    assert "unknown field or variable $item" in error_of(write(tmp_path, "<flow><p>{$item}</p></flow>"))


# -- 3. named carries: several carried-forward columns ----------------------------------------------

CARRY_TABLE = """<flow>
    <table carry="1" padding="0.5mm">
      <column width="40mm"/><column width="30mm" align="end"/><column width="30mm" align="end"/>
      <carry name="paid" value="sum(@paid)"/>
      <carry name="ss" value="sum(@ss)" initial="$a"/>
      <header><cell>Acte</cell><cell>Payé</cell><cell>SS</cell></header>
      <carry-in><cell>Report {$carry}</cell><cell>{$carry_paid}</cell><cell>{$carry_ss}</cell></carry-in>
      <carry-out><cell>A reporter {$carry}</cell><cell>{$carry_paid}</cell><cell>{$carry_ss}</cell></carry-out>
      <repeat select="$items">
        <row height="20mm"><cell>{@n}</cell><cell>{@paid}</cell><cell>{@ss}</cell></row>
      </repeat>
    </table></flow>"""


def _rows_by_label(page, prefix):
    items = sorted((i for i in page.items if isinstance(i, Text)), key=lambda t: (t.y, t.x))
    lines: dict = {}
    for t in items:
        lines.setdefault(t.y, []).append(t.text)
    return [ln for ln in lines.values() if ln[0].startswith(prefix)]


def _num(value: float) -> str:
    from ccm_batch.layout.functions import canonical_number
    return canonical_number(round(value, 2))


def test_named_carries_follow_the_rows_placed_on_each_page(tmp_path):
    n = 40
    items = "".join(f"<item n='a{i}' paid='{i}.10' ss='0.{i % 10}5'/>" for i in range(1, n + 1))
    res = compose(write(tmp_path, CARRY_TABLE), f"<r><a>100</a><items>{items}</items></r>")
    pages = res.document.pages
    assert len(pages) >= 3
    placed, paid, ss = 0, 0.0, 100.0
    for number, page in enumerate(pages, 1):
        carry_in = _rows_by_label(page, "Report")
        if number == 1:
            assert carry_in == []
        else:
            assert carry_in == [[f"Report {placed}", _num(paid), _num(ss)]]
        rows = _rows_by_label(page, "a")
        assert rows
        for _label, p, s in rows:
            placed += 1
            paid += float(p)
            ss += float(s)
        carry_out = _rows_by_label(page, "A reporter")
        if number < len(pages):
            assert carry_out == [[f"A reporter {placed}", _num(paid), _num(ss)]]
        else:
            assert carry_out == []
    assert placed == n


def test_named_carry_errors(tmp_path):
    dup = CARRY_TABLE.replace('<carry name="ss" value="sum(@ss)" initial="$a"/>',
                              '<carry name="paid" value="sum(@ss)"/>')
    assert "carry 'paid' already declared" in error_of(write(tmp_path, dup))
    unknown = CARRY_TABLE.replace("{$carry_ss}</cell></carry-in>", "{$carry_x}</cell></carry-in>")
    assert "unknown field or variable $carry_x" in error_of(write(tmp_path, unknown, name="u.xml"))
    in_row = CARRY_TABLE.replace("<cell>{@ss}</cell></row>", "<cell>{$carry_ss}</cell></row>")
    assert "unknown field or variable $carry_ss" in error_of(write(tmp_path, in_row, name="r.xml"))


def test_named_carries_without_a_table_carry(tmp_path):
    layout = CARRY_TABLE.replace('<table carry="1" ', "<table ")
    items = "".join(f"<item n='a{i}' paid='1' ss='2'/>" for i in range(1, 41))
    res = compose(write(tmp_path, layout), f"<r><a>0</a><items>{items}</items></r>")
    outs = _rows_by_label(res.document.pages[0], "A reporter")
    (line,) = outs
    assert line[0] == "A reporter 0" and int(line[1]) * 2 == int(line[2]) > 0


def test_carry_value_arithmetic():
    from ccm_batch.layout.carry import CarryValue
    a = CarryValue(1.0, (("carry_x", 0.1),))
    b = CarryValue(2.0, (("carry_x", 0.2),))
    c = round(round(a + b, 9) + 0.0, 9)
    assert float(c) == 3.0 and c.named == (("carry_x", 0.3),)
    assert (0.0 + a).named == a.named and c == 3.0


def test_nbsp_in_record_data_survives_in_table_cells(tmp_path):
    path = write(tmp_path, """<flow><table><column width="80mm"/>
      <repeat select="$items"><row><cell>{.}</cell></row></repeat></table></flow>""")
    res = compose(path, "<r><items><item>04\u00a072\n  00</item></items></r>")
    assert texts(res) == [f"04{NBSP}72 00"]

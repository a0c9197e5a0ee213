"""Sample data: a deterministic extract of mutuelle reimbursement statements (décomptes de remboursements).

Run ``python samples/extra/mutuelle/make_data.py`` to rewrite ``decomptes.xml`` beside this script. The
extract has 15 records (element ``decompte``): record 1 is a family of four with 86 care acts over six
months, record 4 is an English-speaking member, record 9 lives in Belgium (foreign address), the others
have 1 to 25 acts. Every act satisfies ``amount_paid = ss_share + mutuelle_share + remaining`` and the
``totals`` element, each beneficiary's ``totals`` and each ``month`` are the exact sums of the acts (the
statement layout recomputes them and the tests check both agree). Seeded: same output every run.
"""
from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

JOB_DATE = "2026-11-30"
CENT = Decimal("0.01")

# act code -> (min paid, max paid, Sécurité sociale rate, share of the rest the mutuelle covers)
ACTS = {
    "CONS-GEN": (30, 30, Decimal("0.6333"), Decimal("0.80")),
    "CONS-SPE": (50, 120, Decimal("0.42"), Decimal("0.60")),
    "PHARMA": (4, 85, Decimal("0.65"), Decimal("1.00")),
    "KINE": (16, 32, Decimal("0.60"), Decimal("1.00")),
    "LABO": (12, 70, Decimal("0.60"), Decimal("1.00")),
    "RADIO": (25, 140, Decimal("0.70"), Decimal("0.90")),
    "DENT-SOIN": (23, 60, Decimal("0.70"), Decimal("1.00")),
    "DENT-PROTH": (500, 1100, Decimal("0.10"), Decimal("0.55")),
    "OPTIQUE": (180, 650, Decimal("0.01"), Decimal("0.45")),
    "HOSP": (20, 80, Decimal("0.00"), Decimal("1.00")),
    "AUDIO": (900, 1600, Decimal("0.25"), Decimal("0.50")),
}
COMMON = ["CONS-GEN"] * 6 + ["PHARMA"] * 8 + ["CONS-SPE"] * 2 + ["KINE"] * 2 + ["LABO"] * 2 + ["RADIO", "DENT-SOIN"]
RARE = ["DENT-PROTH", "OPTIQUE", "HOSP", "AUDIO"]

FR_FIRST = ["Claire", "Hélène", "Sophie", "Nathalie", "Émilie", "Julien", "Thomas", "François", "Loïc", "Gaëlle"]
FR_LAST = ["Dupont", "Lefèvre", "Moreau", "Girard", "Rousseau", "Chevalier", "Faure", "Bérénger", "Mercier", "Noël"]
STREETS = ["RUE DES LILAS", "AVENUE JEAN JAURES", "BOULEVARD GAMBETTA", "RUE DU MOULIN", "PLACE DE LA MAIRIE",
           "CHEMIN DES VIGNES", "RUE VICTOR HUGO", "ALLEE DES PINS"]
TOWNS = [("69003", "LYON"), ("75011", "PARIS"), ("33000", "BORDEAUX"), ("31400", "TOULOUSE"), ("44000", "NANTES"),
         ("13008", "MARSEILLE"), ("59000", "LILLE"), ("67000", "STRASBOURG"), ("35000", "RENNES"),
         ("42000", "SAINT ETIENNE")]


def money(value: Decimal) -> str:
    """An amount as the IS writes it: '.' separator, two decimals."""
    return str(value.quantize(CENT))


def make_act(rng: random.Random, code: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(paid, ss share, mutuelle share, remaining) for one act of ``code``; the four always add up."""
    low, high, ss_rate, mut_rate = ACTS[code]
    paid = Decimal(rng.randint(low * 100, high * 100)) / 100
    ss = (paid * ss_rate).quantize(CENT)
    mutuelle = ((paid - ss) * mut_rate).quantize(CENT)
    return paid, ss, mutuelle, paid - ss - mutuelle


def month_starts(start_month: int, months: int) -> list[str]:
    """'2026-MM' for the period's months."""
    return [f"2026-{m:02d}" for m in range(start_month, start_month + months)]


def make_record(rng: random.Random, n: int) -> str:
    """One <decompte> record as XML text."""
    lang = "en" if n == 4 else "fr"
    country = "BE" if n == 9 else "FR"
    if n == 1:
        first, last, civ = "Sophie", "Bérénger-Delacroix", "Madame"
        family = [("Sophie", "member"), ("Marc", "spouse"), ("Léa", "child"), ("Hugo", "child")]
        n_acts, months = 86, month_starts(4, 6)
    elif n == 4:
        first, last, civ = "John", "Smith", "Mr"
        family = [("John", "member"), ("Mary", "spouse")]
        n_acts, months = 12, month_starts(7, 3)
    else:
        first, last = rng.choice(FR_FIRST), rng.choice(FR_LAST)
        civ = "Madame" if first in ("Claire", "Hélène", "Sophie", "Nathalie", "Émilie", "Gaëlle") else "Monsieur"
        size = rng.choice([1, 1, 2, 3])
        family = [(first, "member")] + [(rng.choice(FR_FIRST), "spouse" if i == 0 else "child")
                                         for i in range(size - 1)]
        n_acts = 1 if n == 7 else rng.randint(2, 25)
        months = month_starts(7, 3)
    beneficiaries = [{"id": f"{n:03d}-{i + 1}", "first": f, "relation": rel}
                     for i, (f, rel) in enumerate(family)]
    acts = []
    for i in range(n_acts):
        code = rng.choice(RARE) if rng.random() < 0.12 else rng.choice(COMMON)
        if n == 2 and i == 0:
            code = "OPTIQUE"          # record 2 always has a remaining charge over 100 €
        month = rng.choice(months)
        day = rng.randint(1, 28)
        who = rng.choice(beneficiaries)
        acts.append((f"{month}-{day:02d}", who, code, *make_act(rng, code)))
    acts.sort(key=lambda a: (a[0], a[1]["id"], a[2]))
    zero = Decimal("0.00")

    def sums(rows):
        return [sum((r[k] for r in rows), zero) for k in (3, 4, 5, 6)]

    member_no = f"{rng.randint(1000000, 9999999)}"
    street = f"{rng.randint(1, 120)} {rng.choice(STREETS)}"
    if country == "BE":
        lines = [f"{civ} {first} {last.upper()}", "12 RUE DE LA STATION", "4000 LIEGE", "BELGIQUE"]
        postcode, city = "4000", "LIEGE"
    else:
        postcode, city = rng.choice(TOWNS)
        if n == 4:
            postcode, city = "24200", "SARLAT LA CANEDA"
        lines = [f"{civ} {first} {last.upper()}"]
        if n in (1, 5, 11):
            lines.append(f"Résidence les Tilleuls bât {rng.choice('ABC')}")
        lines += [street, f"{postcode} {city}"]
    period_start, period_end = f"{months[0]}-01", f"{months[-1]}-{30 if months[-1][-2:] in ('04', '06', '09', '11') else 31}"
    out = [f'  <decompte id="DEC-2026-{n:07d}" language="{lang}">',
           f'    <member id="A{member_no}" language="{lang}">',
           f"      <number>{member_no}</number>",
           f"      <name>{escape(civ)} {escape(first)} {escape(last)}</name>",
           "      <address>"]
    out += [f"        <line>{escape(line)}</line>" for line in lines]
    out += [f"        <postal_code>{postcode}</postal_code>", f"        <city>{city}</city>",
            f"        <country>{country}</country>", "      </address>", "    </member>",
            f"    <period><start>{period_start}</start><end>{period_end}</end></period>",
            f"    <payment_date>{JOB_DATE}</payment_date>",
            f"    <iban>FR76 **** **** **** **** ***{rng.randint(1000, 9999)} {rng.randint(10, 99)}</iban>",
            "    <beneficiaries>"]
    for b in beneficiaries:
        mine = [a for a in acts if a[1] is b]
        paid, ss, mut, rest = sums(mine)
        out.append(f'      <beneficiary id="{b["id"]}" relation="{b["relation"]}">'
                   f"<first_name>{escape(b['first'])}</first_name><last_name>{escape(last)}</last_name>"
                   f'<totals acts="{len(mine)}"><amount_paid>{money(paid)}</amount_paid><ss_share>{money(ss)}</ss_share>'
                   f"<mutuelle_share>{money(mut)}</mutuelle_share><remaining>{money(rest)}</remaining></totals>"
                   "</beneficiary>")
    out.append("    </beneficiaries>")
    out.append("    <acts>")
    for date, who, code, paid, ss, mut, rest in acts:
        out.append(f'      <act beneficiary="{who["id"]}" code="{code}"><date>{date}</date>'
                   f"<beneficiary_name>{escape(who['first'])}</beneficiary_name>"
                   f"<amount_paid>{money(paid)}</amount_paid><ss_share>{money(ss)}</ss_share>"
                   f"<mutuelle_share>{money(mut)}</mutuelle_share><remaining>{money(rest)}</remaining></act>")
    out.append("    </acts>")
    out.append("    <months>")
    for m in months:
        mine = [a for a in acts if a[0].startswith(m)]
        _, ss, mut, _ = sums(mine)
        out.append(f'      <month period="{m}"><ss_share>{money(ss)}</ss_share>'
                   f"<mutuelle_share>{money(mut)}</mutuelle_share></month>")
    out.append("    </months>")
    paid, ss, mut, rest = sums(acts)
    out += [f'    <totals acts="{len(acts)}"><amount_paid>{money(paid)}</amount_paid><ss_share>{money(ss)}</ss_share>'
            f"<mutuelle_share>{money(mut)}</mutuelle_share><remaining>{money(rest)}</remaining></totals>",
            "  </decompte>"]
    return "\n".join(out)


def write_extract(path: Path, records: int = 15, seed: int = 2026) -> None:
    """Write the extract (UTF-8) to ``path``."""
    rng = random.Random(seed)
    body = "\n".join(make_record(rng, n) for n in range(1, records + 1))
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n'
                    f'<decomptes job_date="{JOB_DATE}" mutuelle="Mutuelle Santé Exemple">\n{body}\n</decomptes>\n',
                    encoding="utf-8")


if __name__ == "__main__":
    write_extract(Path(__file__).with_name("decomptes.xml"))

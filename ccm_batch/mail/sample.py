"""Mail stage, sample data: a deterministic generator of ``documents`` rows for tests and benchmarks.

:func:`generate_documents` writes French and US document rows (seeded ``random.Random``, so the same
arguments give the same rows) shaped to exercise the plan: customers with several documents
(householding), a few families sharing a surname and address (opt-in key B), heavy statements that
overflow the standard envelope, ``mail_separately`` flags, inserts, foreign and invalid addresses, and
postcodes clustered so that some 5-digit / code-postal groups reach the presort minimums while others
do not. Rows are shuffled so that a customer's documents are not adjacent, as with several extracts.
"""
from __future__ import annotations

import json
import random

DOCUMENTS_DDL = """CREATE TABLE IF NOT EXISTS documents (
  seq INTEGER PRIMARY KEY, doc_id TEXT, customer_id TEXT, doc_type TEXT, recipient_name TEXT, address TEXT,
  postcode TEXT, country TEXT, language TEXT, carrier TEXT, product TEXT, sender TEXT, confidentiality TEXT,
  mail_separately INTEGER, inserts TEXT, pages INTEGER, sheets INTEGER, duplex INTEGER, page_width INTEGER,
  page_height INTEGER)"""

A4 = (11906, 16838)
LETTER = (12240, 15840)
FIRST = ["JEAN", "MARIE", "PIERRE", "ANNE", "LUC", "CLAIRE", "PAUL", "JULIE", "MARC", "SOPHIE"]
LAST = ["MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "PETIT", "DURAND", "LEROY", "MOREAU", "SIMON",
        "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER", "MOREL"]
US_FIRST = ["JOHN", "MARY", "JAMES", "PATRICIA", "ROBERT", "LINDA", "MICHAEL", "BARBARA", "DAVID", "SUSAN"]
US_LAST = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "MILLER", "DAVIS", "WILSON", "MOORE", "TAYLOR",
           "ANDERSON", "THOMAS", "JACKSON", "WHITE", "HARRIS", "CLARK", "LEWIS", "WALKER", "HALL", "YOUNG"]
VOIES = ["RUE DES LILAS", "AVENUE JEAN JAURES", "BOULEVARD VOLTAIRE", "RUE DE LA PAIX", "PLACE DE LA MAIRIE",
         "CHEMIN DES VIGNES", "RUE VICTOR HUGO", "ALLEE DES TILLEULS"]
STREETS = ["MAIN ST", "OAK AVE", "MAPLE DR", "PARK BLVD", "CEDAR LN", "ELM ST", "WASHINGTON AVE", "LAKE RD"]
# code postal -> town; Paris arrondissements are dense, the rest spread over many départements
FR_DENSE = [(f"750{n:02d}", "PARIS") for n in range(1, 21)] + [("69003", "LYON"), ("13008", "MARSEILLE"),
                                                                ("31000", "TOULOUSE"), ("33000", "BORDEAUX")]
FR_REGION = [(f"{d}{c}", f"VILLE {d}{c}") for d in ("59", "62", "67", "44", "35", "06", "34", "38")
             for c in ("000", "100", "110", "200", "210", "300", "310", "400", "410", "500")]
FR_SPARSE = [(f"{d:02d}{c}", f"VILLE {d:02d}{c}") for d in list(range(1, 20)) + list(range(21, 96))
             for c in ("000", "100", "200")] + [("20000", "AJACCIO"), ("20200", "BASTIA"), ("97400", "SAINT DENIS")]
US_DENSE = [("10001", "NEW YORK", "NY"), ("10016", "NEW YORK", "NY"), ("60614", "CHICAGO", "IL"),
            ("90210", "BEVERLY HILLS", "CA"), ("94110", "SAN FRANCISCO", "CA")]
US_AADC = [(f"{z3}{n:02d}", city, st) for z3, city, st in
           [("100", "NEW YORK", "NY"), ("101", "NEW YORK", "NY"), ("112", "BROOKLYN", "NY"), ("113", "FLUSHING", "NY"),
            ("606", "CHICAGO", "IL"), ("607", "CHICAGO", "IL"), ("900", "LOS ANGELES", "CA"),
            ("901", "LOS ANGELES", "CA"), ("940", "SAN MATEO", "CA"), ("941", "SAN FRANCISCO", "CA")]
           for n in range(20, 32)]
US_MIXED = [(f"{z3}{n:02d}", "SPRINGFIELD", "IL") for z3 in ("627", "750", "331", "802", "981") for n in range(10, 16)]
FOREIGN = [("BE", "1000", "BRUXELLES", "BELGIQUE"), ("DE", "10115", "BERLIN", "ALLEMAGNE"),
           ("CA", "H2X 1Y4", "MONTREAL QC", "CANADA"), ("GB", "SW1A 1AA", "LONDON", "ROYAUME UNI")]


def create_documents_table(db) -> None:
    """The ``documents`` table as the runner creates it (the columns the plan reads)."""
    db.execute(DOCUMENTS_DDL)


def _customer(rng: random.Random) -> dict:
    r = rng.random()
    if r < 0.30:
        kind = "US"
        zip5, city, st = rng.choice(US_DENSE if rng.random() < 0.45 else (US_AADC if rng.random() < 0.6 else US_MIXED))
        zip4, dp = f"{rng.randrange(10000):04d}", f"{rng.randrange(100):02d}"
        name = f"{rng.choice(US_FIRST)} {rng.choice(US_LAST)}"
        street = f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}"
        return {"kind": kind, "country": "US", "language": "en", "name": name, "page": LETTER,
                "address": [name, street, f"{city} {st} {zip5}-{zip4}"], "postcode": f"{zip5}-{zip4}-{dp}"}
    if r < 0.33:
        country, pc, town, label = rng.choice(FOREIGN)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        return {"kind": "INTL", "country": country, "language": "fr", "name": name, "page": A4,
                "address": [name, f"{rng.randrange(1, 200)} {rng.choice(VOIES)}", f"{pc} {town}", label],
                "postcode": pc}
    r = rng.random()
    pc, town = rng.choice(FR_DENSE if r < 0.45 else (FR_REGION if r < 0.7 else FR_SPARSE))
    name = f"{rng.choice(['M', 'MME'])} {rng.choice(FIRST)} {rng.choice(LAST)}"
    cust = {"kind": "FR", "country": "FR", "language": "fr", "name": name, "page": A4,
            "address": [name, f"{rng.randrange(1, 150)} {rng.choice(VOIES)}", f"{pc} {town}"], "postcode": pc}
    if rng.random() < 0.01:                                 # invalid: malformed code postal
        cust["postcode"] = pc[:4]
        cust["address"][-1] = f"{pc[:4]} {town}"
    return cust


def generate_documents(db, n: int = 20000, seed: int = 7, heavy_share: float = 0.03) -> int:
    """Insert ``n`` document rows into ``db`` (creating ``documents``); returns the number of customers."""
    rng = random.Random(seed)
    create_documents_table(db)
    rows = []
    customers = 0
    while len(rows) < n:
        customers += 1
        cust = _customer(rng)
        cid = f"C{customers:07d}"
        duplex = int(rng.random() < 0.3)
        family = rng.random() < 0.02                        # a second person, same surname and address
        ndocs = rng.choices([1, 2, 3, 4], [0.55, 0.28, 0.12, 0.05])[0]
        for k in range(ndocs):
            if len(rows) >= n:
                break
            doc_type = rng.choice(["STATEMENT", "INVOICE", "LETTER"])
            pages = rng.choice([1, 1, 2, 2, 3, 4, 5])
            if rng.random() < heavy_share:
                doc_type, pages = "STATEMENT", rng.randrange(16, 70)
            sheets = (pages + 1) // 2 if duplex else pages
            if duplex:
                pages = sheets * 2
            inserts = []
            if rng.random() < 0.15:
                inserts.append("BRE")
            if rng.random() < 0.08:
                inserts.append("LEAFLET")
            name, address, cust_id = cust["name"], list(cust["address"]), cid
            if family and k == ndocs - 1 and ndocs > 1:
                first = rng.choice(US_FIRST if cust["kind"] == "US" else FIRST)
                surname = name.split()[-1]
                name = (f"MME {first} {surname}" if cust["kind"] != "US" else f"{first} {surname}")
                address[0] = name
                cust_id = f"{cid}F"
            carrier = product = ""
            separately = int(rng.random() < 0.01)
            rows.append([0, f"D{len(rows) + 1:07d}", cust_id, doc_type, name, json.dumps(address), cust["postcode"],
                         cust["country"], cust["language"], carrier, product, "BANK", "normal", separately,
                         json.dumps(inserts), pages, sheets, duplex, *cust["page"]])
    rng.shuffle(rows)
    for i, row in enumerate(rows, 1):
        row[0] = i
    db.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 20)})", rows)
    db.commit()
    return customers


def document_row(seq: int, **fields) -> list:
    """One ``documents`` row with sensible defaults (a 1-sheet French letter) overridden by ``fields``.

    ``address`` may be a list of lines; ``inserts`` a list of names.
    """
    pc = fields.get("postcode", "75011")
    row = {"seq": seq, "doc_id": f"D{seq:07d}", "customer_id": f"C{seq:07d}", "doc_type": "LETTER",
           "recipient_name": "M JEAN MARTIN", "address": None, "postcode": pc, "country": "FR", "language": "fr",
           "carrier": "", "product": "", "sender": "BANK", "confidentiality": "normal", "mail_separately": 0,
           "inserts": [], "pages": 1, "sheets": 1, "duplex": 0, "page_width": A4[0], "page_height": A4[1]}
    row.update(fields)
    if row["address"] is None:
        row["address"] = [row["recipient_name"], "12 RUE DES LILAS", f"{pc} PARIS"] if row["country"] == "FR" else \
            [row["recipient_name"], "12 MAIN ST", f"SPRINGFIELD IL {pc}"]
    row["address"] = json.dumps(row["address"]) if not isinstance(row["address"], str) else row["address"]
    row["inserts"] = json.dumps(row["inserts"]) if not isinstance(row["inserts"], str) else row["inserts"]
    if "pages" not in fields:
        row["pages"] = row["sheets"] * (2 if row["duplex"] else 1)
    return [row[k] for k in ("seq", "doc_id", "customer_id", "doc_type", "recipient_name", "address", "postcode",
                             "country", "language", "carrier", "product", "sender", "confidentiality",
                             "mail_separately", "inserts", "pages", "sheets", "duplex", "page_width", "page_height")]


def insert_documents(db, rows) -> None:
    """Create ``documents`` if needed and insert rows built by :func:`document_row`."""
    create_documents_table(db)
    db.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 20)})", rows)
    db.commit()


def low_minimum_rules(destination) -> str:
    """A copy of the bundled rule packs in ``destination`` with every mailing minimum lowered to 10
    pieces, so that a sample of a few thousand documents reaches every presort level; returns its path."""
    import shutil
    from pathlib import Path
    source = Path(__file__).parent / "rules"
    shutil.copytree(source, destination)
    for name in ("laposte_lettre_industrielle_2025.toml", "usps_fcm_letters_2025.toml"):
        pack = Path(destination) / name
        pack.write_text(pack.read_text().replace("mailing_min = 1000", "mailing_min = 10")
                        .replace("mailing_min = 500", "mailing_min = 10"))
    return str(destination)

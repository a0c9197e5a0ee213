"""Sample data (extract stage): deterministic, realistic test extracts — invoices, statements, letters, US CSV.

:func:`write_samples` writes ``invoices.xml``, ``statements.xml``, ``letters.xml`` (ISO-8859-1) and
``us-statements.csv`` with ``records`` records each; ``samples/DATA.md`` documents their schemas.
Everything comes from :class:`random.Random` seeded from ``seed`` (one generator for the customer
pool, one per file) and from ``job_date``, never from the clock: same arguments, same bytes.

Realism kept on purpose: French names with accents (and an ``œ`` now and then), NF Z10-011 address
blocks of at most 38 characters per line (complement and building lines, ``LIEU DIT``, ``BP``/``CS``
lines, CEDEX codes, foreign addresses with a country line), USPS Pub 28 US addresses with ZIP+4 and
delivery point, valid IBAN check digits, amounts that add up. One shared customer pool feeds the
three XML files, so a customer receives several documents (and some share a household address);
a few customers ask to be mailed separately. The first dozen customers have fixed profiles so that
even the 12-record copies in ``samples/data/`` hold every case (see ``_PROFILES``).

Files are written record by record (bounded memory). ``bad=K`` adds K invalid records per file for
reject tests (see ``DATA.md`` and :func:`bad_record_numbers`); their ids start with 9 so the good
records keep theirs.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import math
import random
import sys
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

CENT = Decimal("0.01")
FILES = ("invoices.xml", "statements.xml", "letters.xml", "us-statements.csv")
DEFECTS = ("amount", "missing", "date", "language")

FR_FIRST_F = ["Hélène", "Zoé", "Chloé", "Anaïs", "Gaëlle", "Noémie", "Océane", "Thérèse", "Inès", "Léa",
              "Émilie", "Cécile", "Agnès", "Marie", "Sophie", "Camille", "Isabelle", "Manon", "Nathalie",
              "Sandrine", "Emma", "Claire", "Juliette", "Marie-Christine", "Anne-Sophie", "Françoise"]
FR_FIRST_M = ["Jérôme", "Loïc", "Benoît", "François", "Maël", "Clément", "Frédéric", "Raphaël", "Stéphane",
              "Joël", "Aurélien", "Jean", "Pierre", "Nicolas", "Julien", "Lucas", "Thomas", "Antoine",
              "Hugo", "Louis", "Paul", "Jean-Baptiste", "Gérard", "Yannick", "Mathéo", "Noël"]
FR_LAST = ["Martin", "Bernard", "Dubois", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre",
           "Michel", "Garcia", "Bertrand", "Roux", "Fournier", "Girard", "André", "Mercier", "Dupont",
           "Lambert", "Bonnet", "Legrand", "Garnier", "Faure", "Rousseau", "Guérin", "Muller", "Perrin",
           "Mathieu", "Gauthier", "Fontaine", "Chevalier", "Masson", "Lebœuf", "Le Goff", "N'Diaye",
           "Nguyen", "Benali", "Da Silva", "Ménard", "Bérenger", "Kerouédan", "Cœurderoy",
           "Lefèvre-Pontalis", "De La Fontaine", "Périgord", "Châtelain", "Brûlé", "Hœlzer"]
EN_FIRST_F = ["Emily", "Charlotte", "Olivia", "Sarah", "Jessica", "Hannah", "Grace", "Megan", "Laura"]
EN_FIRST_M = ["John", "James", "Oliver", "William", "Daniel", "Michael", "Robert", "David", "Thomas"]
DE_FIRST_F = ["Anna", "Sophie", "Katharina", "Jülide", "Monika", "Ursula", "Lea", "Charlotte", "Gisela"]
DE_FIRST_M = ["Jürgen", "Matthias", "Lukas", "Stefan", "Jörg", "Klaus", "Tobias", "Maximilian", "Björn"]
DE_LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Schäfer", "Köhler", "Groß", "Krämer",
           "Hoffmann", "Bäcker", "Schulz-Neumann", "Wagner", "Döring", "Straßburger", "Lange", "Zimmermann"]
EN_LAST = ["Smith", "Johnson", "Brown", "Wilson", "Taylor", "O'Connor", "Anderson", "Walker", "Harris",
           "Clarke", "Robinson", "Wright", "Miller", "Davis", "Thompson", "McAllister", "Evans"]

STREET_TYPES = ["RUE", "RUE", "RUE", "AVENUE", "BOULEVARD", "PLACE", "IMPASSE", "CHEMIN", "ALLEE",
                "QUAI", "ROUTE", "COURS"]
STREET_NAMES = ["DE LA ROQUETTE", "VICTOR HUGO", "DES LILAS", "JEAN JAURES", "DU GENERAL LECLERC",
                "DE LA REPUBLIQUE", "PASTEUR", "DES ECOLES", "DU MOULIN", "DE LA GARE", "GAMBETTA",
                "DES ACACIAS", "SAINT MICHEL", "DU CHATEAU", "FOCH", "DE LA LIBERATION", "ANATOLE FRANCE",
                "DES TANNEURS", "DE L EGLISE", "MARCEL PAGNOL", "DU PORT", "DES VIGNES", "DE VERDUN",
                "EMILE ZOLA", "DES FRERES LUMIERE", "DU PRESIDENT WILSON", "DES MARRONNIERS"]
# (code postal, localité); several codes per département so that presort has groups to build
FR_CITIES = [("75011", "PARIS"), ("75011", "PARIS"), ("75015", "PARIS"), ("75018", "PARIS"),
             ("75005", "PARIS"), ("75020", "PARIS"), ("69003", "LYON"), ("69007", "LYON"),
             ("13008", "MARSEILLE"), ("13001", "MARSEILLE"), ("31000", "TOULOUSE"), ("33000", "BORDEAUX"),
             ("44000", "NANTES"), ("67000", "STRASBOURG"), ("59000", "LILLE"), ("35000", "RENNES"),
             ("06000", "NICE"), ("34000", "MONTPELLIER"), ("21000", "DIJON"), ("63000", "CLERMONT FERRAND"),
             ("92100", "BOULOGNE BILLANCOURT"), ("93100", "MONTREUIL"), ("94300", "VINCENNES"),
             ("20000", "AJACCIO"), ("97400", "SAINT DENIS"), ("38000", "GRENOBLE"), ("74000", "ANNECY")]
FR_RURAL = [("24200", "SARLAT LA CANEDA"), ("46100", "FIGEAC"), ("12000", "RODEZ"), ("48000", "MENDE"),
            ("15000", "AURILLAC"), ("23000", "GUERET"), ("19300", "EGLETONS"), ("07200", "AUBENAS")]
LIEUX_DITS = ["LES BORDES", "LA GRANGE NEUVE", "LE MOULIN BAS", "LES QUATRE VENTS", "LA COMBE",
              "LE PUY DE L ARBRE", "LES ESSARTS"]
FR_CEDEX = [("69443", "LYON CEDEX 03"), ("75743", "PARIS CEDEX 15"), ("92081", "PARIS LA DEFENSE CEDEX"),
            ("31036", "TOULOUSE CEDEX 1"), ("13284", "MARSEILLE CEDEX 07"), ("33076", "BORDEAUX CEDEX")]
COMPANIES = ["SARL Boulangerie Martin", "Cabinet Dentaire Lefèvre", "SAS Ateliers du Rhône",
             "Garage Bérenger et Fils", "EURL Menuiserie Châtelain", "SCI Les Tilleuls"]
COMPLEMENTS = ["Appartement {n}", "Appt {n} escalier B", "Chez Mme Durand", "Appartement {n} 3e étage",
               "Porte {n}"]
BUILDINGS = ["Résidence Les Tilleuls", "Bâtiment C", "Entrée 2 Les Jardins d'Émile", "Résidence Le Parc",
             "Tour Hélios"]
# (city, state, ZIP5): clusters of ZIPs in the same 3-digit area (627, 606) for presort
US_CITIES = [("SPRINGFIELD", "IL", "62704"), ("SPRINGFIELD", "IL", "62704"), ("SPRINGFIELD", "IL", "62702"),
             ("SPRINGFIELD", "IL", "62703"), ("CHICAGO", "IL", "60614"), ("CHICAGO", "IL", "60657"),
             ("CHICAGO", "IL", "60601"), ("AUSTIN", "TX", "78701"), ("SEATTLE", "WA", "98101"),
             ("DENVER", "CO", "80202"), ("BOSTON", "MA", "02116"), ("ATLANTA", "GA", "30303"),
             ("PORTLAND", "OR", "97205"), ("MADISON", "WI", "53703"), ("COLUMBUS", "OH", "43215"),
             ("NASHVILLE", "TN", "37203"), ("SAN DIEGO", "CA", "92101"), ("BROOKLYN", "NY", "11201")]
US_STREETS = ["MAIN ST", "OAK AVE", "MAPLE DR", "WASHINGTON BLVD", "LINCOLN WAY", "ELM ST", "PARK PL",
              "LAKE SHORE DR", "HIGHLAND AVE", "CEDAR LN", "MARKET ST", "2ND ST"]
FOREIGN = {  # country: (line builder, postal code, city, country line seen from France, language)
    "BE": (["Rue de la Loi {n}"], "1000", "BRUXELLES", "BELGIQUE", "fr"),
    "DE": (["Hauptstraße {n}"], "10115", "BERLIN", "ALLEMAGNE", "de"),
    "GB": (["{n} BAKER STREET"], "NW1 6XE", "LONDON", "ROYAUME UNI", "en"),
}

# fixed profiles of the first pool customers (index = pool position), the rest are drawn at random
_PROFILES = ["fr", "fr", "fr_separately", "en", "fr", "household", "company", "us", "lieu_dit", "bp",
             "foreign_de", "en"]
# Languages: customers in Germany speak German (``de``): the invoice follows them in German; the bank's
# statements and the insurer's letters exist in French and English only, so they get English.
LETTER_LANGUAGES = ("fr", "en")


def letter_language(c) -> str:
    """The language of a statement or letter for customer ``c``: theirs if offered, else English."""
    return c.language if c.language in LETTER_LANGUAGES else "en"


BANKS = [("30004", "BNPAFRPPXXX"), ("30003", "SOGEFRPPXXX"), ("30002", "CRLYFRPPXXX"),
         ("10278", "CMCIFR2AXXX"), ("20041", "PSSTFRPPXXX"), ("17515", "CEPAFRPP751"),
         ("18206", "AGRIFRPP882")]


def money(value) -> str:
    """An amount as the extracts write it: 2 decimals, ``.`` separator."""
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def ascii_upper(text: str) -> str:
    """Uppercase without accents or punctuation (NF Z10-011 lines 4–6, USPS Pub 28)."""
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    text = "".join(c if c.isalnum() or c == " " else " " for c in text)
    return " ".join(text.split())


def fr_iban(rng: random.Random, bank: str | None = None) -> str:
    """A French IBAN with a valid RIB key and IBAN check digits (compact form)."""
    bank = bank or rng.choice(BANKS)[0]
    branch = f"{rng.randrange(100000):05d}"
    account = f"{rng.randrange(10 ** 11):011d}"
    key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank}{branch}{account}{key:02d}"
    check = 98 - int(bban + "152700") % 97
    return f"FR{check:02d}{bban}"


def sepa_creditor_id(national: str) -> str:
    """A SEPA creditor identifier (``FRkkZZZ`` + national id) with valid check digits."""
    digits = "".join(str(int(c, 36)) for c in national + "FR00")
    return f"FR{98 - int(digits) % 97:02d}ZZZ{national}"


@dataclass
class Customer:
    """One customer of the shared pool, with a ready-to-print address block."""
    id: str
    kind: str
    language: str
    civility: str
    first_name: str
    last_name: str
    lines: list
    postal_code: str
    city: str
    country: str
    state: str = ""
    delivery_point: str = ""
    mail_separately: bool = False
    mate: int | None = None          # pool index of the customer whose address this one shares
    accounts: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.civility, self.first_name, self.last_name) if p)

    def xml(self, language: str | None = None, indent: str = "    ", extra: tuple = ()) -> str:
        """The ``<customer>`` element; ``extra`` (name, value) pairs are added after ``<name>``."""
        lang = language or self.language
        sep = "true" if self.mail_separately else "false"
        out = [f'{indent}<customer id="{self.id}" language="{lang}" mail_separately="{sep}" kind="{self.kind}">',
               f"{indent}  {_el('civility', self.civility)}", f"{indent}  {_el('first_name', self.first_name)}",
               f"{indent}  {_el('last_name', self.last_name)}", f"{indent}  {_el('name', self.name)}",
               *[f"{indent}  {_el(name, value)}" for name, value in extra],
               f"{indent}  <address>"]
        out += [f"{indent}    {_el('line', line)}" for line in self.lines]
        out.append(f"{indent}    {_el('postal_code', self.postal_code)}")
        out.append(f"{indent}    {_el('city', self.city)}")
        if self.state:
            out.append(f"{indent}    {_el('state', self.state)}")
        out.append(f"{indent}    {_el('country', self.country)}")
        if self.delivery_point:
            out.append(f"{indent}    {_el('delivery_point', self.delivery_point)}")
        out += [f"{indent}  </address>", f"{indent}</customer>"]
        return "\n".join(out)


def _el(name: str, text, **attrs) -> str:
    attr = "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items())
    return f"<{name}{attr}>{escape(str(text))}</{name}>"


def _fit(line: str, limit: int = 38) -> str:
    return line if len(line) <= limit else line[:limit].rstrip()


class _Pool:
    """Builds the shared customer pools (French-side and US) from one seeded generator."""

    def __init__(self, rng: random.Random, size_fr: int, size_us: int):
        self.rng = rng
        self.fr: list[Customer] = []
        for i in range(size_fr):
            profile = _PROFILES[i] if i < len(_PROFILES) else rng.choices(
                ["fr", "en", "household", "company", "lieu_dit", "bp", "foreign", "us", "fr_separately"],
                [70, 8, 7, 3, 4, 2, 2, 2, 2])[0]
            self.fr.append(self._customer(f"C{i + 1:06d}", profile))
        self.us: list[Customer] = []
        for i in range(size_us):
            self.us.append(self._us_customer(f"U{i + 1:06d}", i))

    def _person(self, language: str):
        rng = self.rng
        female = rng.random() < 0.5
        if language == "fr":
            first = rng.choice(FR_FIRST_F if female else FR_FIRST_M)
            return ("Mme" if female else "M."), ("Madame" if female else "Monsieur"), first, rng.choice(FR_LAST)
        if language == "de":        # as many draws as English: the rest of the pool stays the same
            civ = rng.choice(["Frau", "Frau Dr."]) if female else "Herr"
            return civ, civ, rng.choice(DE_FIRST_F if female else DE_FIRST_M), rng.choice(DE_LAST)
        civ = rng.choice(["Mrs", "Ms"]) if female else "Mr"
        return civ, civ, rng.choice(EN_FIRST_F if female else EN_FIRST_M), rng.choice(EN_LAST)

    def _name_line(self, long_civ: str, civ: str, first: str, last: str) -> str:
        for line in (f"{long_civ} {first} {last.upper()}", f"{civ} {first} {last.upper()}",
                     f"{civ} {first[0]}. {last.upper()}"):
            if len(line) <= 38:
                return line
        return _fit(f"{civ} {last.upper()}")

    def _street(self) -> str:
        rng = self.rng
        number = str(rng.randint(1, 180)) + (" BIS" if rng.random() < 0.06 else "")
        return _fit(f"{number} {rng.choice(STREET_TYPES)} {rng.choice(STREET_NAMES)}")

    def _us_lines(self, first: str, last: str, civ: str):
        rng = self.rng
        city, state, zip5 = rng.choice(US_CITIES)
        zip4, dp = f"{rng.randrange(10000):04d}", f"{rng.randrange(100):02d}"
        street = f"{rng.randint(100, 9899)} {rng.choice(['', 'N ', 'S ', 'E ', 'W '])}{rng.choice(US_STREETS)}"
        if rng.random() < 0.25:
            street += f" APT {rng.randint(1, 30)}{rng.choice('ABCD')}"
        name = ascii_upper(f"{civ} {first} {rng.choice('ABCDEJLMR')} {last}")
        second = f"PO BOX {rng.randint(100, 9999)}" if rng.random() < 0.1 else ""
        return name, street, second, (city, state, zip5, zip4, dp)

    def _customer(self, cid: str, profile: str) -> Customer:
        rng = self.rng
        if profile == "household" and self.fr:
            mate = rng.choice([c for c in self.fr if c.kind == "person" and c.country == "FR"] or self.fr)
            long_civ, civ = ("Madame", "Mme") if mate.civility != "Mme" else ("Monsieur", "M.")
            names = {"fr": (FR_FIRST_F, FR_FIRST_M), "de": (DE_FIRST_F, DE_FIRST_M)}.get(
                mate.language, (EN_FIRST_F, EN_FIRST_M))
            first = rng.choice(names[0] if civ == "Mme" else names[1])
            if mate.language == "en":
                long_civ = civ = "Mrs" if civ == "Mme" else "Mr"
            elif mate.language == "de":
                long_civ = civ = "Frau" if civ == "Mme" else "Herr"
            lines = [self._name_line(long_civ, civ, first, mate.last_name)] + mate.lines[1:]
            return Customer(cid, "person", mate.language, civ, first, mate.last_name, lines, mate.postal_code,
                            mate.city, mate.country, mate.state, mate.delivery_point,
                            mate=self.fr.index(mate))
        if profile == "company":
            name = rng.choice(COMPANIES)
            lines = [_fit(name), "Service Comptabilité"]
            if rng.random() < 0.5:
                lines.append(self._street())
            cp, city = rng.choice(FR_CEDEX)
            lines += [f"CS {rng.randint(10, 99)}{rng.randint(0, 999):03d}", f"{cp} {city}"]
            return Customer(cid, "company", "fr", "", "", name, lines, cp, city, "FR")
        language = "en" if profile in ("en", "us") else "fr"
        if profile in ("foreign", "foreign_de"):
            country = rng.choice(sorted(FOREIGN))
            if profile == "foreign_de":      # the draw is kept so that the rest of the pool stays the same
                country = "DE"
            language = FOREIGN[country][4]
        civ, long_civ, first, last = self._person(language)
        if profile == "us":
            name, street, second, (city, state, zip5, zip4, dp) = self._us_lines(first, last, civ)
            lines = [self._name_line(long_civ, civ, first, last), street] + ([second] if second else []) + \
                [f"{city} {state} {zip5}-{zip4}", "ETATS UNIS"]
            return Customer(cid, "person", language, civ, first, last, lines, f"{zip5}-{zip4}", city, "US",
                            state, dp)
        lines = [self._name_line(long_civ, civ, first, last)]
        if profile in ("foreign", "foreign_de"):
            street_tpl, cp, city, country_line, _ = FOREIGN[country]
            lines += [t.format(n=rng.randint(1, 120)) for t in street_tpl]
            lines += [f"{cp} {city}" if country != "GB" else city, *([cp] if country == "GB" else []),
                      country_line]
            return Customer(cid, "person", language, civ, first, last, lines, cp, city, country)
        if rng.random() < 0.3:
            lines.append(rng.choice(COMPLEMENTS).format(n=rng.randint(1, 60)))
        if rng.random() < 0.2:
            lines.append(rng.choice(BUILDINGS))
        if profile == "lieu_dit":
            cp, city = rng.choice(FR_RURAL)
            if rng.random() < 0.5:
                lines.append(f"{rng.randint(1, 30)} {rng.choice(['CHEMIN', 'ROUTE'])} "
                             f"{rng.choice(['DU MOULIN', 'DES VIGNES', 'DE LA COMBE'])}")
            lines.append(f"LIEU DIT {rng.choice(LIEUX_DITS)}")
        elif profile == "bp":
            cp, city = rng.choice(FR_RURAL + FR_CITIES)
            lines += [self._street(), f"BP {rng.randint(1, 99)}{rng.randint(0, 999):03d}"]
        else:
            cp, city = rng.choice(FR_CITIES)
            lines.append(self._street())
        lines.append(f"{cp} {city}")
        return Customer(cid, "person", language, civ, first, last, lines, cp, city, "FR",
                        mail_separately=profile == "fr_separately")

    def _us_customer(self, cid: str, index: int) -> Customer:
        rng = self.rng
        if index == 1 or (index > 8 and rng.random() < 0.1):       # a household: same address, other name
            mate = self.us[index - 1]
            civ, _, first, _ = self._person("en")
            lines = [ascii_upper(f"{civ} {first} {mate.last_name}")] + mate.lines[1:]
            return Customer(cid, "person", "en", civ, first, mate.last_name, lines, mate.postal_code,
                            mate.city, "US", mate.state, mate.delivery_point, mate=index - 1)
        civ, _, first, last = self._person("en")
        name, street, second, (city, state, zip5, zip4, dp) = self._us_lines(first, last, civ)
        lines = [name, street] + ([second] if second else []) + [f"{city} {state} {zip5}-{zip4}"]
        return Customer(cid, "person", "en", civ, first, last, lines, f"{zip5}-{zip4}", city, "US", state,
                        dp, mail_separately=index == 2 or rng.random() < 0.03)


def _assign(rng: random.Random, records: int, pool: list) -> list[int]:
    """Which pool customer gets each document, in file order.

    About one document in six goes to a customer who already has one in the file (customer 0 always
    gets two), so householding has work to do; customer 0 and every household pair are always in.
    """
    size = len(pool)
    distinct = max(1, min(size, records - max(1, records // 6)))
    forced = {0}
    for i, c in enumerate(pool):
        if c.mate is not None and len(forced) + 2 <= distinct and i < 2 * len(_PROFILES):
            forced |= {i, c.mate}
    others = [i for i in range(size) if i not in forced]
    chosen = sorted(forced) + rng.sample(others, distinct - len(forced))
    repeats = ([0] + rng.choices(chosen, k=records - distinct - 1)) if records > distinct else []
    order = chosen + repeats
    rng.shuffle(order)
    return order


def _month_start(day: _dt.date) -> _dt.date:
    return day.replace(day=1)


def _previous_month(job_date: _dt.date) -> tuple[_dt.date, _dt.date]:
    end = _month_start(job_date) - _dt.timedelta(days=1)
    return end.replace(day=1), end


def _months_back(end: _dt.date, count: int) -> list[str]:
    y, m, out = end.year, end.month, []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


# -- invoices ------------------------------------------------------------------------------------

CREDITOR = "Énergies du Val SA"
CREDITOR_ID = sepa_creditor_id("123456")
CREDITOR_IBAN = fr_iban(random.Random(1), "30004")


def siren_of(customer_id: str) -> str:
    """A valid (Luhn) 9-digit SIREN derived from a customer id: the same customer, the same SIREN."""
    base = f"{int(hashlib.sha256(customer_id.encode()).hexdigest()[:12], 16) % 10 ** 8:08d}"
    for last in "0123456789":
        digits = [int(d) for d in base + last]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                    for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return base + last
    raise AssertionError("unreachable")


def fr_vat_id(siren: str) -> str:
    """The French intra-community VAT number of a SIREN (key = (12 + 3 × (SIREN mod 97)) mod 97)."""
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


PLATFORMS = ["pdp-alpha", "pdp-beta"]     # the B2B buyers' e-invoicing platforms in the B2B sample


def b2b_ids(c: Customer) -> tuple:
    """SIREN, VAT number and platform of a company customer (the B2B invoice sample)."""
    siren = siren_of(c.id)
    return (("siren", siren), ("vat_id", fr_vat_id(siren)), ("pdp", PLATFORMS[int(siren) % len(PLATFORMS)]))


# the invoice's item labels, tariffs and units in the customer's language (French is the key)
INVOICE_WORDS = {
    "Abonnement {t}": ("Standing charge {t}", "Grundpreis {t}"),
    "Abonnement gaz {t}": ("Gas standing charge {t}", "Grundpreis Gas {t}"),
    "Consommation heures pleines": ("Peak-hours consumption", "Verbrauch Hochtarif"),
    "Consommation heures creuses": ("Off-peak consumption", "Verbrauch Niedertarif"),
    "Consommation électricité": ("Electricity consumption", "Stromverbrauch"),
    "Consommation gaz naturel": ("Natural gas consumption", "Erdgasverbrauch"),
    "Accise sur l'électricité": ("Excise duty on electricity", "Stromsteuer"),
    "Accise sur le gaz naturel": ("Excise duty on natural gas", "Energiesteuer auf Erdgas"),
    "Contribution tarifaire d'acheminement": ("Network tariff contribution", "Netzentgeltbeitrag (CTA)"),
    "Geste commercial (avoir)": ("Goodwill credit", "Kulanzgutschrift"),
    "Heures creuses {t}": ("Off-peak {t}", "Doppeltarif {t}"),
    "Base {t}": ("Base {t}", "Eintarif {t}"),
    "mois": ("month", "Monat"),
    "forfait": ("flat fee", "pauschal"),
}


def invoice_word(french: str, language: str, t: str = "") -> str:
    """An invoice label, tariff or unit in ``language`` (``fr``, ``en``, ``de``), ``{t}`` filled."""
    words = INVOICE_WORDS.get(french)
    text = french if words is None or language not in ("en", "de") else words[language == "de"]
    return text.format(t=t)


def _invoice(rng, c: Customer, doc_id: str, job: _dt.date, defect: str | None, b2b: bool = False) -> str:
    start, end = _previous_month(job)
    has = [k for k in ("elec", "gas") if k in c.accounts]
    if len(has) == 1:                    # a second contract for the same customer: the other energy
        energy = "electricity" if has == ["gas"] else "gas"
    else:
        energy = "gas" if rng.random() < 0.25 else "electricity"
    account = c.accounts.setdefault("gas" if energy == "gas" else "elec", f"41{rng.randrange(10 ** 8):08d}")
    months = _months_back(end, 12)
    lang = c.language                    # labels, tariff and units in the customer's language
    if energy == "electricity":
        kva = rng.choice([6, 9, 12])
        hc = rng.random() < 0.35
        tariff = invoice_word("Heures creuses {t}" if hc else "Base {t}", lang, f"{kva} kVA")
        base_kwh, swing = rng.randint(150, 520), 0.45
        sub = {6: "12.4400", 9: "15.6500", 12: "18.9300"}[kva]
    else:
        hc = False
        tariff, base_kwh, swing, sub = rng.choice(["B0", "B1", "B2I"]), rng.randint(300, 1400), 0.75, "21.0800"
    usage = []
    for ym in months:
        month = int(ym[5:])
        usage.append(max(20, round(base_kwh * (1 + swing * math.cos(2 * math.pi * (month - 1) / 12))
                                   * rng.uniform(0.9, 1.1))))
    kwh = usage[-1]

    def w(french: str) -> str:
        return invoice_word(french, lang, tariff)

    items = [(w("Abonnement {t}") if energy == "electricity" else w("Abonnement gaz {t}"),
              1, w("mois"), Decimal(sub), Decimal("5.5"))]
    if energy == "electricity" and hc:
        hp = round(kwh * rng.uniform(0.55, 0.7))
        items += [(w("Consommation heures pleines"), hp, "kWh", Decimal("0.2700"), Decimal("20.0")),
                  (w("Consommation heures creuses"), kwh - hp, "kWh", Decimal("0.2068"), Decimal("20.0"))]
    elif energy == "electricity":
        items.append((w("Consommation électricité"), kwh, "kWh", Decimal("0.2516"), Decimal("20.0")))
    else:
        items.append((w("Consommation gaz naturel"), kwh, "kWh", Decimal("0.1150"), Decimal("20.0")))
    items.append((w("Accise sur l'électricité") if energy == "electricity" else w("Accise sur le gaz naturel"),
                  kwh, "kWh", Decimal("0.0300") if energy == "electricity" else Decimal("0.0160"),
                  Decimal("20.0")))
    items.append((w("Contribution tarifaire d'acheminement"), 1, w("forfait"),
                  Decimal("2.3500") if energy == "electricity" else Decimal("3.1200"), Decimal("5.5")))
    if rng.random() < 0.08:
        items.append((w("Geste commercial (avoir)"), 1, w("forfait"), Decimal("-10.0000"), Decimal("20.0")))
    lines, bases = [], {}
    for label, qty, unit, price, vat in items:
        amount = (price * qty).quantize(CENT, rounding=ROUND_HALF_UP)
        bases[vat] = bases.get(vat, Decimal(0)) + amount
        lines.append(f"      <item>\n        {_el('label', label)}\n        {_el('quantity', qty)}\n"
                     f"        {_el('unit', unit)}\n        {_el('unit_price', price)}\n"
                     f"        {_el('vat_rate', vat)}\n        {_el('amount', money(amount))}\n      </item>")
    total_ht = sum(bases.values(), Decimal(0))
    vats = [(rate, bases[rate], (bases[rate] * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP))
            for rate in sorted(bases)]
    total_tva = sum((v for _, _, v in vats), Decimal(0))
    total_ttc = total_ht + total_tva
    due = job + _dt.timedelta(days=15)
    debit = rng.random() < 0.7
    lang = "it" if defect == "language" else c.language
    date = "2026-13-45" if defect == "date" else job.isoformat()
    pay = [f'    <payment method="{"direct_debit" if debit else "transfer"}">',
           f"      {_el('creditor_name', CREDITOR)}", f"      {_el('creditor_id', CREDITOR_ID)}",
           f"      {_el('iban', CREDITOR_IBAN)}", f"      {_el('bic', 'BNPAFRPPXXX')}",
           f"      {_el('reference', doc_id)}", f"      {_el('amount', money(total_ttc))}"]
    if debit:
        iban = c.accounts.setdefault("iban", fr_iban(rng))
        masked = f"{iban[:4]} **** **** **** **** ***{iban[-4]} {iban[-3:]}"
        pay += [f"      {_el('mandate_reference', f'RUM-{c.id}-{account[-2:]}')}",
                f"      {_el('debtor_iban', masked)}", f"      {_el('debit_date', due.isoformat())}"]
    pay.append("    </payment>")
    ids = b2b_ids(c) if b2b and c.kind == "company" else ()
    out = [f'  <invoice id="{doc_id}" language="{lang}">', c.xml(lang, extra=ids), f"    {_el('account', account)}",
           f"    {_el('number', doc_id)}", f"    {_el('date', date)}"]
    if defect != "missing":
        out.append(f"    {_el('due_date', due.isoformat())}")
    out += [f"    <period><start>{start}</start><end>{end}</end></period>",
            f'    <contract energy="{energy}">',
            f"      {_el('delivery_point', f'{rng.randrange(10 ** 14):014d}')}",
            f"      {_el('tariff', tariff)}", "    </contract>", "    <items>", *lines, "    </items>",
            "    <totals>", f"      {_el('total_ht', money(total_ht))}",
            *[f"      {_el('vat', money(v), rate=r, base=money(b))}" for r, b, v in vats],
            f"      {_el('total_tva', money(total_tva))}",
            f"      {_el('total_ttc', 'x12' if defect == 'amount' else money(total_ttc))}", "    </totals>",
            '    <consumption unit="kWh">',
            *[f"      {_el('month', u, period=m)}" for m, u in zip(months, usage)],
            "    </consumption>", *pay, "  </invoice>"]
    return "\n".join(out) + "\n"


# -- bank statements ------------------------------------------------------------------------------

FR_DEBITS = ["CB CARREFOUR MARKET {d}", "CB MONOPRIX {d}", "PRLV SEPA ÉNERGIES DU VAL", "RETRAIT DAB {d} {city}",
             "CHEQUE N° {n}", "PRLV SEPA FREE MOBILE", "CB SNCF INTERNET {d}", "CB AMAZON EU SARL {d}",
             "CB BOULANGERIE PÂTISSERIE {d}", "PRLV SEPA MUTUELLE ASSURANCES", "VIR SEPA LOYER {month}",
             "CB PHARMACIE DU CENTRE {d}", "FRAIS TENUE DE COMPTE"]
FR_CREDITS = ["VIR SEPA SALAIRE ACME SAS", "VIR INST M. DUPONT", "REMISE CHEQUE N° {n}",
              "VIR CAF ALLOCATIONS", "REMBT CPAM SOINS {d}", "INTÉRÊTS CRÉDITEURS"]
EN_DEBITS = ["CARD PAYMENT CARREFOUR MARKET {d}", "DIRECT DEBIT ENERGIES DU VAL", "CASH WITHDRAWAL {d} {city}",
             "CHEQUE {n}", "CARD PAYMENT SNCF {d}", "DIRECT DEBIT FREE MOBILE", "ACCOUNT FEE",
             "CARD PAYMENT AMAZON EU {d}", "STANDING ORDER RENT {month}"]
EN_CREDITS = ["SEPA TRANSFER SALARY ACME SAS", "TRANSFER FROM J SMITH", "CHEQUE DEPOSIT {n}",
              "INTEREST CREDITED"]
PRO_LABELS = ["REMISE CB {d} TPE {n}", "CB METRO CASH {d}", "PRLV SEPA URSSAF", "VIR SEPA FOURNISSEUR {n}"]


def statement_size(number: int, rng: random.Random) -> int:
    """How many movements statement ``number`` (1-based) has: the sizes DATA.md promises."""
    if number % 20 == 8:
        return rng.randint(500, 560)
    if number % 20 == 3:
        return 1
    if number % 10 == 6:
        return rng.randint(110, 130)
    return rng.randint(10, 60)


def _statement(rng, c: Customer, doc_id: str, number: int, job: _dt.date, defect: str | None) -> str:
    start, end = _previous_month(job)
    count = statement_size(number, rng)
    en = letter_language(c) == "en"
    pro = count >= 500 or c.kind == "company"
    iban = c.accounts.setdefault("iban", fr_iban(rng))
    bank, bic = next(((b, bic) for b, bic in BANKS if iban[4:9] == b), BANKS[0])
    acc_type = ("Business account" if en else "Compte professionnel") if pro else \
        ("Current account" if en else "Compte courant")
    days = (end - start).days + 1
    opening = Decimal(rng.randint(-50000, 800000)) / 100
    moves = []
    for k in range(count):
        day = start + _dt.timedelta(days=rng.randrange(days))
        credit = rng.random() < (0.45 if pro else 0.15)
        if pro:
            tpl = rng.choice(PRO_LABELS[:1] if credit else PRO_LABELS[1:])
        else:
            tpl = rng.choice((EN_CREDITS if credit else EN_DEBITS) if en else (FR_CREDITS if credit else FR_DEBITS))
        label = tpl.format(d=day.strftime("%d/%m"), n=rng.randint(1000000, 9999999), city=c.city[:12],
                           month=end.strftime("%m/%Y"))
        if "SALAIRE" in label or "SALARY" in label:
            amount = Decimal(rng.randint(150000, 420000)) / 100
        else:
            amount = Decimal(rng.randint(150, 25000 if not pro else 90000)) / 100
        value = day + _dt.timedelta(days=rng.choice([0, 0, 0, 1, 2]) if credit else 0)
        moves.append((day, k, value, label[:60], "credit" if credit else "debit", amount))
    moves.sort()
    debit = sum((m[5] for m in moves if m[4] == "debit"), Decimal(0))
    credit = sum((m[5] for m in moves if m[4] == "credit"), Decimal(0))
    closing = opening + credit - debit
    lang = "de" if defect == "language" else letter_language(c)
    out = [f'  <statement id="{doc_id}" language="{lang}">', c.xml(lang), "    <account>",
           f"      {_el('type', acc_type)}", f"      {_el('number', iban[14:25])}", f"      {_el('iban', iban)}",
           f"      {_el('bic', bic)}", f"      {_el('branch', 'Agence ' + c.city.title()[:24])}", "    </account>",
           f"    <period><start>{start}</start><end>{'2026-13-45' if defect == 'date' else end}</end></period>",
           "    <currency>EUR</currency>",
           f"    {_el('opening_balance', 'x12' if defect == 'amount' else money(opening))}",
           f'    <movements count="{count}">']
    for day, _, value, label, kind, amount in moves:
        out.append(f"      <movement><date>{day}</date><value_date>{value}</value_date>{_el('label', label)}"
                   f"{_el(kind, money(amount))}</movement>")
    out += ["    </movements>", f"    {_el('total_debit', money(debit))}", f"    {_el('total_credit', money(credit))}"]
    if defect != "missing":
        out.append(f"    {_el('closing_balance', money(closing))}")
    out.append("  </statement>")
    return "\n".join(out) + "\n"


# -- insurance letters -----------------------------------------------------------------------------

PRODUCTS = {"auto": ("AUT", ["Auto Tiers", "Auto Confort", "Auto Tous Risques"], (280, 1100)),
            "home": ("HAB", ["Habitation Essentielle", "Habitation Confort"], (120, 640)),
            "health": ("SAN", ["Santé Famille", "Santé Senior", "Santé Jeunes"], (380, 2400)),
            "life": ("VIE", ["Assurance Vie Horizon", "Prévoyance Sérénité"], (300, 3600))}
VEHICLES = ["Peugeot 208", "Renault Clio", "Citroën C3", "Dacia Sandero", "Toyota Yaris", "Volkswagen Golf",
            "Tesla Model 3", "Renault Mégane"]
ENCLOSURES = {  # (code, kind, weight g, French label, English label)
    "general": ("CG{t}26", "insert", "6.0", "Conditions générales {p}", "General terms and conditions {p}"),
    "certificate": ("ATTASS", "print", "0", "Attestation d'assurance", "Certificate of insurance"),
    "benefits": ("TABGAR", "print", "0", "Tableau des garanties", "Table of benefits"),
    "card": ("CARTET", "insert", "4.5", "Carte de tiers payant", "Health insurance card"),
    "leaflet": ("DEPLPREV", "insert", "3.0", "Dépliant prévention routière", "Road safety leaflet"),
}


def _plate(rng) -> str:
    letters = "ABCDEFGHJKLMNPQRSTVWXYZ"
    return (f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(100, 999)}-"
            f"{rng.choice(letters)}{rng.choice(letters)}")


def _letter(rng, c: Customer, doc_id: str, job: _dt.date, defect: str | None) -> str:
    ctype = rng.choice(["auto", "auto", "home", "home", "health", "life"])
    prefix, products, (low, high) = PRODUCTS[ctype]
    product = rng.choice(products)
    kind = rng.choice(["welcome", "renewal", "renewal", "premium_change"])
    premium = Decimal(rng.randint(low * 100, high * 100)) / 100
    effective = job + _dt.timedelta(days=rng.randint(8, 30)) if kind == "welcome" \
        else _dt.date(job.year + 1, 1, 1)
    lang = "de" if defect == "language" else letter_language(c)
    en = lang == "en"
    out = [f'  <letter id="{doc_id}" language="{lang}" kind="{kind}">', c.xml(lang), f'    <contract type="{ctype}">']
    if defect != "missing":
        out.append(f"      {_el('policy_number', f'{prefix}-{job.year}-{rng.randrange(10 ** 7):07d}')}")
    out += [f"      {_el('product', product)}",
            f"      {_el('premium', 'x12' if defect == 'amount' else money(premium), period=rng.choice(['annual', 'annual', 'monthly']))}"]
    if kind != "welcome":
        out.append(f"      {_el('previous_premium', money(premium * Decimal(rng.uniform(0.9, 0.99))))}")
    out.append(f"      {_el('effective_date', '2026-13-45' if defect == 'date' else effective.isoformat())}")
    if ctype == "auto":
        out.append(f"      {_el('vehicle', rng.choice(VEHICLES), registration=_plate(rng))}")
    elif ctype == "home":
        out.append(f"      {_el('property', rng.choice(['Appartement', 'Maison individuelle']), rooms=rng.randint(1, 7))}")
    elif ctype == "life":
        out.append(f"      {_el('beneficiary', 'Spouse, failing that children' if en else 'Conjoint, à défaut enfants nés ou à naître')}")
    out.append("    </contract>")
    wanted = ["general"] if kind == "welcome" else []
    wanted += {"auto": ["certificate", "leaflet"], "home": ["certificate"], "health": ["card", "benefits"],
               "life": ["benefits"]}[ctype]
    wanted = wanted[:3] if kind == "welcome" else wanted[:rng.randint(1, len(wanted))]
    out.append("    <enclosures>")
    for name in wanted:
        code, ekind, weight, fr, en_label = ENCLOSURES[name]
        label = (en_label if en else fr).format(p=product)
        out.append(f"      {_el('enclosure', label, code=code.format(t=prefix), kind=ekind, weight=weight)}")
    out += ["    </enclosures>", "  </letter>"]
    return "\n".join(out) + "\n"


# -- US statements (CSV) ----------------------------------------------------------------------------

US_DEBITS = ["POS PURCHASE WALMART #{n4}", "ATM WITHDRAWAL {city}", "ACH DEBIT COMCAST", "CHECK {chk}",
             "ONLINE TRANSFER TO SAVINGS", "POS PURCHASE SHELL OIL {n4}", "ACH DEBIT STATE FARM INS",
             "MONTHLY SERVICE FEE", "DEBIT CARD TARGET T-{n4}"]
US_CREDITS = ["PAYROLL DEPOSIT ACME, INC", "MOBILE DEPOSIT", "INTEREST PAYMENT", "ZELLE FROM SMITH, J"]


def _csv_field(value: str) -> str:
    return f'"{value}"' if any(ch in value for ch in ',"\n') else value


def _us_statement(rng, c: Customer, account: str, number: int, job: _dt.date, defect: str | None) -> str:
    start, end = _previous_month(job)
    count = 0 if number % 13 == 5 else (80 if number % 13 == 9 else rng.randint(3, 40))
    opening = Decimal(rng.randint(-20000, 900000)) / 100
    rows, debit, credit = [], Decimal(0), Decimal(0)
    days = sorted(start + _dt.timedelta(days=rng.randrange((end - start).days + 1)) for _ in range(count))
    check = rng.randint(1001, 1900)
    for day in days:
        is_credit = rng.random() < 0.2
        tpl = rng.choice(US_CREDITS if is_credit else US_DEBITS)
        if "{chk}" in tpl:
            check += 1
        desc = tpl.format(n4=rng.randint(1000, 9999), city=c.city, chk=check)
        amount = Decimal(rng.randint(150000, 450000) if "PAYROLL" in desc else rng.randint(200, 40000)) / 100
        ref = str(check) if desc.startswith("CHECK") else f"{rng.choice(['PR', 'TX', 'AC'])}{rng.randint(1000, 9999)}"
        if is_credit:
            credit += amount
        else:
            debit += amount
        rows.append(["D", account, day.isoformat(), desc, ref, "" if is_credit else money(amount),
                     money(amount) if is_credit else ""])
    closing = opening + credit - debit
    street, *rest = c.lines[1:]
    address2 = rest[0] if len(rest) == 2 else ""
    head = ["H", account, c.id, "de" if defect == "language" else "en", c.lines[0], street, address2, rest[-1],
            c.city, c.state, c.postal_code[:5], c.postal_code[6:], c.delivery_point,
            "2026-13-45" if defect == "date" else job.isoformat(), start.isoformat(), end.isoformat(),
            "x12" if defect == "amount" else money(opening), money(debit), money(credit),
            "" if defect == "missing" else money(closing), "Y" if c.mail_separately else "N"]
    return "".join(",".join(_csv_field(v) for v in row) + "\n" for row in [head] + rows)


# -- files ------------------------------------------------------------------------------------------

def bad_record_numbers(records: int, bad: int) -> list[int]:
    """1-based record numbers of the ``bad`` invalid records in each file written with ``bad=bad``."""
    return [(j + 1) * records // (bad + 1) + j + 1 for j in range(bad)]


def _plan(records: int, bad: int, rng: random.Random) -> list[tuple[int, str | None]]:
    """File order: ``(good index, None)`` or ``(bad index, defect)``."""
    after = {}
    for j in range(bad):
        after.setdefault((j + 1) * records // (bad + 1), []).append(j)
    plan = []
    for i in range(records + 1):
        for j in after.get(i, []):
            plan.append((j, DEFECTS[j % len(DEFECTS)]))
        if i < records:
            plan.append((i, None))
    return plan


def write_samples(out_dir, records: int, seed: int = 42, job_date: str = "2026-11-23",
                  bad: int = 0) -> list[Path]:
    """Write the four sample extracts into ``out_dir`` (created); returns their paths in :data:`FILES` order.

    ``records`` records per file, ``bad`` extra invalid records per file (see :func:`bad_record_numbers`).
    """
    if records < 1 or bad < 0:
        raise ValueError("records must be ≥ 1 and bad ≥ 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    job = _dt.date.fromisoformat(job_date)
    pool = _Pool(random.Random(seed), max(len(_PROFILES), math.ceil(records * 0.8)),
                 max(4, math.ceil(records * 0.7)))
    bad_pool = _Pool(random.Random(seed + 1_000_003), len(_PROFILES), 4)
    paths = []
    period = _previous_month(job)[1].strftime("%Y%m")
    specs = [("invoices.xml", "UTF-8", f'<invoices job_date="{job_date}" issuer={quoteattr(CREDITOR)}>',
              "</invoices>", lambda rng, c, i, d: _invoice(rng, c, f"FAC-{job.year}-{i:07d}", job, d)),
             ("statements.xml", "UTF-8", f'<statements job_date="{job_date}" bank="Banque Exemple">',
              "</statements>",
              lambda rng, c, i, d: _statement(rng, c, f"REL-{period}-{i:07d}", i, job, d)),
             ("letters.xml", "ISO-8859-1",
              f'<letters job_date="{job_date}" insurer="Mutuelle Assurances Exemple">', "</letters>",
              lambda rng, c, i, d: _letter(rng, c, f"LET-{job.year}-{i:07d}", job, d))]
    for name, encoding, root, close, make in specs:
        rng = random.Random(f"{seed}:{name}")
        bad_rng = random.Random(f"{seed}:{name}:bad")
        order = _assign(rng, records, pool.fr)
        path = out / name
        with open(path, "w", encoding=encoding, errors="xmlcharrefreplace", newline="\n") as f:
            f.write(f'<?xml version="1.0" encoding="{encoding}"?>\n{root}\n')
            for index, defect in _plan(records, bad, rng):
                if defect is None:
                    f.write(make(rng, pool.fr[order[index]], index + 1, None))
                else:
                    customer = bad_pool.fr[index % len(bad_pool.fr)]
                    f.write(make(bad_rng, customer, 9_000_001 + index, defect))
            f.write(close + "\n")
        paths.append(path)
    rng = random.Random(f"{seed}:us-statements.csv")
    bad_rng = random.Random(f"{seed}:us-statements.csv:bad")
    order = _assign(rng, records, pool.us)
    path = out / "us-statements.csv"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for index, defect in _plan(records, bad, rng):
            if defect is None:
                f.write(_us_statement(rng, pool.us[order[index]], f"{1000000000 + index * 7919 + 17:010d}",
                                      index + 1, job, None))
            else:
                f.write(_us_statement(bad_rng, bad_pool.us[index % 4], f"{9000000001 + index:010d}",
                                      index + 1, job, defect))
    paths.append(path)
    return paths


def write_b2b_invoices(path, records: int, seed: int = 7, job_date: str = "2026-11-23") -> Path:
    """A B2B/B2C invoice extract for e-invoicing (``samples/data/invoices-b2b.xml``): about two thirds
    company customers carrying ``siren``, ``vat_id`` and ``pdp`` (their e-invoicing platform), the rest
    consumers (who keep paper)."""
    job = _dt.date.fromisoformat(job_date)
    rng = random.Random(f"{seed}:invoices-b2b.xml")
    pool = _Pool(random.Random(seed), 0, 0)
    customers = [pool._customer(f"B{i + 1:06d}", "company" if i % 3 else "fr") for i in range(records)]
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<invoices job_date="{job_date}" '
                f'issuer={quoteattr(CREDITOR)}>\n')
        for i, customer in enumerate(customers):
            f.write(_invoice(rng, customer, f"FAC-{job.year}-B{i + 1:06d}", job, None, b2b=True))
        f.write("</invoices>\n")
    return path


def main(argv=None) -> int:
    """``python -m ccm_batch.samples --out DIR --records N [--seed S] [--bad K] [--job-date D]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad", type=int, default=0)
    parser.add_argument("--job-date", default="2026-11-23")
    args = parser.parse_args(argv)
    for path in write_samples(args.out, args.records, args.seed, args.job_date, args.bad):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Mail stage tests: householding against a ground-truth extract — 18 pairs of documents that the same
customer (same normalised name and address) must receive in one envelope, whatever accents, case,
spacing, punctuation, ligatures (œ/æ) or abbreviations the two documents print, in both ``customer``
and ``name_address`` modes; and pairs that must stay apart."""
import sqlite3

import pytest

from ccm_batch import mail
from ccm_batch.mail.address import norm, norm_name
from ccm_batch.mail.sample import document_row, insert_documents

# (name of doc A, address of doc A, name of doc B, address of doc B); postcode 75011 unless in the block
PAIRS = [
    ("M Jean MARTIN", ["M Jean MARTIN", "12 rue des Lilas", "75011 PARIS"],
     "M JEAN MARTIN", ["M JEAN MARTIN", "12 RUE DES LILAS", "75011 PARIS"]),                       # case
    ("Mme Hélène DUPRÉ", ["Mme Hélène DUPRÉ", "3 allée des Érables", "75011 PARIS"],
     "MME HELENE DUPRE", ["MME HELENE DUPRE", "3 ALLEE DES ERABLES", "75011 PARIS"]),               # accents
    ("M Paul ROUX", ["M Paul ROUX", "7  Rue   de la Paix", "75011 PARIS"],
     "M Paul ROUX", ["M Paul ROUX", "7 rue de la Paix", "75011 PARIS"]),                             # spacing
    ("Mme Anne PETIT", ["Mme Anne PETIT", "5 Rue Victor Hugo", "75011 PARIS"],
     "Mme Anne PETIT", ["Mme Anne PETIT", "5 rue Victor Hugo", "75011 PARIS"]),                      # Rue/rue
    ("M Luc SIMON", ["M Luc SIMON", "18, avenue Jean-Jaurès", "75011 PARIS"],
     "M Luc SIMON", ["M Luc SIMON", "18 AV JEAN JAURES", "75011 PARIS"]),                            # punctuation, AV
    ("Mme Claire LEROY", ["Mme Claire LEROY", "40 boulevard Voltaire", "75011 PARIS"],
     "Mme Claire LEROY", ["Mme Claire LEROY", "40 BD VOLTAIRE", "75011 PARIS"]),                     # BD
    ("Mme Julie LEBŒUF", ["Mme Julie LEBŒUF", "9 rue du Cœur Volant", "75011 PARIS"],
     "MME JULIE LEBOEUF", ["MME JULIE LEBOEUF", "9 RUE DU COEUR VOLANT", "75011 PARIS"]),             # œ -> OE
    ("M Marc CŒURDEROY", ["M Marc CŒURDEROY", "2 place de la Mairie", "75011 PARIS"],
     "M MARC COEURDEROY", ["M MARC COEURDEROY", "2 PLACE DE LA MAIRIE", "75011 PARIS"]),             # Œ in the name
    ("Mme Lætitia MOREL", ["Mme Lætitia MOREL", "11 rue de l'Ærodrome", "75011 PARIS"],
     "MME LAETITIA MOREL", ["MME LAETITIA MOREL", "11 RUE DE L AERODROME", "75011 PARIS"]),          # æ -> AE
    ("M Yann N'DIAYE", ["M Yann N'DIAYE", "4 rue d’Alésia", "75011 PARIS"],
     "M YANN N DIAYE", ["M YANN N DIAYE", "4 RUE D ALESIA", "75011 PARIS"]),                         # apostrophes
    ("Monsieur Pierre DAVID", ["Monsieur Pierre DAVID", "1 rue des Lilas", "75011 PARIS"],
     "M. Pierre DAVID", ["M. Pierre DAVID", "1 rue des Lilas", "75011 PARIS"]),                      # civility
    ("Mme Sophie THOMAS", ["Mme Sophie THOMAS", "6 rue des Lilas", "75011 PARIS"],
     "Mme Sophie THOMAS", ["Mme Sophie THOMAS", "6\u00a0rue des\u00a0Lilas", "75011\u00a0PARIS"]),   # NBSP
    ("M Jean-Luc BERNARD", ["M Jean-Luc BERNARD", "8 rue Saint-Michel", "75011 PARIS"],
     "M JEAN LUC BERNARD", ["M JEAN LUC BERNARD", "8 RUE ST MICHEL", "75011 PARIS"]),                # hyphen, ST
    ("Mme Marie FOURNIER", ["Mme Marie FOURNIER", "Bâtiment B", "10 chemin des Vignes", "75011 PARIS"],
     "MME MARIE FOURNIER", ["MME MARIE FOURNIER", "BAT B", "10 CHE DES VIGNES", "75011 PARIS"]),     # BAT, CHE
    ("M Hugo LAURENT", ["M Hugo LAURENT", "15 bis rue de la Paix", "75011 PARIS"],
     "M HUGO LAURENT", ["M HUGO LAURENT", "15 B RUE DE LA PAIX", "75011 PARIS"]),                    # BIS
    ("Mme Inès GARCÍA", ["Mme Inès GARCÍA", "22 rue des Lilas", "75011 PARIS"],
     "MME INES GARCIA", ["MME INES GARCIA", "22 RUE DES LILAS", "75011 PARIS"]),                     # í
    ("M Noël FRANÇOIS", ["M Noël FRANÇOIS", "3 impasse des Tilleuls", "75011 PARIS"],
     "M NOEL FRANCOIS", ["M NOEL FRANCOIS", "3 IMP DES TILLEULS", "75011 PARIS"]),                   # ç, ë, IMP
    ("Mme Zoé VINCENT", ["Mme Zoé VINCENT", "30 rue des Lilas", "75011 Paris"],
     "MME ZOE VINCENT", ["MME ZOE VINCENT", "30 RUE DES LILAS", "75011 PARIS"]),                     # town case
]
# must stay apart: another person at the same address (customer / name keys), another street number
APART = [
    ("M Jean MARTIN", ["M Jean MARTIN", "14 rue des Lilas", "75011 PARIS"],
     "M Jean MARTIN", ["M Jean MARTIN", "16 rue des Lilas", "75011 PARIS"]),
    ("M Marc BŒUF", ["M Marc BŒUF", "1 rue des Lilas", "75011 PARIS"],
     "M Marc BŒUFS", ["M Marc BŒUFS", "1 rue des Lilas", "75011 PARIS"]),
]


def _extract(pairs, first_seq=1):
    """Two documents per pair: invoices FAC-2026-0009001, …; pair k = documents 2k-1 and 2k."""
    rows = []
    for k, (name_a, addr_a, name_b, addr_b) in enumerate(pairs):
        for j, (name, addr) in enumerate(((name_a, addr_a), (name_b, addr_b))):
            seq = first_seq + 2 * k + j
            rows.append(document_row(seq, doc_id=f"FAC-2026-{9000 + seq:07d}", customer_id=f"C{k:05d}",
                                     recipient_name=name, address=addr, postcode="75011"))
    return rows


def _pieces(rows, mode):
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    mail.plan_mail(db, mail.MailConfig.from_dict({"enabled": True, "householding": mode}, "."), "HH", "2026-01-15")
    out = {}
    for piece_no, doc in db.execute("SELECT piece_no, doc_seq FROM mail_piece_doc ORDER BY piece_no, pos"):
        out.setdefault(piece_no, []).append(doc)
    return sorted(tuple(sorted(v)) for v in out.values())


@pytest.mark.parametrize("mode", ["customer", "name_address"])
def test_every_ground_truth_pair_is_one_piece(mode):
    got = _pieces(_extract(PAIRS), mode)
    expected = [(2 * k + 1, 2 * k + 2) for k in range(len(PAIRS))]
    missed = [PAIRS[a // 2][0] for a, *_ in [p for p in expected if p not in got]]
    assert missed == [] and got == expected, f"{mode}: pairs left as two pieces: {missed}"


@pytest.mark.parametrize("mode", ["customer", "name_address"])
def test_different_addresses_or_names_stay_apart(mode):
    rows = _extract(APART)
    # customer mode: four customers; name_address mode: one customer id, which must not merge them
    rows = [r[:2] + [f"C{r[0]}" if mode == "customer" else "SAME"] + r[3:] for r in rows]
    assert len(_pieces(rows, mode)) == 4


def test_ligatures_normalise_to_their_letters():
    assert norm("Rue du Cœur") == norm("RUE DU COEUR") == "RUE DU COEUR"
    assert norm("l'Ærodrome") == "L AERODROME"
    assert norm_name("Mme Julie LEBŒUF") == norm_name("JULIE LEBOEUF") == "JULIE LEBOEUF"

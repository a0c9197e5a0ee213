"""Bar codes: EPC069-12 SEPA credit transfer QR payload, IBAN and RF reference checks."""
import pytest

from ccm_batch import barcodes as bc


def test_epc_payload_with_text():
    payload = bc.epc_qr_payload("Red Cross of Belgium", "BE72 0000 0000 1616", "BPOTBEB1",
                                "1", text="Urgency fund")
    assert payload == ("BCD\n002\n1\nSCT\nBPOTBEB1\nRed Cross of Belgium\nBE72000000001616\n"
                       "EUR1.00\n\n\nUrgency fund")


def test_epc_payload_with_rf_reference_and_no_bic():
    payload = bc.epc_qr_payload("Société Générale Énergie", "FR7630006000011234567890189", "",
                                "1234.5", reference="RF18 5390 0754 7034")
    assert payload.split("\n") == ["BCD", "002", "1", "SCT", "", "Société Générale Énergie",
                                   "FR7630006000011234567890189", "EUR1234.50", "",
                                   "RF18539007547034"]


def test_epc_payload_without_amount_drops_trailing_lines():
    payload = bc.epc_qr_payload("ACME", "DE89370400440532013000", "COBADEFFXXX", None)
    assert payload == "BCD\n002\n1\nSCT\nCOBADEFFXXX\nACME\nDE89370400440532013000"


@pytest.mark.parametrize("kwargs,match", [
    (dict(iban="FR7630006000011234567890188"), "IBAN"),          # bad check digits
    (dict(iban="FR76300060000112345678901"), "IBAN"),            # wrong length for FR
    (dict(bic="BNPAFRP"), "BIC"),
    (dict(amount="0"), "outside"),
    (dict(amount="1000000000"), "outside"),
    (dict(amount="12.345"), "decimals"),
    (dict(amount="douze"), "not a number"),
    (dict(name="x" * 71), "70"),
    (dict(name="  "), "required"),
    (dict(reference="RF19539007547034"), "ISO 11649"),
    (dict(reference="FACT-2024-001"), "ISO 11649"),
    (dict(reference="RF18539007547034", text="both"), "not both"),
    (dict(text="y" * 141), "140"),
])
def test_epc_payload_validation(kwargs, match):
    args = dict(name="ACME", iban="FR7630006000011234567890189", bic="BNPAFRPP", amount="10")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        bc.epc_qr_payload(**args)


def test_epc_payload_fits_a_version_13_qr_at_ecc_m():
    payload = bc.epc_qr_payload("N" * 70, "MT84MALT011000012345MTLCAST001S", "MALTMTMTXXX",
                                "999999999.99", text="T" * 140)
    rows = bc.encode("qr", payload, bc.EPC_QR_OPTIONS).rows
    assert len(rows) <= 17 + 4 * 13


@pytest.mark.parametrize("iban,ok", [("FR76 3000 6000 0112 3456 7890 189", True),
                                     ("DE89370400440532013000", True),
                                     ("GB82WEST12345698765432", True),
                                     ("GB82WEST12345698765433", False),
                                     ("XX00", False)])
def test_iban_check(iban, ok):
    assert bc.iban_is_valid(iban) is ok


def test_rf_reference_check():
    assert bc.rf_reference_is_valid("RF18 5390 0754 7034")
    assert bc.rf_reference_is_valid("RF712348231")
    assert not bc.rf_reference_is_valid("RF712348232")

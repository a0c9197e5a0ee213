"""Archive stage: the AFP resource file beside a print file, as ACIF writes it for OnDemand.

An AFP page group cut out of a print file (``GROUP_OFFSET``/``GROUP_LENGTH`` of a CMOD index) holds
only its pages: the form map its IMM invokes, the overlays its pages include (IPO) and the images they
place (IOB) live in the print file's resource group, before the first document. ACIF extracts them into
a resource file that OnDemand stores with the loaded documents; :func:`write_resource_file` does the
same for our print files: ``{print file}.res`` is the print file's ``BRG … ERG`` resource group, byte
for byte (every resource in its ``BRS``/``ERS`` envelope), and the CMOD index references it in a
``COMMENT:ccm-batch AFP resources=NAME`` line (:class:`~ccm_batch.archive.index.CmodIndexWriter`).
:func:`resource_names` reads one back (``index verify`` checks each group's references against it).
"""
from __future__ import annotations

import os

from ..errors import OutputError

BRG, ERG, BRS, BMM = b"\xD3\xA8\xC6", b"\xD3\xA9\xC6", b"\xD3\xA8\xCE", b"\xD3\xA8\xCC"
SUFFIX = ".res"


def resource_file_name(print_file: str) -> str:
    """The resource file of ``print_file`` (``RUN_001.afp`` → ``RUN_001.afp.res``)."""
    return print_file + SUFFIX


def _fields(handle):
    """(offset, SF id, whole record) of each structured field, from the handle's position."""
    pos = handle.tell()
    while True:
        head = handle.read(3)
        if len(head) < 3:
            return
        if head[0] != 0x5A:
            raise ValueError(f"byte {pos} is X'{head[0]:02X}', not X'5A' (no structured field starts there)")
        length = int.from_bytes(head[1:3], "big")
        rest = handle.read(length - 2)
        if length < 8 or len(rest) != length - 2:
            raise ValueError(f"the structured field at byte {pos} has a bad length {length}")
        yield pos, rest[:3], head + rest
        pos += 1 + length


def write_resource_file(afp_path, res_path) -> bool:
    """Copy the print-file resource group of ``afp_path`` (its leading ``BRG … ERG``) to ``res_path``.

    Returns False (and writes nothing) when the file has no resource group. Streams field by field.
    """
    tmp = os.fspath(res_path) + ".part"
    try:
        with open(afp_path, "rb") as src:
            fields = _fields(src)
            first = next(fields, None)
            if first is None or first[1] != BRG:
                return False
            with open(tmp, "wb") as out:
                out.write(first[2])
                depth = 1
                for _, sfid, record in fields:
                    out.write(record)
                    depth += (sfid == BRG) - (sfid == ERG)
                    if depth == 0:
                        break
                else:
                    raise ValueError(f"{afp_path}: resource group without ERG")
        os.replace(tmp, res_path)
    except OSError as exc:
        raise OutputError(f"cannot write AFP resource file {res_path}: {exc.strerror}") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def resource_names(res_path) -> tuple[set[str], set[str]]:
    """(resource names of the BRS envelopes, medium map names) of a resource file.

    Raises ``ValueError`` unless the file is exactly one well-formed ``BRG … ERG`` group.
    """
    from ..afp.reader import ebcdic
    names, maps = set(), set()
    with open(res_path, "rb") as handle:
        depth, ended = 0, False
        for pos, sfid, record in _fields(handle):
            if ended:
                raise ValueError(f"{res_path}: data after the resource group's ERG (byte {pos})")
            if depth == 0 and sfid != BRG:
                raise ValueError(f"{res_path}: does not start with BRG (a resource group)")
            depth += (sfid == BRG) - (sfid == ERG)
            if sfid == BRS:
                names.add(ebcdic(record[9:17]))
            elif sfid == BMM:
                maps.add(ebcdic(record[9:17]))
            ended = depth == 0
        if not ended:
            raise ValueError(f"{res_path}: resource group without ERG")
    return names, maps

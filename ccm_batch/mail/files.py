"""Mail stage, print files: a stream's pieces cut into print files in print order, with their piece ids.

Piece ids count up in print order over the whole job: streams by rank (their kind, :data:`KIND_RANK`)
then name, pieces by sequence number. A stream's first id is therefore known as soon as every stream's
kind and piece count are (:func:`id_offsets`), before any stream is sequenced, and each stream can be
cut on its own: a presorted mailing as the presort hands its pieces over in print order
(:mod:`.presort`), the other streams by :func:`ccm_batch.mail.plan` reading them back.

A print file breaks at ``max_pieces_per_file`` / ``max_sheets_per_file`` (0: no limit), and before a
tray that would not fit in what is left of the file (a tray larger than a whole file still starts a new
one and is split by the limits).
"""
from __future__ import annotations

KIND_RANK = {"main": 0, "presort": 0, "single": 1, "international": 2, "oversize": 3, "invalid": 4}

MAX_PIECE_ID = 10 ** 8 - 1      # 8 digits

FILE_COLUMNS = ("piece_id", "file_seq", "sheet_offset", "index_in_file", "file_break", "tray_break", "bundle_break")
"""The columns of ``mail_piece`` :meth:`FileCutter.cut` gives each piece, in its order."""


def set_file_columns(source: str) -> str:
    """``SET`` assignments of :data:`FILE_COLUMNS` from the same columns of ``source``."""
    return ", ".join(f"{c} = {source}.{c}" for c in FILE_COLUMNS)


def id_offsets(streams: list[tuple[str, str, int]], id_start: int) -> dict[str, int]:
    """The first piece id of each stream of ``streams`` [(name, kind, pieces)], from ``id_start``."""
    out, next_id = {}, id_start
    for name, kind, count in sorted(streams, key=lambda s: (KIND_RANK[s[1]], s[0])):
        out[name] = next_id
        next_id += count
    return out


def sql_sum(total, value):
    """SQL's SUM, one value at a time: NULLs are skipped, and the sum of none is NULL."""
    if value is None:
        return total
    return value if total is None else total + value


class FileCutter:
    """Cuts one stream's pieces, given in print order, into print files (see the module docstring)."""

    def __init__(self, max_pieces: int, max_sheets: int, first_id: int):
        self.max_p, self.max_s = max_pieces, max_sheets
        self.next_id = first_id
        self.file_seq, self.f_pieces, self.f_sheets = 1, 0, 0
        self.last_tray = self.last_bundle = None
        self.sums: dict = {}                       # file_seq -> [pieces, SUM(documents), SUM(sheets)]

    def cut(self, pieces) -> list[tuple]:
        """The next pieces in print order, ``pieces`` = [(sheets, documents, tray, tray's pieces, tray's
        sheets, bundle)] (a tray's totals are read when it starts); returns per piece (piece id, file seq,
        sheet offset, index in file, file break, tray break, bundle break)."""
        max_p, max_s, sums = self.max_p, self.max_s, self.sums
        next_id, file_seq, f_pieces, f_sheets = self.next_id, self.file_seq, self.f_pieces, self.f_sheets
        last_tray, last_bundle = self.last_tray, self.last_bundle
        acc = sums.get(file_seq)
        out = []
        for sheets, documents, tray, tray_pieces, tray_sheets, bundle in pieces:
            new_tray = tray is not None and tray != last_tray
            if f_pieces and new_tray:
                if (max_p and f_pieces + tray_pieces > max_p) or (max_s and f_sheets + tray_sheets > max_s):
                    file_seq, f_pieces, f_sheets = file_seq + 1, 0, 0
            if f_pieces and ((max_p and f_pieces + 1 > max_p) or (max_s and f_sheets + sheets > max_s)):
                file_seq, f_pieces, f_sheets = file_seq + 1, 0, 0
            if not f_pieces:
                acc = sums.get(file_seq)
                if acc is None:
                    acc = sums[file_seq] = [0, None, None]
            out.append((f"{next_id:08d}", file_seq, f_sheets, f_pieces + 1, int(f_pieces == 0), int(new_tray),
                        int(bundle is not None and (bundle != last_bundle or new_tray))))
            next_id += 1
            acc[0] += 1
            acc[1], acc[2] = sql_sum(acc[1], documents), sql_sum(acc[2], sheets)
            f_pieces += 1
            f_sheets += sheets or 0
            last_tray, last_bundle = tray, bundle
        self.next_id, self.file_seq, self.f_pieces, self.f_sheets = next_id, file_seq, f_pieces, f_sheets
        self.last_tray, self.last_bundle = last_tray, last_bundle
        return out

    def files(self) -> list[tuple[int, int, object, object]]:
        """The stream's print files so far: (file seq, pieces, SUM(documents), SUM(sheets))."""
        return [(seq, count, docs, sheets) for seq, (count, docs, sheets) in sorted(self.sums.items())]

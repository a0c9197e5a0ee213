"""Render stage (AFP format layer): MO:DCA / PTOCA / IOCA / BCOCA writer and reader.

Knows AFP bytes only, never pages. Used by :mod:`ccm_batch.render.afp` (writing) and by
:mod:`ccm_batch.afp.inspect` (``ccm-batch inspect FILE.afp``: listing, page text, checks).

Modules: :mod:`.fields` (structured fields, triplets, form maps), :mod:`.ptoca` (code pages, text
control sequences, PTX packing), :mod:`.ioca` (images), :mod:`.bcoca` (bar codes), :mod:`.reader`
(tolerant structured-field reader), :mod:`.inspect` (list_fields, page_texts, check).
"""

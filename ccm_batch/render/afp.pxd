# Compiled core (ccm_batch/_compiled.py): the C declarations Cython reads beside afp.py. _Body, which
# builds each page's objects, becomes an extension type (its fields are C struct members, its
# per-item methods called directly from C). The pure-Python build never reads this file: afp.py stays
# the one source.
cimport cython
from ccm_batch.afp.ptoca cimport PtxPacker


@cython.final
cdef class _Body:
    cdef public object r
    cdef public dict lids
    cdef public list groups
    cdef public list mdr_groups
    cdef public list out
    cdef public PtxPacker packer
    cdef public object lid
    cdef public object y
    cdef public object color
    cdef public object svi
    cdef public dict runs
    cdef public dict kerned
    cdef public dict embedded
    cdef public frozenset unicode_fonts
    cpdef close_text(self)
    cpdef items(self, items)
    cpdef text(self, t)
    cpdef _controls(self, t, lid, space)
    cpdef _unicode_run(self, t, lid, space)
    cpdef rect(self, x, y, w, h, rgb)
    cpdef rule(self, r)
    cpdef box(self, b)

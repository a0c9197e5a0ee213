# Compiled core (ccm_batch/_compiled.py): the C declarations Cython reads beside ptoca.py. PtxPacker
# becomes an extension type (its fields are C struct members, its methods called directly from C).
# The pure-Python build never reads this file: ptoca.py stays the one source.
cimport cython


@cython.final
cdef class PtxPacker:
    cdef public list _parts
    cdef public list fields
    cdef public Py_ssize_t _size
    cdef public Py_ssize_t _limit
    cpdef add(self, blob)
    cpdef flush(self)
    cpdef take(self)

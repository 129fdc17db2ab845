# distutils: sources = csrc/nnp/nnp.c
# distutils: include_dirs = csrc/nnp
# cython: boundscheck=False, wraparound=False
"""Python face of the C NNP core (csrc/nnp/): load a model text, evaluate energies/forces/virial."""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int64_t


cdef extern from "nnp.h":
    ctypedef struct nnp_model:
        pass
    nnp_model *nnp_model_parse(const char *text)
    void nnp_model_free(nnp_model *model)
    const char *nnp_last_error()
    int nnp_num_elements(const nnp_model *model)
    const char *nnp_element_symbol(const nnp_model *model, int t)
    double nnp_cutoff(const nnp_model *model)
    int nnp_num_descriptors(const nnp_model *model)
    int nnp_compute_peratom(const nnp_model *model, int nlocal, int ntotal, const int *type, const int64_t *offsets,
                            const int *neigh, const double *vec, double *energy_atom, double *force, double *virial,
                            double *virial_atom) nogil
    int nnp_descriptors(const nnp_model *model, int nlocal, int ntotal, const int *type, const int64_t *offsets,
                        const int *neigh, const double *vec, double *G, double *dG) nogil


class NNPCoreError(ValueError):
    """The C core refused a model text or an input (the message is the core's)."""


cdef class NNPCore:
    """A parsed model (text format version 1, see csrc/nnp/README.md)."""
    cdef nnp_model *model

    def __cinit__(self, str text):
        self.model = nnp_model_parse(text.encode())
        if self.model == NULL:
            raise NNPCoreError(nnp_last_error().decode())

    def __dealloc__(self):
        nnp_model_free(self.model)

    @property
    def cutoff(self):
        return nnp_cutoff(self.model)

    @property
    def n_descriptors(self):
        return nnp_num_descriptors(self.model)

    @property
    def elements(self):
        return [nnp_element_symbol(self.model, t).decode() for t in range(nnp_num_elements(self.model))]

    def compute(self, int nlocal, const int[::1] types, const int64_t[::1] offsets, const int[::1] neigh,
                const double[:, ::1] vec, double[::1] energies, double[:, ::1] forces, double[::1] virial,
                double[:, ::1] virial_atom=None):
        """Per-atom energies (overwritten), forces, virial and, when given, the per-atom virial
        (ntotal, 6) (all three accumulated): see nnp.h."""
        cdef int ntotal = forces.shape[0]
        cdef int rc
        cdef double *vatom = NULL
        self._check(nlocal, types, offsets, neigh, vec, ntotal)
        if energies.shape[0] < nlocal or virial.shape[0] != 6:
            raise NNPCoreError("energies needs nlocal entries and virial 6")
        if virial_atom is not None:
            if virial_atom.shape[0] != ntotal or virial_atom.shape[1] != 6:
                raise NNPCoreError(f"virial_atom must be ({ntotal}, 6), got ({virial_atom.shape[0]}, "
                                   f"{virial_atom.shape[1]})")
            if ntotal:
                vatom = &virial_atom[0, 0]
        with nogil:
            rc = nnp_compute_peratom(self.model, nlocal, ntotal, &types[0], &offsets[0],
                                     &neigh[0] if neigh.shape[0] else NULL, &vec[0, 0] if vec.shape[0] else NULL,
                                     &energies[0] if nlocal else NULL, &forces[0, 0] if ntotal else NULL,
                                     &virial[0], vatom)
        if rc != 0:
            raise NNPCoreError(nnp_last_error().decode())

    def descriptors(self, int nlocal, const int[::1] types, const int64_t[::1] offsets, const int[::1] neigh,
                    const double[:, ::1] vec, bint derivatives=True):
        """Scaled descriptors G (nlocal, nd) and dG/dvec (nnz, nd, 3) (None when derivatives=False)."""
        cdef int nd = nnp_num_descriptors(self.model)
        cdef int rc
        self._check(nlocal, types, offsets, neigh, vec, types.shape[0])
        G = np.zeros((nlocal, nd))
        dG = np.zeros((vec.shape[0], nd, 3)) if derivatives else None
        cdef double[:, ::1] Gv = G
        cdef double[:, :, ::1] dGv
        cdef double *dGp = NULL
        if derivatives and vec.shape[0]:
            dGv = dG
            dGp = &dGv[0, 0, 0]
        with nogil:
            rc = nnp_descriptors(self.model, nlocal, types.shape[0], &types[0], &offsets[0],
                                 &neigh[0] if neigh.shape[0] else NULL, &vec[0, 0] if vec.shape[0] else NULL,
                                 &Gv[0, 0] if nlocal else NULL, dGp)
        if rc != 0:
            raise NNPCoreError(nnp_last_error().decode())
        return G, dG

    @staticmethod
    def _check(int nlocal, const int[::1] types, const int64_t[::1] offsets, const int[::1] neigh,
               const double[:, ::1] vec, int ntotal):
        if offsets.shape[0] != nlocal + 1:
            raise NNPCoreError(f"offsets has {offsets.shape[0]} entries, expected nlocal + 1 = {nlocal + 1}")
        if types.shape[0] < ntotal or types.shape[0] < 1:
            raise NNPCoreError(f"types has {types.shape[0]} entries, expected {ntotal}")
        if neigh.shape[0] != offsets[nlocal] or vec.shape[0] != neigh.shape[0] or vec.shape[1] != 3:
            raise NNPCoreError("neigh and vec must have offsets[nlocal] entries (vec: 3 columns)")

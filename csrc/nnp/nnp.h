/* nnp.h — Behler–Parrinello neural-network potential: inference core of bda_hpc.
 *
 * Plain C99, no Python, no HDF5: the same core is called by the Cython wrapper
 * (csrc/nnp.pyx → bda_hpc._ext.nnp) and by the LAMMPS pair-style plugin.
 * The model text format it reads is documented in csrc/nnp/README.md and is
 * written by `bda-hpc mlff export` from the primary HDF5 model file.
 *
 * Units: Å and eV throughout (forces eV/Å, virial eV).
 *
 * Neighbour data (CSR, full list, "half" lists are NOT supported):
 *   atoms 0 .. nlocal-1 are the centres whose energies are computed;
 *   the atom array may be longer (ntotal >= nlocal: periodic images or LAMMPS
 *   ghosts); neighbour indices refer to that longer array.
 *   offsets[nlocal+1]  neighbours of centre i are entries offsets[i] .. offsets[i+1]-1
 *   neigh[nnz]         index (0 .. ntotal-1) of each neighbour
 *   vec[3*nnz]         r_neigh - r_centre (Å), minimum image / ghost position already applied
 *   type[ntotal]       element index of every atom, 0 .. nnp_num_elements()-1
 *                      (only type[0..nlocal-1] is read; the neighbours' types are read
 *                      through neigh[], so ghosts need a type too)
 * Neighbours beyond the model cutoff are ignored, so a list built with a skin is fine.
 * A centre may appear in its own list through a periodic image (small cells): that is
 * an ordinary entry with a non-zero vec.
 *
 * Outputs (any pointer may be NULL to skip it):
 *   energy_atom[nlocal]  per-atom energies (reference energy included), overwritten
 *   force[3*ntotal]      ACCUMULATED (+=): the force on neighbour j lands in slot j, ghost or
 *                        not, so LAMMPS reverse communication sums ghost forces;
 *                        the caller zeroes it first when it wants plain forces
 *   virial[6]            ACCUMULATED (+=), order xx yy zz xy xz yz,
 *                        W_ab = -sum over pairs vec_a * dE/dvec_b  (eV; LAMMPS sign:
 *                        pressure = (N k T + trace W / 3) / V; ASE stress = -W / V)
 * Return value: 0 on success, otherwise an NNP_ERR_* code; nnp_last_error() has the text.
 */
#ifndef BDA_HPC_NNP_H
#define BDA_HPC_NNP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNP_FORMAT_NAME "bda_hpc_nnp"
#define NNP_FORMAT_VERSION 1

enum {
    NNP_OK = 0,
    NNP_ERR_IO = 1,       /* file cannot be read */
    NNP_ERR_FORMAT = 2,   /* malformed text, wrong header or unsupported version */
    NNP_ERR_TYPE = 3,     /* an atom type outside 0 .. nelements-1 */
    NNP_ERR_MEMORY = 4,
    NNP_ERR_ARGUMENT = 5  /* inconsistent neighbour arrays (index out of range, ...) */
};

typedef struct nnp_model nnp_model;

/* Load a model from the text export (path) or from the same text in memory.
 * Return NULL on failure; the reason is in nnp_last_error(). */
nnp_model *nnp_model_load(const char *path);
nnp_model *nnp_model_parse(const char *text);
void nnp_model_free(nnp_model *model);

/* The message of the last failure in this thread ("" when none). */
const char *nnp_last_error(void);

int nnp_num_elements(const nnp_model *model);
/* Chemical symbol of element index t ("Li"), or NULL when t is out of range. */
const char *nnp_element_symbol(const nnp_model *model, int t);
double nnp_cutoff(const nnp_model *model);
int nnp_num_descriptors(const nnp_model *model);

/* Energies, forces and virial (see the header comment for the conventions). */
int nnp_compute(const nnp_model *model, int nlocal, int ntotal, const int *type,
                const int64_t *offsets, const int *neigh, const double *vec,
                double *energy_atom, double *force, double *virial);

/* nnp_compute plus the per-atom virial (its other results are the very same numbers):
 *   virial_atom[6*ntotal]  ACCUMULATED (+=), order xx yy zz xy xz yz (eV). Each pair term
 *                          -vec_a dE_i/dvec_b of centre i and neighbour j, symmetrized in (a, b) so
 *                          that it rotates as a tensor, goes half to i and half to j (LAMMPS's
 *                          ev_tally_xyz split), so ghost slots get shares that LAMMPS
 *                          reverse-communicates; the sum over atoms is the global virial. */
int nnp_compute_peratom(const nnp_model *model, int nlocal, int ntotal, const int *type,
                        const int64_t *offsets, const int *neigh, const double *vec,
                        double *energy_atom, double *force, double *virial, double *virial_atom);

/* Scaled descriptors and their derivatives, for training and tests.
 *   G[nlocal * nd]        (G_raw - shift) / scale of every centre (nd = nnp_num_descriptors)
 *   dG[nnz * nd * 3]      dG_i[a] / d vec_p[x] for every neighbour entry p of centre i,
 *                         layout [p][a][x]; the derivative with respect to the centre
 *                         itself is minus the sum over its entries. May be NULL.
 */
int nnp_descriptors(const nnp_model *model, int nlocal, int ntotal, const int *type,
                    const int64_t *offsets, const int *neigh, const double *vec,
                    double *G, double *dG);

#ifdef __cplusplus
}
#endif
#endif

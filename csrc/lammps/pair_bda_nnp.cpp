/* pair_style bda/nnp: see pair_bda_nnp.h. */
#include "pair_bda_nnp.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"

#include <cstring>

using namespace LAMMPS_NS;

PairBdaNNP::PairBdaNNP(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;    // the core returns the virial itself
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairBdaNNP::~PairBdaNNP()
{
  nnp_model_free(model);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairBdaNNP::allocate()
{
  allocated = 1;
  int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

void PairBdaNNP::settings(int narg, char ** /*arg*/)
{
  if (narg != 0) error->all(FLERR, "pair_style bda/nnp takes no arguments (the model is given in pair_coeff)");
}

void PairBdaNNP::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff * * MODEL.nnp EL1 ... ELn for bda/nnp needs one element per atom type "
               "({} types, got {} elements)", ntypes, narg - 3);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for bda/nnp must be 'pair_coeff * * MODEL.nnp EL1 ... ELn'");

  nnp_model_free(model);
  model_path = arg[2];
  model = nnp_model_load(arg[2]);
  if (!model) error->all(FLERR, "pair_coeff bda/nnp: cannot use model file {}: {}", model_path, nnp_last_error());

  int nel = nnp_num_elements(model);
  std::string known;
  for (int t = 0; t < nel; t++) known += std::string(t ? " " : "") + nnp_element_symbol(model, t);
  element_of_type.assign(ntypes + 1, -1);
  for (int itype = 1; itype <= ntypes; itype++) {
    const char *symbol = arg[2 + itype];
    for (int t = 0; t < nel; t++)
      if (strcmp(symbol, nnp_element_symbol(model, t)) == 0) element_of_type[itype] = t;
    if (element_of_type[itype] < 0)
      error->all(FLERR, "pair_coeff bda/nnp: element {} (atom type {}) is not in model file {} (elements: {})",
                 symbol, itype, model_path, known);
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

void PairBdaNNP::init_style()
{
  if (!model) error->all(FLERR, "pair_style bda/nnp: pair_coeff with a model file must come first");
  if (force->newton_pair == 0) error->all(FLERR, "pair_style bda/nnp requires newton pair on");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairBdaNNP::init_one(int, int)
{
  return nnp_cutoff(model);    // sets the neighbour cutoff and so the ghost-atom cutoff
}

void PairBdaNNP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (cvflag_atom)
    error->all(FLERR, "pair_style bda/nnp: the centroid per-atom virial (compute centroid/stress/atom) is not "
               "available; use compute stress/atom");

  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;
  if (list->inum != nlocal) error->one(FLERR, "pair_style bda/nnp: neighbour list does not cover all local atoms");

  // CSR full list indexed by local atom index (ilist may be in any order)
  offsets.assign(nlocal + 1, 0);
  for (int ii = 0; ii < list->inum; ii++) offsets[list->ilist[ii] + 1] = list->numneigh[list->ilist[ii]];
  for (int i = 0; i < nlocal; i++) offsets[i + 1] += offsets[i];
  const int64_t nnz = offsets[nlocal];
  neigh.resize(nnz);
  vec.resize(3 * nnz);
  for (int i = 0; i < nlocal; i++) {
    const int *jlist = list->firstneigh[i];
    int64_t p = offsets[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++, p++) {
      const int j = jlist[jj] & NEIGHMASK;
      neigh[p] = j;
      for (int d = 0; d < 3; d++) vec[3 * p + d] = x[j][d] - x[i][d];
    }
  }
  nnp_type.resize(nall > 0 ? nall : 1);
  for (int i = 0; i < nall; i++) nnp_type[i] = element_of_type[type[i]];
  energy_atom.assign(nlocal > 0 ? nlocal : 1, 0.0);

  double w[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  // per-atom virial: shares land in ghost slots too; compute stress/atom reverse-communicates them
  double *vatom_flat = (vflag_atom && nall) ? &vatom[0][0] : nullptr;
  int rc = nnp_compute_peratom(model, nlocal, nall, nnp_type.data(), offsets.data(), neigh.data(), vec.data(),
                               energy_atom.data(), nall ? &atom->f[0][0] : nullptr, w, vatom_flat);
  if (rc != NNP_OK) error->one(FLERR, "pair_style bda/nnp: {}", nnp_last_error());

  if (eflag_global)
    for (int i = 0; i < nlocal; i++) eng_vdwl += energy_atom[i];
  if (eflag_atom)
    for (int i = 0; i < nlocal; i++) eatom[i] += energy_atom[i];
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += w[k];
}

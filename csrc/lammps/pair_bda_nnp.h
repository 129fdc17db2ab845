/* pair_style bda/nnp — the bda_hpc Behler–Parrinello NNP (csrc/nnp/) as a LAMMPS pair style.
 *
 *   pair_style bda/nnp
 *   pair_coeff * * li.nnp Li [Li ...]     # model text export, then one element per LAMMPS type
 *
 * Full neighbour list with ghosts; newton_pair on (forces on ghosts are reverse-communicated).
 * Global energy, per-atom energy, global and per-atom virial (compute stress/atom: each pair
 * term is split half and half between centre and neighbour, as LAMMPS's ev_tally_xyz does).
 * The centroid per-atom virial is not available.
 */
#ifndef BDA_HPC_PAIR_BDA_NNP_H
#define BDA_HPC_PAIR_BDA_NNP_H

#include <cstdint>
#include <string>
#include <vector>

#include "pair.h"

extern "C" {
#include "nnp.h"
}

namespace LAMMPS_NS {

class PairBdaNNP : public Pair {
 public:
  PairBdaNNP(class LAMMPS *);
  ~PairBdaNNP() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 private:
  nnp_model *model = nullptr;
  std::string model_path;
  std::vector<int> element_of_type;    // LAMMPS type (1..ntypes) -> model element index
  // CSR neighbour data handed to nnp_compute, reused between steps
  std::vector<int64_t> offsets;
  std::vector<int> neigh, nnp_type;
  std::vector<double> vec, energy_atom;
  void allocate();
};

}    // namespace LAMMPS_NS

#endif

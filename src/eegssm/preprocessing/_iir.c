/* Zero-phase IIR filtering of many channels at once: scipy.signal.sosfiltfilt's algorithm, in C.
 *
 * A cascade of second-order sections (b0 b1 b2 1 a1 a2), each in transposed direct form II:
 *
 *     y_t = b0 x_t + z0          z0 <- b1 x_t + z1 - a1 y_t          z1 <- b2 x_t - a2 y_t
 *
 * run forward over the signal extended at both ends by `edge` samples of odd reflection
 * (2 x_0 - x_{edge..1}, ..., 2 x_{T-1} - x_{T-2..T-1-edge}), from the state that the cascade has
 * in steady state for a constant input equal to the first extended sample (zi * ext_0, where zi
 * is sosfilt_zi: the steady state for a unit step), then backward over the forward output from
 * the state zi * (its last sample), and cut back to the T samples of the signal. This is what
 * sosfiltfilt(sos, x, padtype="odd", padlen=edge) computes; the backward pass never needs the
 * forward outputs of the left extension (they are cut), so it stops at the signal's start.
 *
 * Arithmetic is in double; the forward output is kept in place in the float32 rows between the
 * passes (a relative rounding of 6e-8, the size of the float32 result's own). Python side, checks,
 * filter design and the tests against scipy: eegssm/preprocessing/filters.py.
 *
 * Speed: a filter is a chain in time, so up to `LANES` channels run side by side as vector lanes
 * (the channels shared evenly among the groups, each group in whole vectors of 4: plan)
 * (the compiler vectorises the loops over lanes); blocks of `BLOCK` steps are copied into a small
 * buffer (time-major, lanes inner) and run through one section after the other; groups of lanes
 * are shared among `threads` POSIX threads (the GIL released); on x86-64 with GCC the loops are
 * compiled for AVX-512, AVX2 and the baseline, chosen at load time (target_clones). Each lane's arithmetic is that of
 * the channel alone, so any grouping gives the same bits.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12 && \
    defined(__linux__)
#define EEGSSM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EEGSSM_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EEGSSM_INLINE static inline __attribute__((always_inline))
#else
#define EEGSSM_INLINE static inline
#endif

#define LANES 16
#define BLOCK 256
#define MAX_THREADS 64

typedef struct {
    float *x;            /* rows of T float32, `stride` floats apart */
    long long C, T, stride;
    const double *sos;   /* (S, 6) */
    const double *zi;    /* (S, 2): sosfilt_zi(sos) */
    int S;
    long long edge;
    /* Set by plan: channels per group (at most LANES) and the lanes that run them (per,
     * rounded up to whole vectors of 4): ceil(C / 16) groups, or one per thread where the
     * threads outnumber them, the channels shared evenly (18 channels on 2 threads: 2 groups
     * of 9 channels in 12 lanes, not 16 + 2 in 2 x 16). */
    int per, lanes;
    long long groups;
} Job;

/* Run `n` steps of buf (n x lanes, time-major) through the cascade from state z (S x 2 x lanes),
 * in place; z is left at the state after the last step. The lanes are held as NV vectors of VL
 * doubles in registers (GCC/Clang vector extensions; plain loops elsewhere). */
#if defined(__GNUC__) || defined(__clang__)
#define VL 4
typedef double vec __attribute__((vector_size(VL * sizeof(double))));
EEGSSM_INLINE void cascade_nv(const Job *j, double *buf, long long n, double *z, int NV) {
    const int lanes = NV * VL;
    for (int s = 0; s < j->S; s++) {
        const double *c = j->sos + 6 * s;
        const double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[4], a2 = c[5];
        vec z0[LANES / VL], z1[LANES / VL];
        memcpy(z0, z + (2 * s) * lanes, sizeof(vec) * NV);
        memcpy(z1, z + (2 * s + 1) * lanes, sizeof(vec) * NV);
        for (long long t = 0; t < n; t++) {
            for (int k = 0; k < NV; k++) {
                double *at = buf + t * lanes + k * VL;
                vec x;
                memcpy(&x, at, sizeof x);
                const vec y = b0 * x + z0[k];
                z0[k] = (b1 * x + z1[k]) - a1 * y;
                z1[k] = b2 * x - a2 * y;
                memcpy(at, &y, sizeof y);
            }
        }
        memcpy(z + (2 * s) * lanes, z0, sizeof(vec) * NV);
        memcpy(z + (2 * s + 1) * lanes, z1, sizeof(vec) * NV);
    }
}

/* The group's lane count as a constant (1-4 vectors): each case compiles its own loops. */
EEGSSM_CLONES static void cascade(const Job *j, double *buf, long long n, double *z) {
    switch (j->lanes / VL) {
    case 1: cascade_nv(j, buf, n, z, 1); break;
    case 2: cascade_nv(j, buf, n, z, 2); break;
    case 3: cascade_nv(j, buf, n, z, 3); break;
    default: cascade_nv(j, buf, n, z, 4); break;
    }
}
#else
static void cascade(const Job *j, double *buf, long long n, double *z) {
    const int lanes = j->lanes;
    for (int s = 0; s < j->S; s++) {
        const double *c = j->sos + 6 * s;
        const double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[4], a2 = c[5];
        double *z0 = z + (2 * s) * lanes, *z1 = z + (2 * s + 1) * lanes;
        for (long long t = 0; t < n; t++) {
            double *v = buf + t * lanes;
            for (int l = 0; l < lanes; l++) {
                const double x = v[l];
                const double y = b0 * x + z0[l];
                z0[l] = (b1 * x + z1[l]) - a1 * y;
                z1[l] = b2 * x - a2 * y;
                v[l] = y;
            }
        }
    }
}
#endif

/* The steady state zi * v (v per lane). */
EEGSSM_INLINE void start_state(const Job *j, const double *v, double *z) {
    const int W = j->lanes;
    for (int s = 0; s < j->S; s++)
        for (int k = 0; k < 2; k++)
            for (int l = 0; l < W; l++) z[(2 * s + k) * W + l] = j->zi[2 * s + k] * v[l];
}

/* Channels c0 .. c0+nl-1 (nl <= W = j->lanes; unused lanes carry zeros). `pad` holds
 * edge x W doubles, `buf` BLOCK x W, `z` S x 2 x W. */
EEGSSM_CLONES static void filter_group(const Job *j, long long c0, int nl, double *buf, double *pad, double *z) {
    const long long T = j->T, E = j->edge;
    const int W = j->lanes;
    float *row[LANES];
    for (int l = 0; l < W; l++) row[l] = j->x + (c0 + (l < nl ? l : 0)) * j->stride;
    double first[LANES], last[LANES];
    for (int l = 0; l < W; l++) {
        first[l] = l < nl ? (double)row[l][0] : 0.0;
        last[l] = l < nl ? (double)row[l][T - 1] : 0.0;
    }
    /* The right extension, from the signal before it is overwritten: 2 x_{T-1} - x_{T-2-i}. */
    for (long long i = 0; i < E; i++)
        for (int l = 0; l < W; l++)
            pad[i * W + l] = l < nl ? 2.0 * last[l] - (double)row[l][T - 2 - i] : 0.0;

    /* Forward: the left extension 2 x_0 - x_{E-i} (outputs not needed), then the signal in
     * blocks (outputs back into the rows), then the right extension (outputs kept in pad). */
    double v[LANES];
    for (int l = 0; l < W; l++) v[l] = l < nl ? 2.0 * first[l] - (double)row[l][E] : 0.0;
    start_state(j, v, z);
    for (long long i0 = 0; i0 < E; i0 += BLOCK) {
        const long long n = E - i0 < BLOCK ? E - i0 : BLOCK;
        for (long long i = 0; i < n; i++)
            for (int l = 0; l < W; l++)
                buf[i * W + l] = l < nl ? 2.0 * first[l] - (double)row[l][E - i0 - i] : 0.0;
        cascade(j, buf, n, z);
    }
    for (long long t0 = 0; t0 < T; t0 += BLOCK) {
        const long long n = T - t0 < BLOCK ? T - t0 : BLOCK;
        for (int l = 0; l < nl; l++)
            for (long long i = 0; i < n; i++) buf[i * W + l] = (double)row[l][t0 + i];
        for (int l = nl; l < W; l++)
            for (long long i = 0; i < n; i++) buf[i * W + l] = 0.0;
        cascade(j, buf, n, z);
        for (int l = 0; l < nl; l++)
            for (long long i = 0; i < n; i++) row[l][t0 + i] = (float)buf[i * W + l];
    }
    cascade(j, pad, E, z);

    /* Backward from the last forward output: the right extension (outputs cut), then the signal
     * from its end to its start (outputs into the rows). */
    for (int l = 0; l < W; l++) v[l] = pad[(E - 1) * W + l];
    start_state(j, v, z);
    for (long long i0 = 0; i0 < E; i0 += BLOCK) {
        const long long n = E - i0 < BLOCK ? E - i0 : BLOCK;
        for (long long i = 0; i < n; i++)
            for (int l = 0; l < W; l++) buf[i * W + l] = pad[(E - 1 - i0 - i) * W + l];
        cascade(j, buf, n, z);
    }
    for (long long t1 = T; t1 > 0; t1 -= BLOCK) {
        const long long n = t1 < BLOCK ? t1 : BLOCK; /* steps t1-1 down to t1-n */
        for (int l = 0; l < nl; l++)
            for (long long i = 0; i < n; i++) buf[i * W + l] = (double)row[l][t1 - 1 - i];
        for (int l = nl; l < W; l++)
            for (long long i = 0; i < n; i++) buf[i * W + l] = 0.0;
        cascade(j, buf, n, z);
        for (int l = 0; l < nl; l++)
            for (long long i = 0; i < n; i++) row[l][t1 - 1 - i] = (float)buf[i * W + l];
    }
}

typedef struct {
    const Job *j;
    long long first, last; /* groups of j->per channels */
    int failed;
} Share;

static void *run_share(void *arg) {
    Share *sh = (Share *)arg;
    const Job *j = sh->j;
    const long long E = j->edge > 0 ? j->edge : 1;
    const int W = j->lanes;
    double *work = (double *)malloc(sizeof(double) * W * (BLOCK + E + 2 * j->S));
    if (work == NULL) {
        sh->failed = 1;
        return NULL;
    }
    for (long long g = sh->first; g < sh->last; g++) {
        const long long c0 = g * j->per;
        const int nl = (int)(j->C - c0 < j->per ? j->C - c0 : j->per);
        filter_group(j, c0, nl, work, work + W * BLOCK, work + W * (BLOCK + E));
    }
    free(work);
    return NULL;
}

/* Groups, channels per group and lanes for C channels on `threads` threads (see Job). */
static void plan(Job *j, int threads) {
    long long groups = (j->C + LANES - 1) / LANES;
    const long long most = (j->C + 3) / 4; /* at least 4 channels a group */
    if (groups < threads) groups = threads < most ? threads : most;
    if (groups < 1) groups = 1;
    j->per = (int)((j->C + groups - 1) / groups);
    j->groups = (j->C + j->per - 1) / j->per;
    j->lanes = (j->per + 3) / 4 * 4;
}

/* All groups on up to `threads` threads (the calling one included); 0 on success, -1 when out
 * of memory. A thread that cannot be started leaves its share to the calling one. */
static int run(const Job *j, int threads) {
    const long long groups = j->groups;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > groups) threads = (int)groups;
    if (threads < 1) threads = 1;
    Share shares[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        shares[i].j = j;
        shares[i].first = groups * i / threads;
        shares[i].last = groups * (i + 1) / threads;
        shares[i].failed = 0;
        started[i] = i > 0 && pthread_create(&ids[i], NULL, run_share, &shares[i]) == 0;
    }
    for (int i = 0; i < threads; i++)
        if (!started[i]) run_share(&shares[i]);
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        if (started[i]) pthread_join(ids[i], NULL);
        failed |= shares[i].failed;
    }
    return failed ? -1 : 0;
}

static PyObject *py_filtfilt(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, psos, pzi;
    Job j;
    int threads;
    if (!PyArg_ParseTuple(args, "(KKK)(LLLiL)i", &px, &psos, &pzi, &j.C, &j.T, &j.stride, &j.S,
                          &j.edge, &threads))
        return NULL;
    if (j.C < 0 || j.S < 0 || j.edge < 1 || j.T <= j.edge || j.stride < j.T) {
        PyErr_SetString(PyExc_ValueError, "filtfilt: invalid sizes (need 1 <= edge < T)");
        return NULL;
    }
    j.x = (float *)(uintptr_t)px;
    j.sos = (const double *)(uintptr_t)psos;
    j.zi = (const double *)(uintptr_t)pzi;
    int rc = 0;
    if (j.C > 0 && j.S > 0) {
        plan(&j, threads);
        Py_BEGIN_ALLOW_THREADS rc = run(&j, threads);
        Py_END_ALLOW_THREADS
    }
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"filtfilt", py_filtfilt, METH_VARARGS,
     "filtfilt(pointers, sizes, threads): zero-phase SOS filtering of float32 rows in place "
     "(called by eegssm.preprocessing.filters, which checks every argument)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_iir", "Zero-phase SOS filtering in C (see "
    "eegssm.preprocessing.filters).", -1, methods,
};

PyMODINIT_FUNC PyInit__iir(void) { return PyModule_Create(&module); }

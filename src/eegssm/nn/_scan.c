/* The Mamba-2 selective state-space recurrence on a CPU, one time step after the other.
 *
 * Dao & Gu (2024), eq. (1) with a scalar decay per head (what the CUDA kernel
 * `selective_state_update` of mamba_ssm computes step by step). For sequence s, head h
 * (group g = h / (H / G)), step t:
 *
 *     state_t = exp(dt_t * A_h) * state_{t-1} + dt_t * x_t B_t^T     (P x N)
 *     y_t     = state_t C_t + D_h * x_t                               (P)
 *
 * Inference only (no gradient): the chunked form of eegssm.nn.ssd is faster to differentiate,
 * this loop is faster to run forward on a CPU (two multiply-adds per state element and step, no
 * decay matrices, no chunk states). Python side, shapes, checks and the tests against the
 * reference recurrence `ssd_naive`: eegssm/nn/cpu_scan.py.
 *
 * Layout: x (b, L, H, P), dt (b, L, H), B and C (b, L, G, N), each with its innermost dimensions
 * contiguous and any strides between sequences and steps (so x, B and C may be column slices of
 * one (b, L, H*P + 2*G*N) tensor); y (b, L, H, P) contiguous; state (b, H, P, N) contiguous,
 * read as the initial state and overwritten with the final one. float32 throughout.
 *
 * Speed: the state is kept as (N, P) rows so that the inner loop runs over P contiguous floats
 * (vectorised); common (P, N) sizes are compiled with constant loop bounds; on x86-64 with GCC
 * the loop is compiled for AVX-512, AVX2 + FMA and the baseline, chosen at load time
 * (target_clones); (sequence, head) pairs are shared among `threads` POSIX threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
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

typedef struct {
    const float *x, *dt, *A, *B, *C, *D; /* D may be NULL */
    float *state, *y;
    long long b, L, H, P, G, N;
    /* element strides: between sequences (s*) and between steps (t*) */
    long long sx, tx, sdt, tdt, sB, tB, sC, tC;
} Scan;

/* One (sequence, head) over all steps; `work` holds N * P floats. P and N are compile-time
 * constants where the dispatch below inlines this with literals. */
EEGSSM_INLINE void scan_head(const Scan *k, long long s, long long h, long long P, long long N,
                             float *restrict work) {
    const long long H = k->H, g = h / (H / k->G);
    const float a = k->A[h], d = k->D ? k->D[h] : 0.0f;
    float *restrict state = k->state + (s * H + h) * P * N; /* (P, N) */
    float *restrict S = work;                                /* (N, P) */
    for (long long p = 0; p < P; p++)
        for (long long n = 0; n < N; n++) S[n * P + p] = state[p * N + n];

    const float *x = k->x + s * k->sx + h * P;
    const float *dt = k->dt + s * k->sdt + h;
    const float *B = k->B + s * k->sB + g * N;
    const float *C = k->C + s * k->sC + g * N;
    float *y = k->y + (s * k->L * H + h) * P;
    for (long long t = 0; t < k->L; t++) {
        const float *restrict xt = x + t * k->tx;
        const float *restrict Bt = B + t * k->tB;
        const float *restrict Ct = C + t * k->tC;
        const float dtv = dt[t * k->tdt];
        const float decay = expf(dtv * a);
        float yt[P]; /* accumulated in registers where P is a constant */
        for (long long p = 0; p < P; p++) yt[p] = d * xt[p];
        for (long long n = 0; n < N; n++) {
            const float bn = dtv * Bt[n], cn = Ct[n];
            float *restrict Sn = S + n * P;
            for (long long p = 0; p < P; p++) {
                const float v = decay * Sn[p] + bn * xt[p];
                Sn[p] = v;
                yt[p] += cn * v;
            }
        }
        memcpy(y + t * H * P, yt, sizeof(float) * (size_t)P);
    }
    for (long long p = 0; p < P; p++)
        for (long long n = 0; n < N; n++) state[p * N + n] = S[n * P + p];
}

#define CONSTANT_SIZES(PP, NN)                                                          \
    if (P == PP && N == NN) {                                                           \
        for (long long u = first; u < last; u++) scan_head(k, u / H, u % H, PP, NN, work); \
        return;                                                                         \
    }

/* (sequence, head) pairs first .. last-1, pair u = s * H + h. */
EEGSSM_CLONES static void scan_pairs(const Scan *k, long long first, long long last,
                                     float *work) {
    const long long P = k->P, N = k->N, H = k->H;
    CONSTANT_SIZES(8, 8)
    CONSTANT_SIZES(16, 16)
    CONSTANT_SIZES(32, 16)
    CONSTANT_SIZES(32, 32)
    CONSTANT_SIZES(64, 16)
    CONSTANT_SIZES(64, 64)
    CONSTANT_SIZES(64, 128)
    for (long long u = first; u < last; u++) scan_head(k, u / H, u % H, P, N, work);
}

typedef struct {
    const Scan *k;
    long long first, last;
    int failed;
} Share;

static void *run_share(void *arg) {
    Share *sh = (Share *)arg;
    float *work = (float *)malloc(sizeof(float) * (size_t)(sh->k->P * sh->k->N));
    if (work == NULL) {
        sh->failed = 1;
        return NULL;
    }
    scan_pairs(sh->k, sh->first, sh->last, work);
    free(work);
    return NULL;
}

#define MAX_THREADS 64

/* All pairs on up to `threads` threads (the calling one included); 0 on success, -1 when out of
 * memory. A thread that cannot be started leaves its share to the calling thread. */
static int run(const Scan *k, int threads) {
    const long long pairs = k->b * k->H;
    if (threads > pairs) threads = (int)pairs;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    Share shares[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        shares[i].k = k;
        shares[i].first = pairs * i / threads;
        shares[i].last = pairs * (i + 1) / threads;
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

static PyObject *py_ssd_scan(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, pdt, pA, pB, pC, pD, pstate, py;
    Scan k;
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKKKKKK)(LLLLLL)(LLLLLLLL)i", &px, &pdt, &pA, &pB, &pC, &pD,
                          &pstate, &py, &k.b, &k.L, &k.H, &k.P, &k.G, &k.N, &k.sx, &k.tx,
                          &k.sdt, &k.tdt, &k.sB, &k.tB, &k.sC, &k.tC, &threads))
        return NULL;
    if (k.b < 0 || k.L < 0 || k.H < 1 || k.P < 1 || k.G < 1 || k.N < 1 || k.H % k.G) {
        PyErr_SetString(PyExc_ValueError, "ssd_scan: invalid sizes");
        return NULL;
    }
    k.x = (const float *)(uintptr_t)px;
    k.dt = (const float *)(uintptr_t)pdt;
    k.A = (const float *)(uintptr_t)pA;
    k.B = (const float *)(uintptr_t)pB;
    k.C = (const float *)(uintptr_t)pC;
    k.D = (const float *)(uintptr_t)pD;
    k.state = (float *)(uintptr_t)pstate;
    k.y = (float *)(uintptr_t)py;
    int rc = 0;
    if (k.b > 0) {
        Py_BEGIN_ALLOW_THREADS rc = run(&k, threads);
        Py_END_ALLOW_THREADS
    }
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ssd_scan", py_ssd_scan, METH_VARARGS,
     "ssd_scan(pointers, sizes, strides, threads): the recurrence over float32 buffers "
     "(called by eegssm.nn.cpu_scan, which checks every argument)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "The SSD recurrence in C (see eegssm.nn.cpu_scan).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }

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
 * The caller passes decay = exp(dt * A) (computed with PyTorch's vectorised exp) beside dt.
 * (mamba2_inner, at the end of this file, runs a whole layer between its projections: the conv
 * + SiLU and the gated norm below, and this recurrence, in one pass per sequence.)
 *
 * Layout: x (b, L, H, P), dt and decay (b, L, H) (same strides), B and C (b, L, G, N), each with
 * its innermost dimensions contiguous and any strides between sequences and steps (so x, B and C
 * may be column slices of one (b, L, H*P + 2*G*N) tensor); y (b, L, H, P) contiguous; state
 * (b, H, P, N) contiguous, read as the initial state and overwritten with the final one. float32
 * throughout.
 *
 * Speed: the state is kept as (N, P) rows so that the inner loop runs over P contiguous floats
 * (vectorised); where P and N are multiples of 8 (every preset), tiles of 8 x 8 state elements
 * stay in registers for 64 steps at a time (scan_heads_tiled; benchmarks/cpu_scan.py
 * --baseline compares builds: 1.1x for the node layers' 32 x 16 heads, 4x for the edge layers'
 * 8 x 8); common (P, N) sizes are compiled with constant loop bounds; on x86-64 with GCC
 * the loop is compiled for AVX-512, AVX2 + FMA and the baseline, chosen at load time
 * (target_clones); the sequences (all heads of one in one pass over time, or blocks of heads
 * when there are fewer sequences than threads) are shared among `threads` POSIX threads.
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
    const float *x, *dt, *decay, *B, *C, *D; /* decay = exp(dt * A), like dt; D may be NULL */
    float *state, *y;
    long long b, L, H, P, G, N;
    /* element strides: between sequences (s*) and between steps (t*) */
    long long sx, tx, sdt, tdt, sB, tB, sC, tC;
    long long hb, blocks; /* work units: sequences x `blocks` blocks of `hb` heads (set by run) */
} Scan;

/* Heads h0 .. h1-1 of sequence s over all steps, the heads side by side so that each step's
 * inputs are read once; `work` holds (h1 - h0) * N * P floats. P and N are compile-time constants
 * where the dispatch below inlines this with literals. */
EEGSSM_INLINE void scan_heads(const Scan *k, long long s, long long h0, long long h1, long long P,
                              long long N, float *restrict work) {
    const long long H = k->H, R = H / k->G;
    for (long long h = h0; h < h1; h++) {
        const float *state = k->state + (s * H + h) * P * N; /* (P, N) */
        float *S = work + (h - h0) * N * P;                  /* (N, P) */
        for (long long p = 0; p < P; p++)
            for (long long n = 0; n < N; n++) S[n * P + p] = state[p * N + n];
    }
    for (long long t = 0; t < k->L; t++) {
        const float *restrict xt = k->x + s * k->sx + t * k->tx;
        const float *restrict Bt = k->B + s * k->sB + t * k->tB;
        const float *restrict Ct = k->C + s * k->sC + t * k->tC;
        const float *dt = k->dt + s * k->sdt + t * k->tdt;
        const float *decay = k->decay + s * k->sdt + t * k->tdt;
        float *yt = k->y + (s * k->L + t) * H * P;
        for (long long h = h0; h < h1; h++) {
            const float *restrict xh = xt + h * P;
            const float *restrict Bh = Bt + (h / R) * N, *restrict Ch = Ct + (h / R) * N;
            const float dth = dt[h], dA = decay[h], d = k->D ? k->D[h] : 0.0f;
            float *restrict S = work + (h - h0) * N * P;
            float yh[P]; /* accumulated in registers where P is a constant */
            for (long long p = 0; p < P; p++) yh[p] = d * xh[p];
            for (long long n = 0; n < N; n++) {
                const float bn = dth * Bh[n], cn = Ch[n];
                float *restrict Sn = S + n * P;
                for (long long p = 0; p < P; p++) {
                    const float v = dA * Sn[p] + bn * xh[p];
                    Sn[p] = v;
                    yh[p] += cn * v;
                }
            }
            memcpy(yt + h * P, yh, sizeof(float) * (size_t)P);
        }
    }
    for (long long h = h0; h < h1; h++) {
        float *state = k->state + (s * H + h) * P * N;
        const float *S = work + (h - h0) * N * P;
        for (long long p = 0; p < P; p++)
            for (long long n = 0; n < N; n++) state[p * N + n] = S[n * P + p];
    }
}

#if defined(__GNUC__) || defined(__clang__)
/* The same recurrence with the state in registers: P and N multiples of 8.
 *
 * Every state element follows its own recurrence in time; only y_t = state_t C_t sums over N.
 * So the (N, P) state is cut into tiles of 8 n x 8 p (eight 8-float vectors, held in registers)
 * and each tile runs through TILE_STEPS steps before the next one: per step and tile, eight
 * multiplies and sixteen multiply-adds on registers, where the loop above loads and stores every
 * state element at every step. The steps of a time block (x, B, C rows: a few kB) stay in the L1
 * cache while its tiles go through them. y_t starts at D x_t and adds the tiles' terms in the
 * order n = 0 .. N-1, the order of the loop above. */
typedef float v8f __attribute__((vector_size(32)));

#define TILE_STEPS 64

/* Unaligned 8-float load into v (a macro: a function returning a vector would change the ABI
 * of the baseline build, GCC warns). */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))

EEGSSM_INLINE void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

EEGSSM_INLINE void scan_heads_tiled(const Scan *k, long long s, long long h0, long long h1,
                                    long long P, long long N, float *restrict work) {
    const long long H = k->H, R = H / k->G, L = k->L;
    const long long tx = k->tx, tB = k->tB, tC = k->tC, tdt = k->tdt; /* in registers */
    for (long long h = h0; h < h1; h++) {
        const float *state = k->state + (s * H + h) * P * N; /* (P, N) */
        float *S = work + (h - h0) * N * P;                  /* (N, P) */
        for (long long p = 0; p < P; p++)
            for (long long n = 0; n < N; n++) S[n * P + p] = state[p * N + n];
    }
    for (long long t0 = 0; t0 < L; t0 += TILE_STEPS) {
        const long long t1 = t0 + TILE_STEPS < L ? t0 + TILE_STEPS : L;
        for (long long h = h0; h < h1; h++) {
            const float d = k->D ? k->D[h] : 0.0f;
            float *S = work + (h - h0) * N * P;
            for (long long p0 = 0; p0 < P; p0 += 8) {
                for (long long n0 = 0; n0 < N; n0 += 8) {
                    v8f st[8];
                    for (int j = 0; j < 8; j++) LOAD8(st[j], S + (n0 + j) * P + p0);
                    const float *xt = k->x + s * k->sx + t0 * tx + h * P + p0;
                    const float *Bt = k->B + s * k->sB + t0 * tB + (h / R) * N + n0;
                    const float *Ct = k->C + s * k->sC + t0 * tC + (h / R) * N + n0;
                    const float *dtt = k->dt + s * k->sdt + t0 * tdt + h;
                    const float *dAt = k->decay + s * k->sdt + t0 * tdt + h;
                    float *yt = k->y + (s * L + t0) * H * P + h * P + p0;
                    for (long long t = t0; t < t1; t++) {
                        v8f xv, acc;
                        LOAD8(xv, xt);
                        const v8f xdt = *dtt * xv;
                        const float dA = *dAt;
                        if (n0 == 0)
                            acc = d * xv;
                        else
                            LOAD8(acc, yt);
#pragma GCC unroll 8
                        for (int j = 0; j < 8; j++) {
                            st[j] = dA * st[j] + Bt[j] * xdt;
                            acc += Ct[j] * st[j];
                        }
                        store8(yt, acc);
                        xt += tx, Bt += tB, Ct += tC, dtt += tdt, dAt += tdt, yt += H * P;
                    }
                    for (int j = 0; j < 8; j++) store8(S + (n0 + j) * P + p0, st[j]);
                }
            }
        }
    }
    for (long long h = h0; h < h1; h++) {
        float *state = k->state + (s * H + h) * P * N;
        const float *S = work + (h - h0) * N * P;
        for (long long p = 0; p < P; p++)
            for (long long n = 0; n < N; n++) state[p * N + n] = S[n * P + p];
    }
}
#define TILED(P, N) ((P) % 8 == 0 && (N) % 8 == 0)
#else
#define scan_heads_tiled scan_heads
#define TILED(P, N) 0
#endif

/* Work unit u: sequence u / blocks, heads of block u % blocks (hb heads per block). */
#define UNITS(PP, NN)                                                                    \
    for (long long u = first; u < last; u++) {                                           \
        const long long s = u / k->blocks, h0 = (u % k->blocks) * k->hb;                 \
        const long long h1 = h0 + k->hb < k->H ? h0 + k->hb : k->H;                      \
        if (TILED(PP, NN))                                                               \
            scan_heads_tiled(k, s, h0, h1, PP, NN, work);                                \
        else                                                                             \
            scan_heads(k, s, h0, h1, PP, NN, work);                                      \
    }

#define CONSTANT_SIZES(PP, NN)  \
    if (P == PP && N == NN) {   \
        UNITS(PP, NN)           \
        return;                 \
    }

/* Work units first .. last-1. */
EEGSSM_CLONES static void scan_units(const Scan *k, long long first, long long last,
                                     float *work) {
    const long long P = k->P, N = k->N;
    CONSTANT_SIZES(8, 8)
    CONSTANT_SIZES(16, 16)
    CONSTANT_SIZES(32, 16)
    CONSTANT_SIZES(32, 32)
    CONSTANT_SIZES(64, 16)
    CONSTANT_SIZES(64, 64)
    CONSTANT_SIZES(64, 128)
    UNITS(P, N)
}

typedef struct {
    const Scan *k;
    long long first, last;
    int failed;
} Share;

static void *run_share(void *arg) {
    Share *sh = (Share *)arg;
    float *work = (float *)malloc(sizeof(float) * (size_t)(sh->k->hb * sh->k->P * sh->k->N));
    if (work == NULL) {
        sh->failed = 1;
        return NULL;
    }
    scan_units(sh->k, sh->first, sh->last, work);
    free(work);
    return NULL;
}

#define MAX_THREADS 64
/* Rows of the gated norm below which one more thread is not worth starting. */
#define NORM_ROWS_PER_THREAD 256

/* All sequences on up to `threads` threads (the calling one included), each sequence's heads
 * in one unit, or split into blocks when there are fewer sequences than threads; 0 on success,
 * -1 when out of memory. A thread that cannot be started leaves its share to the calling one. */
static int run(Scan *k, int threads) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    long long per_seq = (threads + k->b - 1) / k->b; /* blocks wanted per sequence */
    if (per_seq > k->H) per_seq = k->H;
    k->hb = (k->H + per_seq - 1) / per_seq;
    k->blocks = (k->H + k->hb - 1) / k->hb;
    const long long units = k->b * k->blocks;
    if (threads > units) threads = (int)units;
    Share shares[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        shares[i].k = k;
        shares[i].first = units * i / threads;
        shares[i].last = units * (i + 1) / threads;
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
    unsigned long long px, pdt, pdecay, pB, pC, pD, pstate, py;
    Scan k;
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKKKKKK)(LLLLLL)(LLLLLLLL)i", &px, &pdt, &pdecay, &pB, &pC, &pD,
                          &pstate, &py, &k.b, &k.L, &k.H, &k.P, &k.G, &k.N, &k.sx, &k.tx,
                          &k.sdt, &k.tdt, &k.sB, &k.tB, &k.sC, &k.tC, &threads))
        return NULL;
    if (k.b < 0 || k.L < 0 || k.H < 1 || k.P < 1 || k.G < 1 || k.N < 1 || k.H % k.G) {
        PyErr_SetString(PyExc_ValueError, "ssd_scan: invalid sizes");
        return NULL;
    }
    k.x = (const float *)(uintptr_t)px;
    k.dt = (const float *)(uintptr_t)pdt;
    k.decay = (const float *)(uintptr_t)pdecay;
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

/* ------------------------------------------------------------------------------------------
 * Causal depthwise convolution + SiLU (the layer's conv1d before the recurrence), inference:
 *
 *     out[b, t, c] = silu(bias[c] + sum_{i<k} w[i, c] * in[b, t-k+1+i, c])
 *
 * where in[b, s < 0, :] is the tail (the last k-1 inputs before the piece). x (b, L, D) with D
 * contiguous and any strides before (a column slice of the projection is read in place); tail
 * (b, k-1, D) contiguous (zeros when absent); w (k, D); out (b, L, D) contiguous. The sum runs
 * in the order of the PyTorch path (bias + newest tap first, then older ones), silu(v) =
 * v / (1 + exp(-v)) with exp_approx (Cephes' expf: a degree-6 polynomial on [-ln2/2, ln2/2]
 * times a power of two, within 2 ulp; vectorisable). One pass over the input instead of one per
 * tap, and no separate SiLU pass. */

EEGSSM_INLINE float exp_approx(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding and subtracting it rounds to int */
    const float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

EEGSSM_INLINE float silu_approx(float v) { return v / (1.0f + exp_approx(-v)); }

/* Work units [0, units) shared among up to `threads` POSIX threads, the calling one included, in
 * contiguous ranges: fn(ctx, first, last). A thread that cannot be started leaves its range to
 * the calling one. */
typedef void (*UnitsFn)(const void *ctx, long long first, long long last);

typedef struct {
    UnitsFn fn;
    const void *ctx;
    long long first, last;
} UnitShare;

static void *unit_share(void *arg) {
    UnitShare *sh = (UnitShare *)arg;
    sh->fn(sh->ctx, sh->first, sh->last);
    return NULL;
}

static void run_units(UnitsFn fn, const void *ctx, long long units, int threads) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > units) threads = (int)units;
    if (threads < 1) threads = 1;
    UnitShare shares[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        shares[i] = (UnitShare){fn, ctx, units * i / threads, units * (i + 1) / threads};
        started[i] = i > 0 && pthread_create(&ids[i], NULL, unit_share, &shares[i]) == 0;
    }
    for (int i = 0; i < threads; i++)
        if (!started[i]) unit_share(&shares[i]);
    for (int i = 0; i < threads; i++)
        if (started[i]) pthread_join(ids[i], NULL);
}

typedef struct {
    const float *x, *tail, *w, *bias; /* bias may be NULL, tail may be NULL (zeros) */
    float *out;
    long long b, L, D, k, sx, tx; /* x strides (elements) between sequences and steps */
    long long tb, blocks;         /* work units: b sequences x `blocks` blocks of tb steps */
} Conv;

/* Row t of the causal depthwise conv + SiLU of one sequence: x its step 0 (steps tx elements
 * apart), tail its k-1 inputs before step 0 as (k-1, D) rows (NULL: zeros), w (k, D), bias (D)
 * or NULL; o (D). The sum runs bias + newest tap first, then the older taps in turn. */
EEGSSM_INLINE void conv_silu_row(float *restrict o, const float *x, long long tx,
                                 const float *tail, long long t, const float *w,
                                 const float *bias, long long D, long long k) {
    const float *newest = x + t * tx, *wk = w + (k - 1) * D;
    if (bias)
        for (long long c = 0; c < D; c++) o[c] = bias[c] + newest[c] * wk[c];
    else
        for (long long c = 0; c < D; c++) o[c] = newest[c] * wk[c];
    for (long long back = 1; back < k; back++) { /* tap k-1-back reads t-back */
        const float *wi = w + (k - 1 - back) * D;
        const float *in;
        if (t - back >= 0)
            in = x + (t - back) * tx;
        else if (tail)
            in = tail + (k - 1 + t - back) * D;
        else
            continue;
        for (long long c = 0; c < D; c++) o[c] = o[c] + in[c] * wi[c];
    }
    for (long long c = 0; c < D; c++) o[c] = silu_approx(o[c]);
}

/* Output rows of work units first .. last-1; D and k are compile-time constants where the
 * dispatch below inlines this with literals (then each row's loops are unrolled and vectorised
 * without the set-up that a short loop of unknown length pays on every row). */
EEGSSM_INLINE void conv_rows(const Conv *cv, long long first, long long last, long long D,
                             long long k) {
    for (long long u = first; u < last; u++) {
        const long long s = u / cv->blocks, t0 = (u % cv->blocks) * cv->tb;
        const long long t1 = t0 + cv->tb < cv->L ? t0 + cv->tb : cv->L;
        const float *tail = cv->tail ? cv->tail + s * (k - 1) * D : NULL;
        for (long long t = t0; t < t1; t++)
            conv_silu_row(cv->out + (s * cv->L + t) * D, cv->x + s * cv->sx, cv->tx, tail, t,
                          cv->w, cv->bias, D, k);
    }
}

#define CONV_SIZES(DD, KK)                      \
    if (D == DD && k == KK) {                   \
        conv_rows(cv, first, last, DD, KK);     \
        return;                                 \
    }

EEGSSM_CLONES static void conv_units(const Conv *cv, long long first, long long last) {
    const long long D = cv->D, k = cv->k;
    CONV_SIZES(32, 4)  /* the bundled model's edge layers: d_inner 16 + 2 * d_state 8 */
    CONV_SIZES(48, 4)  /* bgb-v4's edge layers */
    CONV_SIZES(96, 4)  /* the bundled model's node layers: 64 + 2 * 16 */
    CONV_SIZES(160, 4) /* bgb-v4's node layers */
    conv_rows(cv, first, last, D, k);
}

static void conv_any(const void *cv, long long first, long long last) {
    conv_units((const Conv *)cv, first, last);
}

static void conv_run(Conv *cv, int threads) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    long long per_seq = (threads + cv->b - 1) / cv->b; /* time blocks wanted per sequence */
    if (per_seq > cv->L) per_seq = cv->L;
    if (per_seq < 1) per_seq = 1;
    cv->tb = (cv->L + per_seq - 1) / per_seq;
    cv->blocks = (cv->L + cv->tb - 1) / cv->tb;
    run_units(conv_any, cv, cv->b * cv->blocks, threads);
}

static PyObject *py_conv_silu(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, ptail, pw, pbias, pout;
    Conv cv;
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKKK)(LLLLLL)i", &px, &ptail, &pw, &pbias, &pout, &cv.b,
                          &cv.L, &cv.D, &cv.k, &cv.sx, &cv.tx, &threads))
        return NULL;
    if (cv.b < 0 || cv.L < 0 || cv.D < 1 || cv.k < 1) {
        PyErr_SetString(PyExc_ValueError, "conv_silu: invalid sizes");
        return NULL;
    }
    cv.x = (const float *)(uintptr_t)px;
    cv.tail = (const float *)(uintptr_t)ptail;
    cv.w = (const float *)(uintptr_t)pw;
    cv.bias = (const float *)(uintptr_t)pbias;
    cv.out = (float *)(uintptr_t)pout;
    if (cv.b > 0 && cv.L > 0) {
        Py_BEGIN_ALLOW_THREADS conv_run(&cv, threads);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------
 * Gated RMSNorm (the layer's output norm), inference, one pass per row: for each row r and
 * group g of gs channels (x, z (rows, G*gs), innermost contiguous, any row strides; w (G*gs);
 * out (rows, G*gs) contiguous):
 *
 *     before = 0 (Mamba-2):       v = x * silu(z);  out = v * rstd(v) * w
 *     before = 1 (Gated DeltaNet): out = x * rstd(x) * w * silu(z)
 *
 * with rstd(u) = 1 / sqrt(mean(u^2) + eps) over the group, silu(z) = z / (1 + exp_approx(-z)).
 * The sum of squares runs in 8 interleaved partial sums (vectorisable without reassociating:
 * the same order on every instruction set), added pairwise at the end. */

typedef struct {
    const float *x, *z, *w;
    float *out;
    long long rows, G, gs, sx, sz; /* sx, sz: element strides between rows */
    float eps;
    int before;
} Norm;

EEGSSM_INLINE float mean_square(const float *restrict u, long long n) {
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    long long i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += u[i + j] * u[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += u[i] * u[i];
    const float ss = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    return ss / (float)n;
}

EEGSSM_CLONES static void norm_rows(const Norm *k, long long first, long long last) {
    const long long gs = k->gs, d = k->G * gs;
    for (long long r = first; r < last; r++) {
        const float *restrict x = k->x + r * k->sx, *restrict z = k->z + r * k->sz;
        float *restrict o = k->out + r * d;
        for (long long g = 0; g < k->G; g++) {
            const float *restrict xg = x + g * gs, *restrict zg = z + g * gs;
            const float *restrict wg = k->w + g * gs;
            float *restrict og = o + g * gs;
            if (!k->before) {
                for (long long i = 0; i < gs; i++)
                    og[i] = xg[i] * silu_approx(zg[i]);
                const float rstd = 1.0f / sqrtf(mean_square(og, gs) + k->eps);
                for (long long i = 0; i < gs; i++) og[i] = og[i] * rstd * wg[i];
            } else {
                const float rstd = 1.0f / sqrtf(mean_square(xg, gs) + k->eps);
                for (long long i = 0; i < gs; i++) og[i] = xg[i] * rstd * wg[i] * silu_approx(zg[i]);
            }
        }
    }
}

static void norm_any(const void *k, long long first, long long last) {
    norm_rows((const Norm *)k, first, last);
}

static void norm_run(const Norm *k, int threads) {
    /* few rows: a thread costs more than it saves */
    const long long most = k->rows / NORM_ROWS_PER_THREAD;
    if (threads > most) threads = most > 0 ? (int)most : 1;
    run_units(norm_any, k, k->rows, threads);
}

static PyObject *py_gated_rmsnorm(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, pz, pw, pout;
    Norm k;
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKK)(LLLLL)fpi", &px, &pz, &pw, &pout, &k.rows, &k.G, &k.gs,
                          &k.sx, &k.sz, &k.eps, &k.before, &threads))
        return NULL;
    if (k.rows < 0 || k.G < 1 || k.gs < 1) {
        PyErr_SetString(PyExc_ValueError, "gated_rmsnorm: invalid sizes");
        return NULL;
    }
    k.x = (const float *)(uintptr_t)px;
    k.z = (const float *)(uintptr_t)pz;
    k.w = (const float *)(uintptr_t)pw;
    k.out = (float *)(uintptr_t)pout;
    if (k.rows > 0) {
        Py_BEGIN_ALLOW_THREADS norm_run(&k, threads);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------
 * A Mamba-2 layer between its two projections, inference, one pass per sequence: for each
 * sequence s, block of LAYER_STEPS steps after block (the block's intermediates stay in the
 * core's caches, none is written to memory):
 *
 *     xBC   = silu(causal depthwise conv(xBC)), the tail's k-1 inputs before step 0
 *     dt    = softplus(dt + dt_bias),  decay = exp(dt * A),  A = -exp(A_log)
 *     y     = the recurrence (scan_units, state carried from block to block), + D x
 *     out   = gated RMSNorm(y, z)  (norm_before_gate = 0: norm(y * silu(z)) * w, per group)
 *
 * z (b, L, d_inner), xBC (b, L, Dc = d_inner + 2 G N), dt (b, L, H): innermost contiguous, any
 * strides between sequences and steps (column slices of one projection are read in place).
 * conv weight (Dc, k) (nn.Conv1d's (Dc, 1, k)), conv bias (Dc) or NULL; tail_in (b, Dc, k-1)
 * or NULL (zeros); tail_out (b, Dc, k-1) or NULL (not wanted); state_in (b, H, P, N) or NULL
 * (zeros); state_out (b, H, P, N); out (b, L, d_inner) contiguous; dt_bias, A_log, D (H); norm
 * weight (d_inner). The conv sums in the order of conv_rows (bias + newest tap, then older
 * ones); softplus is PyTorch's (threshold 20). Sequences are shared among `threads` threads. */

#define LAYER_STEPS 256

typedef struct {
    const float *z, *xbc, *dt, *conv_wT, *conv_b, *tail_in, *dt_bias, *A_log, *D, *norm_w;
    const float *state_in;
    float *tail_out, *state_out, *out;
    long long zs, zt, xs, xt, ds, dtt; /* element strides between sequences and steps */
    long long b, L, d_inner, Dc, k, H, P, G, N, gs;
    float eps;
    int failed; /* set when a thread's scratch could not be allocated */
} Layer;

EEGSSM_CLONES static void layer_units(Layer *ly, long long first, long long last) {
    const long long L = ly->L, di = ly->d_inner, Dc = ly->Dc, k = ly->k, H = ly->H;
    const long long PN = ly->P * ly->N, GN = ly->G * ly->N;
    const long long TB = L < LAYER_STEPS ? (L > 0 ? L : 1) : LAYER_STEPS;
    float *conv = (float *)malloc(sizeof(float) * (size_t)(TB * Dc));
    float *dt = (float *)malloc(sizeof(float) * (size_t)(TB * H));
    float *decay = (float *)malloc(sizeof(float) * (size_t)(TB * H));
    float *y = (float *)malloc(sizeof(float) * (size_t)(TB * di));
    float *work = (float *)malloc(sizeof(float) * (size_t)(H * PN));
    float *tcl = (float *)malloc(sizeof(float) * (size_t)(k * Dc));
    if (!conv || !dt || !decay || !y || !work || !tcl) {
        ly->failed = 1;
        goto done;
    }
    for (long long s = first; s < last; s++) {
        const float *xs = ly->xbc + s * ly->xs;
        const float *tin = ly->tail_in ? ly->tail_in + s * Dc * (k - 1) : NULL;
        for (long long c = 0; c < Dc; c++) /* the tail as (k-1, Dc) */
            for (long long j = 0; j < k - 1; j++) tcl[j * Dc + c] = tin ? tin[c * (k - 1) + j] : 0.0f;
        if (ly->tail_out) { /* the last k-1 inputs of tail-then-sequence */
            float *tout = ly->tail_out + s * Dc * (k - 1);
            for (long long c = 0; c < Dc; c++)
                for (long long j = 0; j < k - 1; j++) {
                    const long long q = L + j;
                    tout[c * (k - 1) + j] =
                        q < k - 1 ? tcl[q * Dc + c] : xs[(q - (k - 1)) * ly->xt + c];
                }
        }
        float *state = ly->state_out + s * H * PN;
        if (ly->state_in)
            memcpy(state, ly->state_in + s * H * PN, sizeof(float) * (size_t)(H * PN));
        else
            memset(state, 0, sizeof(float) * (size_t)(H * PN));
        for (long long t0 = 0; t0 < L; t0 += TB) {
            const long long tb = t0 + TB < L ? TB : L - t0;
            for (long long t = t0; t < t0 + tb; t++) {
                conv_silu_row(conv + (t - t0) * Dc, xs, ly->xt, tcl, t, ly->conv_wT, ly->conv_b,
                              Dc, k);
                const float *dr = ly->dt + s * ly->ds + t * ly->dtt;
                for (long long h = 0; h < H; h++) {
                    const float v = dr[h] + ly->dt_bias[h];
                    const float sp = v > 20.0f ? v : log1pf(expf(v));
                    dt[(t - t0) * H + h] = sp;
                    decay[(t - t0) * H + h] = expf(sp * -expf(ly->A_log[h]));
                }
            }
            Scan sc = {
                .x = conv, .dt = dt, .decay = decay, .B = conv + di, .C = conv + di + GN,
                .D = ly->D, .state = state, .y = y, .b = 1, .L = tb, .H = H, .P = ly->P,
                .G = ly->G, .N = ly->N, .sx = 0, .tx = Dc, .sdt = 0, .tdt = H, .sB = 0, .tB = Dc,
                .sC = 0, .tC = Dc, .hb = H, .blocks = 1,
            };
            scan_units(&sc, 0, 1, work);
            Norm nm = {
                .x = y, .z = ly->z + s * ly->zs + t0 * ly->zt, .w = ly->norm_w,
                .out = ly->out + (s * L + t0) * di, .rows = tb, .G = di / ly->gs, .gs = ly->gs,
                .sx = di, .sz = ly->zt, .eps = ly->eps, .before = 0,
            };
            norm_rows(&nm, 0, tb);
        }
    }
done:
    free(conv);
    free(dt);
    free(decay);
    free(y);
    free(work);
    free(tcl);
}

static void layer_any(const void *ly, long long first, long long last) {
    layer_units((Layer *)ly, first, last);
}

static PyObject *py_mamba2_inner(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long p[14];
    Layer ly = {0};
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKKKKKKKKKKKK)(LLLLLLLLLL)(LLLLLL)fi", &p[0], &p[1], &p[2],
                          &p[3], &p[4], &p[5], &p[6], &p[7], &p[8], &p[9], &p[10], &p[11], &p[12],
                          &p[13], &ly.b, &ly.L, &ly.d_inner, &ly.Dc, &ly.k, &ly.H, &ly.P, &ly.G,
                          &ly.N, &ly.gs, &ly.zs, &ly.zt, &ly.xs, &ly.xt, &ly.ds, &ly.dtt, &ly.eps,
                          &threads))
        return NULL;
    if (ly.b < 0 || ly.L < 0 || ly.k < 1 || ly.H < 1 || ly.P < 1 || ly.G < 1 || ly.N < 1 ||
        ly.H % ly.G || ly.H * ly.P != ly.d_inner || ly.Dc != ly.d_inner + 2 * ly.G * ly.N ||
        ly.gs < 1 || ly.d_inner % ly.gs) {
        PyErr_SetString(PyExc_ValueError, "mamba2_inner: invalid sizes");
        return NULL;
    }
    ly.z = (const float *)(uintptr_t)p[0];
    ly.xbc = (const float *)(uintptr_t)p[1];
    ly.dt = (const float *)(uintptr_t)p[2];
    const float *conv_w = (const float *)(uintptr_t)p[3];
    ly.conv_b = (const float *)(uintptr_t)p[4];
    ly.tail_in = (const float *)(uintptr_t)p[5];
    ly.dt_bias = (const float *)(uintptr_t)p[6];
    ly.A_log = (const float *)(uintptr_t)p[7];
    ly.D = (const float *)(uintptr_t)p[8];
    ly.norm_w = (const float *)(uintptr_t)p[9];
    ly.tail_out = (float *)(uintptr_t)p[10];
    ly.state_in = (const float *)(uintptr_t)p[11];
    ly.state_out = (float *)(uintptr_t)p[12];
    ly.out = (float *)(uintptr_t)p[13];
    float *wT = (float *)malloc(sizeof(float) * (size_t)(ly.k * ly.Dc));
    if (!wT) return PyErr_NoMemory();
    for (long long c = 0; c < ly.Dc; c++) /* the weight as (k, Dc): rows over channels */
        for (long long i = 0; i < ly.k; i++) wT[i * ly.Dc + c] = conv_w[c * ly.k + i];
    ly.conv_wT = wT;
    if (ly.b > 0) {
        Py_BEGIN_ALLOW_THREADS run_units(layer_any, &ly, ly.b, threads);
        Py_END_ALLOW_THREADS
    }
    free(wT);
    if (ly.failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------
 * Row-wise helpers of the PyTorch-free inference path (eegssm.engine), each a pass over
 * float32 rows shared among threads:
 *
 *     gelu:        out = x * Phi(x), Phi the standard normal CDF   (exact GELU, not tanh)
 *     layer_norm:  out = (x - mean) / sqrt(var + eps) * w + b  per row of d (biased variance)
 *
 * Phi(x) = erfc(-x / sqrt 2) / 2 with the Chebyshev fit of erfc in Numerical Recipes (erfcc:
 * relative error < 1.2e-7 everywhere, so also in the far negative tail, where 1 + erf(x)
 * would cancel) and exp_approx: vectorisable, no libm call. out may be x (in place). */

EEGSSM_INLINE float normal_cdf(float x) {
    const float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float half_erfc = 0.5f * t * exp_approx(p - z * z); /* Phi(-|x|) */
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

typedef struct {
    const float *x, *w, *b; /* w, b: NULL for none (layer_norm) */
    float *out;
    long long rows, d;
    float eps;
} Rows;

EEGSSM_CLONES static void gelu_units(const void *ctx, long long first, long long last) {
    const Rows *k = (const Rows *)ctx;
    const float *restrict x = k->x;
    float *restrict o = k->out;
    for (long long i = first * k->d; i < last * k->d; i++) {
        const float v = x[i];
        o[i] = v * normal_cdf(v);
    }
}

EEGSSM_CLONES static void layer_norm_units(const void *ctx, long long first, long long last) {
    const Rows *k = (const Rows *)ctx;
    const long long d = k->d;
    for (long long r = first; r < last; r++) {
        const float *restrict x = k->x + r * d;
        float *restrict o = k->out + r * d;
        float sum = 0.0f, sq = 0.0f;
        for (long long c = 0; c < d; c++) sum += x[c];
        const float mean = sum / (float)d;
        for (long long c = 0; c < d; c++) sq += (x[c] - mean) * (x[c] - mean);
        const float rstd = 1.0f / sqrtf(sq / (float)d + k->eps);
        if (k->w)
            for (long long c = 0; c < d; c++) o[c] = (x[c] - mean) * rstd * k->w[c] + k->b[c];
        else
            for (long long c = 0; c < d; c++) o[c] = (x[c] - mean) * rstd;
    }
}

/* gelu((x, out), (rows, d), threads) and layer_norm((x, w, b, out), (rows, d), eps, threads);
 * rows of d contiguous floats (for gelu the split into rows only sets the threads' shares). */
static PyObject *py_gelu(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, pout;
    Rows k = {0};
    int threads;
    if (!PyArg_ParseTuple(args, "(KK)(LL)i", &px, &pout, &k.rows, &k.d, &threads)) return NULL;
    if (k.rows < 0 || k.d < 1) {
        PyErr_SetString(PyExc_ValueError, "gelu: invalid sizes");
        return NULL;
    }
    k.x = (const float *)(uintptr_t)px;
    k.out = (float *)(uintptr_t)pout;
    if (k.rows > 0) {
        Py_BEGIN_ALLOW_THREADS run_units(gelu_units, &k, k.rows, threads);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *py_layer_norm(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, pw, pb, pout;
    Rows k = {0};
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKK)(LL)fi", &px, &pw, &pb, &pout, &k.rows, &k.d, &k.eps,
                          &threads))
        return NULL;
    if (k.rows < 0 || k.d < 1 || (pw == 0) != (pb == 0)) {
        PyErr_SetString(PyExc_ValueError, "layer_norm: invalid sizes");
        return NULL;
    }
    k.x = (const float *)(uintptr_t)px;
    k.w = (const float *)(uintptr_t)pw;
    k.b = (const float *)(uintptr_t)pb;
    k.out = (float *)(uintptr_t)pout;
    if (k.rows > 0) {
        Py_BEGIN_ALLOW_THREADS run_units(layer_norm_units, &k, k.rows, threads);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------
 * A convolution of channels-last rows with optional GELU (the front end's stem and TCN layers):
 *
 *     out[i, m, o] = act(b[o] + sum_{j<k} sum_{c<Ci} w[j * Ci + c, o] * x[i, stride * m + dil * j - left, c])
 *
 * with x = 0 outside its L rows (zero padding: `left` before, as many as needed after). x (n, L,
 * Ci) contiguous, w (k * Ci, Co) tap-major (eegssm.engine.conv_weight), b (Co) or NULL, out (n,
 * n_out, Co) contiguous. As a GEMM (K = k * Ci = 224, N = Co = 32 in the TCN) it is narrow and
 * needs a tap matrix copied out first; here a tile of CONVG_ROWS output rows x 16 channels is 12
 * sums in registers (two 8-float vectors per row), each (tap, channel) step two weight loads, six
 * broadcasts and twelve multiply-adds, and the tile's weights (k * Ci * 16 floats) stay in the L1
 * cache; rows left over go in tiles of one row. Rows that read padding go one at a time, in plain
 * loops. Every row sums from the bias, tap by tap, channel by channel: one order for all. */

typedef struct {
    const float *x, *w, *b;
    float *out;
    long long n, L, n_out, k, stride, dil, left, Ci, Co;
    int gelu;
} ConvG;

#define CONVG_ROWS 6
#define CONVG_ROWS_PER_THREAD 256

/* Output rows m0 .. m1-1 of sequence i, one after the other (any sizes, padding read as 0). */
static void convg_rows(const ConvG *cv, long long i, long long m0, long long m1) {
    const long long Ci = cv->Ci, Co = cv->Co;
    for (long long m = m0; m < m1; m++) {
        float *o = cv->out + (i * cv->n_out + m) * Co;
        for (long long c = 0; c < Co; c++) o[c] = cv->b ? cv->b[c] : 0.0f;
        for (long long j = 0; j < cv->k; j++) {
            const long long row = m * cv->stride + j * cv->dil - cv->left;
            if (row < 0 || row >= cv->L) continue;
            const float *xr = cv->x + (i * cv->L + row) * Ci;
            for (long long c = 0; c < Ci; c++)
                for (long long q = 0; q < Co; q++) o[q] += cv->w[(j * Ci + c) * Co + q] * xr[c];
        }
        if (cv->gelu)
            for (long long c = 0; c < Co; c++) o[c] = o[c] * normal_cdf(o[c]);
    }
}

#if defined(__GNUC__) || defined(__clang__)
/* R output rows (none reading padding; R = CONVG_ROWS, or 1 for rows left over, a constant
 * where this is inlined), channels o0 .. o0+15: row r reads x from xs[r] (its tap 0) and
 * writes os[r]. The rows may belong to different sequences (a streamed piece has a few rows
 * per sequence). */
EEGSSM_INLINE void convg_tile(const ConvG *cv, const float *const *xs, float *const *os,
                              long long o0, int R) {
    const long long Ci = cv->Ci, Co = cv->Co;
    v8f acc[CONVG_ROWS][2], b0 = {0}, b1 = {0};
    if (cv->b) {
        LOAD8(b0, cv->b + o0);
        LOAD8(b1, cv->b + o0 + 8);
    }
    for (int r = 0; r < R; r++) acc[r][0] = b0, acc[r][1] = b1;
    for (long long j = 0; j < cv->k; j++) {
        const long long off = j * cv->dil * Ci;
        const float *wj = cv->w + j * Ci * Co + o0;
        for (long long c = 0; c < Ci; c++) {
            v8f w0, w1;
            LOAD8(w0, wj + c * Co);
            LOAD8(w1, wj + c * Co + 8);
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                const float xv = xs[r][off + c];
                acc[r][0] += w0 * xv;
                acc[r][1] += w1 * xv;
            }
        }
    }
    for (int r = 0; r < R; r++) {
        float *o = os[r] + o0;
        store8(o, acc[r][0]);
        store8(o + 8, acc[r][1]);
        if (cv->gelu)
            for (int c = 0; c < 16; c++) o[c] = o[c] * normal_cdf(o[c]);
    }
}

/* Work units: output rows first .. last-1 of all sequences in order (row u is row u % n_out of
 * sequence u / n_out). Rows that read no padding gather into tiles, across sequences. */
EEGSSM_CLONES static void convg_units(const void *ctx, long long first, long long last) {
    const ConvG *cv = (const ConvG *)ctx;
    /* rows ma .. mb-1 of a sequence read no padding */
    const long long ma = (cv->left + cv->stride - 1) / cv->stride;
    const long long reach = cv->L - 1 + cv->left - cv->dil * (cv->k - 1);
    const long long mb = reach < 0 ? 0 : reach / cv->stride + 1;
    const float *xs[CONVG_ROWS];
    float *os[CONVG_ROWS];
    int R = 0;
    for (long long u = first; u < last; u++) {
        const long long i = u / cv->n_out, m = u % cv->n_out;
        if (cv->Co % 16 || m < ma || m >= mb) {
            convg_rows(cv, i, m, m + 1);
            continue;
        }
        xs[R] = cv->x + (i * cv->L + m * cv->stride - cv->left) * cv->Ci;
        os[R] = cv->out + u * cv->Co;
        if (++R == CONVG_ROWS) {
            for (long long o0 = 0; o0 < cv->Co; o0 += 16) convg_tile(cv, xs, os, o0, CONVG_ROWS);
            R = 0;
        }
    }
    for (int r = 0; r < R; r++) /* the rows left over */
        for (long long o0 = 0; o0 < cv->Co; o0 += 16) convg_tile(cv, xs + r, os + r, o0, 1);
}
#else
static void convg_units(const void *ctx, long long first, long long last) {
    const ConvG *cv = (const ConvG *)ctx;
    for (long long u = first; u < last; u++)
        convg_rows(cv, u / cv->n_out, u % cv->n_out, u % cv->n_out + 1);
}
#endif

/* conv_gelu((x, w, b, out), (n, L, n_out, k, stride, dil, left, Ci, Co), gelu, threads). */
static PyObject *py_conv_gelu(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, pw, pb, pout;
    ConvG cv = {0};
    int threads;
    if (!PyArg_ParseTuple(args, "(KKKK)(LLLLLLLLL)pi", &px, &pw, &pb, &pout, &cv.n, &cv.L,
                          &cv.n_out, &cv.k, &cv.stride, &cv.dil, &cv.left, &cv.Ci, &cv.Co,
                          &cv.gelu, &threads))
        return NULL;
    if (cv.n < 0 || cv.L < 0 || cv.n_out < 0 || cv.k < 1 || cv.stride < 1 || cv.dil < 1 ||
        cv.left < 0 || cv.Ci < 1 || cv.Co < 1) {
        PyErr_SetString(PyExc_ValueError, "conv_gelu: invalid sizes");
        return NULL;
    }
    cv.x = (const float *)(uintptr_t)px;
    cv.w = (const float *)(uintptr_t)pw;
    cv.b = (const float *)(uintptr_t)pb;
    cv.out = (float *)(uintptr_t)pout;
    if (cv.n > 0 && cv.n_out > 0) {
        /* few rows: a thread costs more than it saves */
        const long long most = cv.n * cv.n_out / CONVG_ROWS_PER_THREAD;
        if (threads > most) threads = most > 0 ? (int)most : 1;
        Py_BEGIN_ALLOW_THREADS run_units(convg_units, &cv, cv.n * cv.n_out, threads);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ssd_scan", py_ssd_scan, METH_VARARGS,
     "ssd_scan(pointers, sizes, strides, threads): the recurrence over float32 buffers "
     "(called by eegssm.nn.cpu_scan, which checks every argument)."},
    {"conv_silu", py_conv_silu, METH_VARARGS,
     "conv_silu(pointers, sizes, threads): causal depthwise conv + SiLU over float32 buffers "
     "(called by eegssm.nn.cpu_scan, which checks every argument)."},
    {"gated_rmsnorm", py_gated_rmsnorm, METH_VARARGS,
     "gated_rmsnorm(pointers, sizes, eps, before, threads): gated RMSNorm over float32 buffers "
     "(called by eegssm.nn.cpu_scan, which checks every argument)."},
    {"mamba2_inner", py_mamba2_inner, METH_VARARGS,
     "mamba2_inner(pointers, sizes, strides, eps, threads): a Mamba-2 layer between its "
     "projections (called by eegssm.nn.cpu_scan, which checks every argument)."},
    {"conv_gelu", py_conv_gelu, METH_VARARGS,
     "conv_gelu(pointers, sizes, gelu, threads): zero-padded convolution of channels-last "
     "float32 rows, optionally + GELU (called by eegssm.engine)."},
    {"gelu", py_gelu, METH_VARARGS,
     "gelu(pointers, sizes, threads): exact GELU over float32 rows (called by eegssm.engine)."},
    {"layer_norm", py_layer_norm, METH_VARARGS,
     "layer_norm(pointers, sizes, eps, threads): LayerNorm over float32 rows (called by "
     "eegssm.engine)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "The SSD recurrence in C (see eegssm.nn.cpu_scan).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }

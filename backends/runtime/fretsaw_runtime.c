/* fretsaw's target runtime: what the code of a cross-compiled model calls besides libc and libm.
 *
 *   - The OpenMP entry points that MLIR's convert-scf-to-openmp / convert-openmp-to-llvm emit
 *     (__kmpc_fork_call, __kmpc_for_static_init_*, __kmpc_barrier, ...), implemented over a pool
 *     of POSIX threads, so the threaded conv loops run on any target with pthreads and no libomp
 *     (Android's NDK ships one, Debian's cross toolchains do not).
 *   - memrefCopy, the strided copy of MLIR's C runner utils.
 *
 * Threads: by default the number the model was compiled for (fretsaw.compile(threads=...)).
 * fretsaw_set_num_threads(n) or the environment variable FRETSAW_NUM_THREADS overrides it.
 * Parallel regions do not nest: a region started inside another runs on the calling thread.
 * One model call at a time: the pool (and the model's workspace) serve one caller.
 *
 * Build it with the model: cc -O2 -c fretsaw_runtime.c; link with -lpthread -lm.
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRETSAW_MAX_THREADS 64
#define FRETSAW_MAX_ARGS 8
/* Waits spin this many rounds before they sleep (workers between regions, the caller at the
 * join) or yield (barriers). A model runs its parallel regions back to back, a few to tens of
 * microseconds apart: waking a sleeping thread through the kernel costs about as much. With
 * mutex + condition variable + pthread_barrier waits a ResNet-18 call took 10.3 ms built natively
 * on the 2-core x86 VM (perf: 12% of the time in futex wake-ups and task switches); spinning
 * first, 7.2-9.4 ms (a noisy VM). With more threads than cores a spinning thread only keeps a
 * working one off its core (3 threads on 2 cores: 24 ms spinning 4000 rounds, 11.4 ms without):
 * no spinning then. */
#define FRETSAW_SPINS 4000
/* Stack of each worker thread: a pointwise conv's work unit copies its column chunk into a buffer
 * on its thread's stack (up to 256 KiB, pconv-vectorize's CHUNK_BYTES); Android's default thread
 * stack is 1 MiB, so the workers ask for 8 MiB, as glibc gives by default. */
#define FRETSAW_STACK_BYTES (8u << 20)

typedef void (*fretsaw_microtask)(int32_t *gtid, int32_t *btid, ...);

static __thread int32_t tls_tid = 0;   /* index of this thread in its parallel region */
static __thread int32_t tls_team = 1;  /* threads of the region this thread runs in */
static __thread int tls_in_parallel = 0;
static __thread int tls_sense = 0;     /* this thread's sense of the region's barrier */

static int32_t requested_threads = 0;  /* fretsaw_set_num_threads / FRETSAW_NUM_THREADS */
static int32_t pushed_threads = 0;     /* __kmpc_push_num_threads, for the next region */

/* The caller publishes a region (team, task, arguments, then `generation` + 1); every worker,
 * in the team or not, takes it and counts `pending` down, so the next region is published only
 * after every worker has read this one. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    atomic_long generation;
    atomic_int pending, sleepers, barrier_count, barrier_sense;
    int32_t team, workers;
    fretsaw_microtask task;
    int argc;
    void *argv[FRETSAW_MAX_ARGS];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};

void fretsaw_set_num_threads(int threads) {
    requested_threads = threads < 1 ? 1 : (threads > FRETSAW_MAX_THREADS ? FRETSAW_MAX_THREADS : threads);
}

static void fail(const char *what) {
    fprintf(stderr, "fretsaw runtime: %s\n", what);
    abort();
}

static long created_at[FRETSAW_MAX_THREADS];
static int spins_allowed = FRETSAW_SPINS;  /* 0 when the team outnumbers the cores */

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static void invoke(fretsaw_microtask task, int32_t tid, int argc, void **a) {
    int32_t gtid = tid, btid = 0;
    switch (argc) {
    case 0: task(&gtid, &btid); break;
    case 1: task(&gtid, &btid, a[0]); break;
    case 2: task(&gtid, &btid, a[0], a[1]); break;
    case 3: task(&gtid, &btid, a[0], a[1], a[2]); break;
    case 4: task(&gtid, &btid, a[0], a[1], a[2], a[3]); break;
    case 5: task(&gtid, &btid, a[0], a[1], a[2], a[3], a[4]); break;
    case 6: task(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5]); break;
    case 7: task(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
    case 8: task(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); break;
    default: fail("a parallel region with more than 8 shared arguments");
    }
}

/* The generation after `seen`: spin, then sleep until the caller publishes it. */
static long next_region(long seen) {
    long now;
    for (int spins = 0; (now = atomic_load(&pool.generation)) == seen;) {
        if (++spins < spins_allowed) { relax(); continue; }
        pthread_mutex_lock(&pool.lock);
        atomic_fetch_add(&pool.sleepers, 1);
        while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.start, &pool.lock);
        atomic_fetch_sub(&pool.sleepers, 1);
        pthread_mutex_unlock(&pool.lock);
        spins = 0;
    }
    return now;
}

static void *worker(void *arg) {
    int32_t tid = (int32_t)(intptr_t)arg;
    long seen = created_at[tid];  /* the generation before the region it was created for */
    tls_tid = tid;
    tls_in_parallel = 1;
    for (;;) {
        seen = next_region(seen);
        int32_t team = pool.team;
        fretsaw_microtask task = pool.task;
        int argc = pool.argc;
        void *argv[FRETSAW_MAX_ARGS];
        memcpy(argv, pool.argv, sizeof argv);
        if (tid < team) {
            tls_team = team;
            tls_sense = 0;
            invoke(task, tid, argc, argv);
        }
        if (atomic_fetch_sub(&pool.pending, 1) == 1) {  /* the last one wakes the caller if it sleeps */
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

static int32_t region_threads(void) {
    if (!requested_threads) {
        const char *env = getenv("FRETSAW_NUM_THREADS");
        if (env && atoi(env) > 0) fretsaw_set_num_threads(atoi(env));
    }
    int32_t n = requested_threads ? requested_threads : (pushed_threads ? pushed_threads : 1);
    pushed_threads = 0;
    return n > FRETSAW_MAX_THREADS ? FRETSAW_MAX_THREADS : n;
}

/* ---- the OpenMP entry points (LLVM's libomp ABI, the subset MLIR's lowering calls) ---- */

int32_t __kmpc_global_thread_num(void *loc) { (void)loc; return tls_tid; }

void __kmpc_push_num_threads(void *loc, int32_t gtid, int32_t threads) {
    (void)loc; (void)gtid;
    pushed_threads = threads;
}

void __kmpc_fork_call(void *loc, int32_t argc, fretsaw_microtask task, ...) {
    (void)loc;
    void *argv[FRETSAW_MAX_ARGS] = {0};
    va_list ap;
    if (argc > FRETSAW_MAX_ARGS) fail("a parallel region with more than 8 shared arguments");
    va_start(ap, task);
    for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, void *);
    va_end(ap);
    int32_t team = region_threads();
    if (team == 1 || tls_in_parallel) {  /* serial: this thread is the whole team */
        int32_t tid = tls_tid, size = tls_team;
        tls_tid = 0; tls_team = 1;
        invoke(task, 0, argc, argv);
        tls_tid = tid; tls_team = size;
        return;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    spins_allowed = cores > 0 && team > cores ? 0 : FRETSAW_SPINS;
    while (pool.workers < team - 1) {
        pthread_t thread;
        created_at[pool.workers + 1] = atomic_load(&pool.generation);
        pthread_attr_t attributes;
        if (pthread_attr_init(&attributes) != 0 || pthread_attr_setstacksize(&attributes, FRETSAW_STACK_BYTES) != 0)
            fail("pthread_attr_setstacksize failed");
        if (pthread_create(&thread, &attributes, worker, (void *)(intptr_t)(pool.workers + 1)) != 0)
            fail("pthread_create failed");
        pthread_attr_destroy(&attributes);
        pthread_detach(thread);
        pool.workers++;
    }
    pool.team = team;
    pool.task = task;
    pool.argc = argc;
    memcpy(pool.argv, argv, sizeof argv);
    atomic_store(&pool.barrier_count, team);
    atomic_store(&pool.barrier_sense, 0);
    atomic_store(&pool.pending, pool.workers);
    atomic_fetch_add(&pool.generation, 1);  /* publishes the region */
    if (atomic_load(&pool.sleepers)) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.start);
        pthread_mutex_unlock(&pool.lock);
    }

    tls_in_parallel = 1; tls_team = team; tls_sense = 0;
    invoke(task, 0, argc, argv);
    tls_in_parallel = 0; tls_team = 1;

    for (int spins = 0; atomic_load(&pool.pending) > 0;) {
        if (++spins < spins_allowed) { relax(); continue; }
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.pending) > 0) pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
}

/* A sense-reversing barrier: the last thread to arrive resets the count and flips the sense. */
void __kmpc_barrier(void *loc, int32_t gtid) {
    (void)loc; (void)gtid;
    if (tls_team <= 1) return;
    int sense = tls_sense = !tls_sense;
    if (atomic_fetch_sub(&pool.barrier_count, 1) == 1) {
        atomic_store(&pool.barrier_count, tls_team);
        atomic_store(&pool.barrier_sense, sense);
        return;
    }
    for (int spins = 0; atomic_load(&pool.barrier_sense) != sense;) {
        if (++spins < spins_allowed) relax();
        else sched_yield();
    }
}

/* Static schedule (kmp_sch_static = 34): thread t of T gets one contiguous share of the
 * iterations, the first (trip % T) threads one more. Bounds are inclusive, as in libomp; an
 * empty share has lower = upper + 1. */
#define STATIC_INIT(suffix, T)                                                                     \
    void __kmpc_for_static_init_##suffix(void *loc, int32_t gtid, int32_t schedule, int32_t *last, \
                                         T *lower, T *upper, T *stride, T incr, T chunk) {         \
        (void)loc; (void)gtid; (void)chunk;                                                        \
        if (schedule != 34) fail("only the static OpenMP schedule is supported");                  \
        T trip = (T)((*upper - *lower) / incr + 1);                                                \
        T team = (T)tls_team, tid = (T)tls_tid;                                                    \
        T share = trip / team, extra = trip % team;                                                \
        T first = tid * share + (tid < extra ? tid : extra);                                       \
        T count = share + (tid < extra ? 1 : 0);                                                   \
        T begin = *lower + first * incr;                                                           \
        *last = (count > 0 && first + count == trip);                                              \
        *stride = trip * incr;                                                                     \
        if (count == 0) { *lower = *upper + 1; return; }                                           \
        *lower = begin;                                                                            \
        *upper = begin + (count - 1) * incr;                                                       \
    }
STATIC_INIT(4, int32_t)
STATIC_INIT(4u, uint32_t)
STATIC_INIT(8, int64_t)
STATIC_INIT(8u, uint64_t)

void __kmpc_for_static_fini(void *loc, int32_t gtid) { (void)loc; (void)gtid; }

/* ---- memrefCopy (MLIR's C runner utils): copy between strided memrefs of equal shape ---- */

typedef struct { int64_t rank; void *descriptor; } fretsaw_unranked_memref;

static void copy_dim(char *dst, const char *src, int64_t elem, int64_t rank, const int64_t *sizes,
                     const int64_t *src_strides, const int64_t *dst_strides) {
    if (rank == 0) { memcpy(dst, src, (size_t)elem); return; }
    for (int64_t i = 0; i < sizes[0]; i++)
        copy_dim(dst + i * dst_strides[0] * elem, src + i * src_strides[0] * elem, elem, rank - 1,
                 sizes + 1, src_strides + 1, dst_strides + 1);
}

void memrefCopy(int64_t elem, fretsaw_unranked_memref *src, fretsaw_unranked_memref *dst) {
    /* descriptor: allocated, aligned, offset, sizes[rank], strides[rank] */
    char **s = (char **)src->descriptor, **d = (char **)dst->descriptor;
    int64_t rank = src->rank;
    const int64_t *sm = (const int64_t *)(s + 2), *dm = (const int64_t *)(d + 2);
    copy_dim(d[1] + dm[0] * elem, s[1] + sm[0] * elem, elem, rank, sm + 1, sm + 1 + rank, dm + 1 + rank);
}

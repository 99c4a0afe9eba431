/*
 * lockring — the ceiling of a locked shared-memory queue on this machine.
 *
 * Not mqshim: the smallest queue that is still process-shared and crash-safe in the way
 * mqshim's are (robust, process-shared pthread mutexes), moving 64-byte messages from a
 * producer pinned to the first allowed CPU to a consumer pinned to the second, through a
 * ring of 10 slots (the POSIX default mq_maxmsg).  It answers "how fast can any design built
 * on such a lock go here?", so mqshim's figures can be read against what the machine allows.
 *
 *   lockring --design one-lock   one mutex; each side waits (reading the count only) until
 *                                the ring is not full / not empty, then locks: the design
 *                                the "~4.8 million a second" describes
 *            --design naive      one mutex, locked before looking
 *            --design two-lock   a mutex per side (senders, receivers) over the ring's
 *                                head and tail: a send and a receive never wait for each
 *                                other's lock
 *            --work NS           busy work of about NS ns per operation outside the lock,
 *                                standing in for a library call's own overhead
 *            --seconds S         (default 0.4)
 *
 * Prints one line: RESULT name=lockring_<design> ... unit=msg/s value=N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 10
#define SIZE 64

struct ring {
    pthread_mutex_t lock;            /* one-lock, naive: the lock; two-lock: the senders' */
    _Atomic uint64_t tail;           /* messages ever sent */
    char pad1[64 - sizeof(pthread_mutex_t) % 64 - 8];
    pthread_mutex_t recv_lock;       /* two-lock: the receivers' */
    _Atomic uint64_t head;           /* messages ever received */
    char pad2[64 - sizeof(pthread_mutex_t) % 64 - 8];
    _Atomic uint64_t stop;
    struct { uint32_t len, prio; unsigned char data[SIZE]; } slot[SLOTS];
};

enum design { NAIVE, ONE_LOCK, TWO_LOCK };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int nth_allowed_cpu(int n)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set) && n-- == 0) return c;
    return -1;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void init_lock(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static void lock(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) == EOWNERDEAD) pthread_mutex_consistent(m);
}

static volatile unsigned sink;
static unsigned work_iters;

static void outside_work(void)
{
    for (unsigned i = 0; i < work_iters; i++) sink = i;
}

static uint64_t count(struct ring *r)
{
    return atomic_load_explicit(&r->tail, memory_order_acquire) - atomic_load_explicit(&r->head, memory_order_acquire);
}

/* One send; 0 when the ring was full. */
static int send_one(struct ring *r, enum design d, const unsigned char *msg)
{
    if (d == ONE_LOCK || d == TWO_LOCK)
        while (count(r) >= SLOTS && !atomic_load_explicit(&r->stop, memory_order_relaxed)) __builtin_ia32_pause();
    lock(&r->lock);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    int ok = t - atomic_load_explicit(&r->head, memory_order_acquire) < SLOTS;
    if (ok) {
        memcpy(r->slot[t % SLOTS].data, msg, SIZE);
        r->slot[t % SLOTS].len = SIZE;
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* One receive; 0 when the ring was empty. */
static int receive_one(struct ring *r, enum design d, unsigned char *buf)
{
    pthread_mutex_t *m = d == TWO_LOCK ? &r->recv_lock : &r->lock;
    if (d == ONE_LOCK || d == TWO_LOCK)
        while (count(r) == 0 && !atomic_load_explicit(&r->stop, memory_order_relaxed)) __builtin_ia32_pause();
    lock(m);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    int ok = atomic_load_explicit(&r->tail, memory_order_acquire) != h;
    if (ok) {
        memcpy(buf, r->slot[h % SLOTS].data, r->slot[h % SLOTS].len);
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
    pthread_mutex_unlock(m);
    return ok;
}

static unsigned calibrate(double ns)
{
    if (ns <= 0) return 0;
    unsigned n = 1u << 20;
    double t0 = now();
    work_iters = n;
    outside_work();
    double per = (now() - t0) / n * 1e9;
    return (unsigned)(ns / per + 0.5);
}

int main(int argc, char **argv)
{
    enum design d = ONE_LOCK;
    const char *dname = "one-lock";
    double seconds = 0.4, work_ns = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--design") && i + 1 < argc) {
            dname = argv[++i];
            if (!strcmp(dname, "naive")) d = NAIVE;
            else if (!strcmp(dname, "one-lock")) d = ONE_LOCK;
            else if (!strcmp(dname, "two-lock")) d = TWO_LOCK;
            else { fprintf(stderr, "lockring: unknown design %s\n", dname); return 2; }
        } else if (!strcmp(argv[i], "--work") && i + 1 < argc) work_ns = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else { fprintf(stderr, "usage: lockring [--design naive|one-lock|two-lock] [--work NS] [--seconds S]\n"); return 2; }
    }
    int cpu0 = nth_allowed_cpu(0), cpu1 = nth_allowed_cpu(1);
    if (cpu1 < 0) {
        printf("RESULT name=lockring_%s unit=msg/s value=0 status=unsupported\n", dname);
        return 4;
    }
    unsigned iters = calibrate(work_ns);
    struct ring *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) { perror("lockring: mmap"); return 1; }
    init_lock(&r->lock);
    init_lock(&r->recv_lock);
    int results[2];
    if (pipe(results) != 0) { perror("lockring: pipe"); return 1; }

    pid_t consumer = fork();
    if (consumer < 0) { perror("lockring: fork"); return 1; }
    if (consumer == 0) {
        pin(cpu1);
        work_iters = iters;
        unsigned char buf[SIZE];
        uint64_t got = 0;
        double t0 = 0;
        while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
            outside_work();
            if (receive_one(r, d, buf) && ++got == 10000) t0 = now();   /* after a warm-up */
        }
        double rate = got > 10000 ? (double)(got - 10000) / (now() - t0) : 0;
        if (write(results[1], &rate, sizeof rate) != sizeof rate) _exit(1);
        _exit(0);
    }
    pin(cpu0);
    work_iters = iters;
    unsigned char msg[SIZE];
    memset(msg, 7, sizeof msg);
    double end = now() + seconds;
    for (uint64_t n = 0;; n++) {
        outside_work();
        send_one(r, d, msg);
        if ((n & 1023) == 0 && now() >= end) break;
    }
    atomic_store(&r->stop, 1);
    double rate = 0;
    int status;
    if (read(results[0], &rate, sizeof rate) != sizeof rate) rate = 0;
    waitpid(consumer, &status, 0);
    printf("RESULT name=lockring_%s bench=lockring design=%s work_ns=%.0f size=%d placement=cross unit=msg/s value=%.0f status=ok\n",
           dname, dname, work_ns, SIZE, rate);
    return 0;
}

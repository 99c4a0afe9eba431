/* Nothing a user does to a file it may write crashes another user's process. Root makes a POSIX
 * and a System V queue, mode 0622 (others may send: under the emulation their files are
 * writable by everyone), with messages in them. A child that drops to nobody then truncates
 * every regular file it can open for writing in the emulation's namespace (the kernel's queues
 * have no files, so there it finds none). Root goes on using both queues: each call must give
 * the kernel's result or EIO (a damaged queue), and root must survive; only that
 * classification is printed. A new POSIX queue of the same name then works as on the kernel.
 *
 * Twice: with signals deliverable, then with every signal but the harness's SIGALRM blocked, as
 * programs commonly block them in their worker threads — root's POSIX calls then run in a thread
 * made after the blocking (it inherits the mask), its System V calls in the main thread. A
 * SIGBUS a thread blocks is not delivered (the kernel kills the process), so mqshim's calls
 * must keep it deliverable themselves; before they did, root died of SIGBUS at its first call
 * of the second pass.
 *
 * A third pass sets the program's own SIGBUS handler once the queues exist (programs install
 * crash handlers at any time): it must be reported back as set, must not see the attack (before
 * mqshim recorded it instead of letting it replace its own, root's handler got the truncation's
 * SIGBUS), and must still get the program's own faults and signals, through `sigaction` and
 * `signal` alike. Then a child that ignores SIGBUS before its first queue is killed by a fault
 * of its own, as the kernel kills a process that ignores a fault's signal (before, it faulted
 * again forever). Last, a POSIX receiver already asleep, without a deadline, when its queue is
 * truncated wakes with EIO (before, it slept for ever).
 *
 * Under the emulation the test re-executes itself with a namespace under /dev/shm that nobody
 * can reach (run.sh's own sits under a directory only root may enter). */
#include "harness.h"
#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <ftw.h>
#include <grp.h>
#include <sys/stat.h>

#define NOBODY 65534

static char ns_dir[256];

/* Prints "what -> as kernel or EIO" when the call gave `want` (or -1 EIO), else what it gave. */
static void outcome(const char *what, long r, int e, long want, int want_errno)
{
    int as_kernel = want_errno ? (r == -1 && e == want_errno) : (r == want);
    if (as_kernel || (r == -1 && e == EIO)) {
        printf("%s -> as kernel or EIO\n", what);
        return;
    }
    t_failures++;
    if (r == -1)
        printf("%s -> -1 %s  !! MISMATCH\n", what, t_errno_name(e));
    else
        printf("%s -> %ld  !! MISMATCH\n", what, r);
}
#define OUTCOME(call, want, want_errno) \
    do { errno = 0; long r_ = (long)(call); int e_ = errno; outcome(#call, r_, e_, want, want_errno); } while (0)

static int truncate_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st; (void)f;
    if (type != FTW_F)
        return 0;
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        struct stat s;
        if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode))
            (void)ftruncate(fd, 0);
        close(fd);
    }
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st; (void)type; (void)f;
    remove(path);
    return 0;
}

/* A child that drops to nobody truncates every regular file it can open for writing in the
 * emulation's namespace (the kernel's queues have no files: there it finds none). */
static void nobody_truncates_what_it_can(void)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        T_REQUIRE(setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (ns_dir[0])
            nftw(ns_dir, truncate_one, 16, FTW_PHYS);
        t_say("nobody truncated what it could write");
        exit(t_child_status());
    }
    t_join(&c, 0);
}

/* Removes the namespaces of earlier runs that could not remove their own (a run the
 * harness's watchdog ended): /dev/shm/mqt-trunc-PID whose process is gone. */
static void remove_abandoned_namespaces(void)
{
    DIR *shm = opendir("/dev/shm");
    if (!shm)
        return;
    struct dirent *e;
    while ((e = readdir(shm))) {
        int pid;
        char rest;
        if (sscanf(e->d_name, "mqt-trunc-%d%c", &pid, &rest) != 1 || pid <= 0)
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[300];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
    }
    closedir(shm);
}

/* Under the emulation: a namespace under /dev/shm, entered by re-executing. */
static void move_namespace(char **argv)
{
    const char *dir = getenv("MQSHIM_DIR");
    const char *moved = getenv("MQT_TRUNC_NS");
    if (moved) {
        snprintf(ns_dir, sizeof ns_dir, "%s", moved);
        return;
    }
    if (!dir || !*dir)
        return;
    remove_abandoned_namespaces();
    snprintf(ns_dir, sizeof ns_dir, "/dev/shm/mqt-trunc-%d", (int)getpid());
    T_REQUIRE(mkdir(ns_dir, 0755) == 0 && chmod(ns_dir, 0755) == 0);
    setenv("MQSHIM_DIR", ns_dir, 1);
    setenv("MQT_TRUNC_NS", ns_dir, 1);
    execv("/proc/self/exe", argv);
    T_REQUIRE(0);
}

struct posix_args {
    mqd_t q;
    const char *name;
};

/* Root's POSIX calls after the attack. */
static void *posix_calls(void *arg)
{
    mqd_t q = ((struct posix_args *)arg)->q;
    const char *name = ((struct posix_args *)arg)->name;
    char buf[64];
    unsigned prio;
    struct timespec soon;
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 50 * 1000 * 1000;
    if (soon.tv_nsec >= 1000000000) {
        soon.tv_sec++;
        soon.tv_nsec -= 1000000000;
    }
    struct mq_attr got;
    OUTCOME(mq_send(q, "three", 5, 1), 0, 0);
    OUTCOME(mq_receive(q, buf, sizeof buf, &prio), 3, 0);
    OUTCOME(mq_getattr(q, &got), 0, 0);
    OUTCOME(mq_timedreceive(q, buf, sizeof buf, &prio, &soon), 3, 0);
    OUTCOME(mq_timedreceive(q, buf, sizeof buf, &prio, &soon), 5, 0);
    OUTCOME(mq_timedreceive(q, buf, sizeof buf, &prio, &soon), -1, ETIMEDOUT);
    OUTCOME(mq_timedsend(q, "four", 4, 1, &soon), 0, 0);
    mqd_t again = mq_open(name, O_RDWR);
    outcome("mq_open(name, O_RDWR)", again == (mqd_t)-1 ? -1 : 0, errno, 0, 0);
    if (again != (mqd_t)-1)
        mq_close(again);

    return NULL;
}

/* The program's own SIGBUS handlers (third pass). */
static sigjmp_buf own_fault_return;
static volatile sig_atomic_t own_fault_expected, plain_handler_calls;

static void own_sigbus(int sig, siginfo_t *info, void *context)
{
    (void)sig; (void)info; (void)context;
    if (own_fault_expected)
        siglongjmp(own_fault_return, 1);
    static const char msg[] = "root: an unexpected SIGBUS reached the program's handler  !! MISMATCH\n";
    if (write(1, msg, sizeof msg - 1) < 0) { /* exiting anyway */ }
    _exit(3);
}

static void plain_sigbus(int sig)
{
    (void)sig;
    plain_handler_calls++;
}

/* A fault of the program's own: a page of a memory file it shrank. Returns the mapping. */
static volatile char *own_shrunk_page(void)
{
    int fd = memfd_create("own", MFD_CLOEXEC);
    T_REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
    volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T_REQUIRE(p != MAP_FAILED && ftruncate(fd, 0) == 0);
    close(fd);
    return p;
}

/* Third pass, before the attack: the program's handler set and read back. */
static void set_own_handler(void)
{
    struct sigaction own = { .sa_sigaction = own_sigbus, .sa_flags = SA_SIGINFO }, now;
    sigemptyset(&own.sa_mask);
    EXPECT_OK(sigaction(SIGBUS, &own, NULL));
    EXPECT_OK(sigaction(SIGBUS, NULL, &now));
    t_check("sigaction reports the program's SIGBUS handler", now.sa_sigaction == own_sigbus && (now.sa_flags & SA_SIGINFO));
}

/* Third pass, after the attack: the program's own faults and signals still reach it. */
static void own_signals_still_own(void)
{
    volatile char *page = own_shrunk_page();
    own_fault_expected = 1;
    if (sigsetjmp(own_fault_return, 1) == 0) {
        page[0] = 1;
        t_check("a fault of the program's own reached its handler", 0);
    } else {
        t_say("a fault of the program's own reached its handler");
    }
    own_fault_expected = 0;
    munmap((void *)page, 4096);
    t_check("signal() returns the program's previous handler", (void *)signal(SIGBUS, plain_sigbus) == (void *)own_sigbus);
    EXPECT_OK(raise(SIGBUS));
    t_check("a raised SIGBUS reached the handler signal() set", plain_handler_calls == 1);
    t_check("signal() back to the default returns it", signal(SIGBUS, SIG_DFL) == plain_sigbus);
}


/* Whether thread `tid` is asleep (state S in /proc). */
static int thread_asleep(pid_t tid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close_paren = strrchr(stat, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
}

static pid_t receiver_tid;

/* A receiver asleep in mq_receive, without a deadline, on an empty queue (last case): its tid
 * published first; the result, or minus the errno. */
static void *blocked_receive(void *arg)
{
    __atomic_store_n(&receiver_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    char buf[64];
    unsigned prio;
    errno = 0;
    long r = mq_receive(*(mqd_t *)arg, buf, sizeof buf, &prio);
    return (void *)(r >= 0 ? r : -(long)errno);
}

/* A POSIX receiver already asleep when nobody truncates the queue's files: it must not sleep
 * on. Then root sends one message: on the kernel the receiver gets it; under the emulation the
 * send, or the receiver's next look at its queue (a sleeper looks every 2 s), fails with EIO.
 * Before, the emulation's receiver slept on for ever (the harness's watchdog ended it). */
static void asleep_when_truncated(void)
{
    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 64 };
    const char *name = t_qname("truncsleep");
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0622, &a);
    T_REQUIRE(q != (mqd_t)-1);
    pthread_t receiver;
    T_REQUIRE(pthread_create(&receiver, NULL, blocked_receive, &q) == 0);
    /* Until it sleeps (at most 2 s: a backend whose receiver wakes now and then may never be
     * seen asleep, and the outcome below holds either way). */
    for (int i = 0; i < 20000 && !(__atomic_load_n(&receiver_tid, __ATOMIC_SEQ_CST) && thread_asleep(receiver_tid)); i++)
        usleep(100);

    nobody_truncates_what_it_can();

    OUTCOME(mq_send(q, "wake", 4, 1), 0, 0);
    void *got;
    T_REQUIRE(pthread_join(receiver, &got) == 0);
    long r = (long)got;
    outcome("the receiver's mq_receive", r >= 0 ? r : -1, r >= 0 ? 0 : (int)-r, 4, 0);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));
}

/* A child that ignores SIGBUS, then makes a queue, then faults: killed by SIGBUS. */
static void ignored_fault_kills(void)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        signal(SIGBUS, SIG_IGN);
        struct mq_attr a = { .mq_maxmsg = 1, .mq_msgsize = 8 };
        const char *name = t_qname("truncign");
        mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
        T_REQUIRE(q != (mqd_t)-1);
        mq_close(q);
        mq_unlink(name);
        volatile char *page = own_shrunk_page();
        /* Its calls reported now: it is not meant to reach exit. */
        t_write_counts();
        memset(t_counts, 0, sizeof t_counts);
        fflush(stdout);
        page[0] = 1;
        t_say("survived a fault it ignored");
        exit(t_child_status());
    }
    t_join(&c, 128 + SIGBUS);
}

enum pass { DELIVERABLE, BLOCKED, OWN_HANDLER };

/* One pass: the queues made, attacked and used; with every signal blocked, or with a SIGBUS
 * handler of the program's own, as `pass` says. */
static void scenario(const char *tag, enum pass pass)
{
    int blocked = pass == BLOCKED;
    sigset_t all, before;
    sigfillset(&all);
    sigdelset(&all, SIGALRM);
    if (blocked)
        T_REQUIRE(pthread_sigmask(SIG_BLOCK, &all, &before) == 0);
    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 64 };
    const char *name = t_qname(tag);
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0622, &a);
    T_REQUIRE(q != (mqd_t)-1);
    EXPECT_OK(mq_send(q, "one", 3, 1));
    EXPECT_OK(mq_send(q, "two", 3, 1));
    key_t key;
    int id = t_msgget_new(tag, 0622, &key);
    struct { long mtype; char text[64]; } m = { 1, "first" };
    EXPECT_OK(msgsnd(id, &m, 5, IPC_NOWAIT));
    EXPECT_OK(msgsnd(id, &m, 5, IPC_NOWAIT));
    if (pass == OWN_HANDLER)
        set_own_handler();

    nobody_truncates_what_it_can();

    struct posix_args pa = { q, name };
    if (blocked) {
        /* A thread made after the blocking inherits the mask. */
        pthread_t worker;
        T_REQUIRE(pthread_create(&worker, NULL, posix_calls, &pa) == 0);
        T_REQUIRE(pthread_join(worker, NULL) == 0);
    } else {
        posix_calls(&pa);
    }
    char buf[64];
    unsigned prio;
    OUTCOME(msgsnd(id, &m, 5, IPC_NOWAIT), 0, 0);
    OUTCOME(msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT), 5, 0);
    OUTCOME(msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT), 5, 0);
    OUTCOME(msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT), 5, 0);
    OUTCOME(msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT), -1, ENOMSG);
    struct msqid_ds ds;
    OUTCOME(msgctl(id, IPC_STAT, &ds), 0, 0);
    OUTCOME(msgget(key, 0), id, 0);

    /* Removal works whatever the files hold, and the name is free for a new queue. */
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));
    OUTCOME(msgctl(id, IPC_RMID, NULL), 0, 0);
    q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    t_check("a new queue of that name opens", q != (mqd_t)-1);
    EXPECT_OK(mq_send(q, "fresh", 5, 2));
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 5);
    t_show_msg("received", buf, 5, prio);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(name));

    if (blocked)
        T_REQUIRE(pthread_sigmask(SIG_SETMASK, &before, NULL) == 0);
    if (pass == OWN_HANDLER)
        own_signals_still_own();
}

int main(int argc, char **argv)
{
    (void)argc;
    move_namespace(argv);
    umask(0);
    t_say("-- signals deliverable");
    scenario("trunc", DELIVERABLE);
    t_say("-- every signal blocked (a worker thread made after pthread_sigmask)");
    scenario("truncb", BLOCKED);
    t_say("-- the program's own SIGBUS handler, set after the queues");
    scenario("trunch", OWN_HANDLER);
    t_say("-- SIGBUS ignored before the first queue, then a fault of the program's own");
    ignored_fault_kills();
    t_say("-- a POSIX receiver asleep, without a deadline, when its queue is truncated");
    asleep_when_truncated();
    if (ns_dir[0])
        nftw(ns_dir, remove_one, 16, FTW_PHYS | FTW_DEPTH);
    return t_finish();
}

/* bench/floor.c — what the file operations a queue-per-file namespace is built from cost on
 * this machine, beside the kernel's own create+remove of a queue, in one run.
 *
 *   floor DIR [OPS]     DIR: a new directory on the filesystem to measure (it is created and
 *                       removed); OPS: operations per row (default 20000)
 *
 * mqshim's emulation makes each queue a file (System V) or a directory of files (POSIX), so
 * that the operating system enforces who may open it. However fast its own code is, creating
 * and removing a queue costs at least the file operations that design needs, and this program
 * measures them: an emulation cannot beat the sum of the rows its design uses. The kernel rows
 * run in the caller's IPC namespace (bench/floor.sh gives it a fresh one). Each row prints
 * ns per operation, the median of 7 batches of OPS/7. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A POSIX queue's segment as mqshim makes it for maxmsg 1 x msgsize 16 (the control rows'
 * queues): its size, and the bytes reserved (fallocate) and written at creation. */
#define SEGMENT_SIZE 294912
#define SEGMENT_RESERVED 21568

static int dfd;
static long ops = 20000;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int failed;

/* Runs `op` OPS times in 7 batches; prints the median batch's ns per operation. */
static double row(const char *label, int (*op)(long i))
{
    enum { BATCHES = 7 };
    double per[BATCHES];
    long batch = ops / BATCHES > 0 ? ops / BATCHES : 1;
    /* Warm-up, untimed (the first row would otherwise pay for the first calls' faults). */
    for (long i = 0; i < batch / 4 + 1; i++) {
        if (op(i) != 0) {
            printf("%-58s failed: %s\n", label, strerror(errno));
            failed = 1;
            return 0;
        }
    }
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (long i = 0; i < batch; i++) {
            if (op(i) != 0) {
                printf("%-58s failed: %s\n", label, strerror(errno));
                failed = 1;
                return 0;
            }
        }
        per[b] = (now_ns() - t0) / batch;
    }
    qsort(per, BATCHES, sizeof per[0], cmp);
    printf("%-58s %8.0f ns\n", label, per[BATCHES / 2]);
    return per[BATCHES / 2];
}

static int k_private(long i)
{
    (void)i;
    int id = msgget(IPC_PRIVATE, 0600);
    return id < 0 ? -1 : msgctl(id, IPC_RMID, NULL);
}

static key_t key;
static int k_keyed(long i)
{
    (void)i;
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    return id < 0 ? -1 : msgctl(id, IPC_RMID, NULL);
}

static char mq_name[64];
static int k_posix(long i)
{
    (void)i;
    struct mq_attr a = { .mq_maxmsg = 1, .mq_msgsize = 16 };
    mqd_t q = mq_open(mq_name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    if (q == (mqd_t)-1)
        return -1;
    mq_close(q);
    return mq_unlink(mq_name);
}

/* Renames "a" to "b" and back, a rename per call; "a" is there between rows. */
static int renamed;
static int f_rename(long i)
{
    (void)i;
    renamed = !renamed;
    return renamed ? renameat2(dfd, "a", dfd, "b", RENAME_NOREPLACE) : renameat2(dfd, "b", dfd, "a", RENAME_NOREPLACE);
}

static int f_fstatat(long i)
{
    struct stat st;
    (void)i;
    return fstatat(dfd, "a", &st, AT_SYMLINK_NOFOLLOW);
}

static int f_readlink_missing(long i)
{
    char buf[16];
    (void)i;
    return readlinkat(dfd, "no-such-link", buf, sizeof buf) < 0 && errno == ENOENT ? 0 : -1;
}

static int f_symlink(long i)
{
    (void)i;
    return symlinkat("12345678", dfd, "k") || unlinkat(dfd, "k", 0);
}

static int f_mkdir(long i)
{
    (void)i;
    return mkdirat(dfd, "d", 0700) || unlinkat(dfd, "d", AT_REMOVEDIR);
}

static int f_fifo(long i)
{
    (void)i;
    return mknodat(dfd, "p", S_IFIFO | 0600, 0) || unlinkat(dfd, "p", 0);
}

static int f_link(long i)
{
    (void)i;
    return linkat(dfd, "a", dfd, "a2", 0) || unlinkat(dfd, "a2", 0);
}

static int f_file(long i)
{
    (void)i;
    int fd = openat(dfd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    return unlinkat(dfd, "f", 0);
}

/* A segment made, reserved, mapped and written as a creator does, then unmapped and removed. */
static int f_segment(long i)
{
    (void)i;
    int fd = openat(dfd, "s", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, SEGMENT_SIZE) || fallocate(fd, 0, 0, SEGMENT_RESERVED))
        return -1;
    char *m = mmap(NULL, SEGMENT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    memset(m, 0, SEGMENT_RESERVED);
    munmap(m, SEGMENT_SIZE);
    return unlinkat(dfd, "s", 0);
}

/* mqshim's System V create+remove with a spare segment (`sysv/queue/spare.rs`): the spare
 * renamed into place, its stamp checked, renamed aside again. */
static int f_spare_cycle(long i)
{
    struct stat st;
    (void)i;
    return renameat2(dfd, "a", dfd, "b", RENAME_NOREPLACE) || fstatat(dfd, "b", &st, AT_SYMLINK_NOFOLLOW) ||
           renameat2(dfd, "b", dfd, "a", RENAME_NOREPLACE);
}

/* A broker process at the other end of a socket pair: answers each byte with one byte
 * (request 'r'), or with a new sealed memory file passed with SCM_RIGHTS (request 'm'). */
static int broker_fd = -1;
static pid_t broker_pid = -1;

static void broker(int s)
{
    char c;
    while (read(s, &c, 1) == 1) {
        if (c == 'r') {
            if (write(s, &c, 1) != 1)
                _exit(1);
            continue;
        }
        int m = memfd_create("floor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (m < 0 || ftruncate(m, SEGMENT_SIZE) || fallocate(m, 0, 0, SEGMENT_RESERVED) ||
            fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
            _exit(1);
        char cbuf[CMSG_SPACE(sizeof(int))];
        memset(cbuf, 0, sizeof cbuf);
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &m, sizeof m);
        if (sendmsg(s, &mh, 0) != 1)
            _exit(1);
        close(m);
    }
    _exit(0);
}

static int b_round_trip(long i)
{
    char c = 'r';
    (void)i;
    return write(broker_fd, &c, 1) == 1 && read(broker_fd, &c, 1) == 1 ? 0 : -1;
}

/* A segment asked of the broker, received, mapped, written, unmapped and closed. */
static int b_segment(long i)
{
    char c = 'm', cbuf[CMSG_SPACE(sizeof(int))];
    (void)i;
    if (write(broker_fd, &c, 1) != 1)
        return -1;
    struct iovec iov = { .iov_base = &c, .iov_len = 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    if (recvmsg(broker_fd, &mh, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    char *m = mmap(NULL, SEGMENT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    memset(m, 0, SEGMENT_RESERVED);
    return munmap(m, SEGMENT_SIZE);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: floor DIR [OPS]\n");
        return 2;
    }
    if (argc > 2)
        ops = atol(argv[2]);
    if (mkdir(argv[1], 0700) != 0 || (dfd = open(argv[1], O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "floor: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int a = openat(dfd, "a", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (a < 0)
        return 1;
    close(a);
    key = (key_t)(0x46000000 + getpid() % 0xffffff);
    snprintf(mq_name, sizeof mq_name, "/floor-%d", (int)getpid());

    printf("kernel (the bar: 2x these)\n");
    double kp = row("  msgget(IPC_PRIVATE) + IPC_RMID", k_private);
    double kk = row("  msgget(key, IPC_CREAT|IPC_EXCL) + IPC_RMID", k_keyed);
    double kq = row("  mq_open(O_CREAT|O_EXCL) + mq_close + mq_unlink", k_posix);
    printf("file operations on %s\n", argv[1]);
    double rn = row("  renameat2 (one)", f_rename);
    if (renamed)
        f_rename(0);
    row("  fstatat", f_fstatat);
    row("  readlinkat of a missing link", f_readlink_missing);
    double sl = row("  symlinkat + unlinkat", f_symlink);
    double md = row("  mkdirat + unlinkat(AT_REMOVEDIR)", f_mkdir);
    double ff = row("  mknodat(S_IFIFO) + unlinkat", f_fifo);
    double ln = row("  linkat + unlinkat", f_link);
    double fl = row("  openat(O_CREAT|O_EXCL) + close + unlinkat", f_file);
    double sg = row("  segment: create, size, reserve, map, write, unmap, remove", f_segment);
    double sp = row("  System V spare cycle: rename, fstatat, rename", f_spare_cycle);
    double br = 0, bs = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    for (int split = 0; split < (cpus > 1 ? 2 : 1); split++) {
        /* Both on CPU 0, then (where there are two) the broker on CPU 1: a wake-up across CPUs
         * costs far more here than one on the same CPU. */
        int pair[2];
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            break;
        if ((broker_pid = fork()) < 0)
            break;
        if (broker_pid == 0) {
            CPU_ZERO(&set);
            CPU_SET(split, &set);
            sched_setaffinity(0, sizeof set, &set);
            close(pair[0]);
            broker(pair[1]);
        }
        close(pair[1]);
        broker_fd = pair[0];
        printf("a broker process (the issue's alternative), over a socket pair, %s\n", split ? "on another CPU" : "on the same CPU");
        double r = row("  round trip, one byte each way", b_round_trip);
        double m = row("  sealed memfd segment handed over, mapped, written, unmapped", b_segment);
        if (!split)
            br = r, bs = m;
        close(broker_fd);
        waitpid(broker_pid, NULL, 0);
    }
    unlinkat(dfd, "a", 0);
    rmdir(argv[1]);
    if (failed)
        return 1;
    printf("floors against the kernel (x = emulation floor / kernel time)\n");
    if (kp > 0 && kk > 0 && kq > 0) {
        printf("  %-56s %8.0f ns  %5.1fx\n", "System V private, spare (2 renames + fstatat)", sp, sp / kp);
        printf("  %-56s %8.0f ns  %5.1fx\n", "System V keyed, spare + key link (+ symlink, unlink)", sp + sl, (sp + sl) / kk);
        printf("  %-56s %8.0f ns  %5.1fx\n", "System V private, new file (segment)", sg, sg / kp);
        /* A POSIX queue today: its directory, FIFO and second name, meta file, segment, and the
         * renames into posix/ and posix-dead/. */
        double posix = md + ff + ln + fl + sg + 2 * rn;
        printf("  %-56s %8.0f ns  %5.1fx\n", "POSIX, directory + FIFO + link + meta + segment + 2 renames", posix, posix / kq);
        printf("  %-56s %8.0f ns  %5.1fx\n", "any design: one rename per create and per remove", 2 * rn, 2 * rn / kp);
        if (br > 0)
            printf("  %-56s %8.0f ns  %5.1fx\n", "a broker on the same CPU: a round trip per create, remove", 2 * br, 2 * br / kp);
        if (bs > 0)
            printf("  %-56s %8.0f ns  %5.1fx\n", "the same, handing over a new sealed segment", bs + br, (bs + br) / kp);
    }
    return 0;
}

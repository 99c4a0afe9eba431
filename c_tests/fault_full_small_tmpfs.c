/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): there is no storage of mqshim's to run out of on the
 * client (the server's memory is its own, maxmemory), and the reference's limits come from
 * sysctls written in the child, which the Redis backend does not take (see the sysctl_ tests). */
/* Shown failing on the code before space was reserved: the child died of SIGBUS in the 5th
 * mq_open (O_CREAT), which mapped a data file in the full tmpfs and wrote to a page the tmpfs
 * could not provide. */
/* When the storage behind the queues runs out, calls fail with an errno and nothing dies: the
 * kernel refuses a create past its limits (ENOSPC at queues_max or msgmni, EMFILE past
 * RLIMIT_MSGQUEUE, ENOMEM) and a send into a full queue (EAGAIN with O_NONBLOCK or IPC_NOWAIT),
 * and every message it accepted can be received. An emulation whose queues are files in a tmpfs
 * must do the same when the tmpfs is full: a page it never allocated must not become a SIGBUS.
 *
 * The body runs in a child. On the kernel configurations the child enters a fresh user and IPC
 * namespace with queues_max = msgmni = 6, so the kernel's limits end the creates. Under the
 * emulation the child enters a private mount namespace, mounts a 1 MiB tmpfs on a fresh
 * directory next to $MQSHIM_DIR (removed afterwards) and re-executes the test with MQSHIM_DIR
 * inside it, so the tmpfs ends them. The body creates POSIX queues (maxmsg 10, msgsize 1024)
 * and System V queues, one of each by turn, until each API fails (at most 64 each); then sends
 * 1 KiB messages round-robin, one to each queue that has not failed yet, until every queue has
 * failed once (full, or out of space); then receives everything back and removes the queues,
 * and creates and removes one more of each. The transcript says whether every failure had an
 * allowed errno and every accepted message came back intact and in order (never counts, which
 * depend on the storage); a signal death shows as the child's exit. */
#include "harness.h"
#include "mqt_fault.h"
#include "mqt_limits.h"
#include <sys/mount.h>

#define KERNEL_LIMIT "6"                    /* queues_max and msgmni in the reference */
#define TMPFS_SIZE "size=1m"
#define MAX_QUEUES 64                       /* per API */
#define MAXMSG 10
#define MSGSIZE 1024

struct sysv_msg {
    long mtype;
    char mtext[MSGSIZE];
};

static mqd_t posix_q[MAX_QUEUES];
static int sysv_id[MAX_QUEUES];
static long posix_sent[MAX_QUEUES], sysv_sent[MAX_QUEUES];

/* A message's contents: which API and queue, and its sequence number in that queue. */
static void fill(char *buf, int api, int queue, long seq)
{
    for (int i = 0; i < MSGSIZE; i++)
        buf[i] = (char)(api * 131 + queue * 31 + seq * 7 + i);
}

static int allowed_create_errno(int e)
{
    return e == ENOSPC || e == ENOMEM || e == EMFILE;
}

static int allowed_send_errno(int e)
{
    return e == EAGAIN || e == ENOSPC || e == ENOMEM;
}

static void body(void)
{
    struct mq_attr attr = { 0 };
    attr.mq_maxmsg = MAXMSG;
    attr.mq_msgsize = MSGSIZE;
    int nposix = 0, nsysv = 0;
    int posix_failed = 0, sysv_failed = 0;
    int create_errnos_ok = 1;

    /* Create, one of each API by turn, until each has failed. */
    for (int i = 0; i < MAX_QUEUES && !(posix_failed && sysv_failed); i++) {
        if (!posix_failed) {
            char tag[16];
            snprintf(tag, sizeof tag, "full%d", i);
            mqd_t q = mq_open(t_qname(tag), O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr);
            if (q == (mqd_t)-1) {
                posix_failed = 1;
                if (!allowed_create_errno(errno)) {
                    create_errnos_ok = 0;
                    fprintf(stderr, "mq_open #%d: %s\n", i, t_errno_name(errno));
                }
            } else {
                posix_q[nposix++] = q;
            }
        }
        if (!sysv_failed) {
            char tag[16];
            snprintf(tag, sizeof tag, "full%d", i);
            uint32_t h = t_fnv1a(tag, t_fnv1a(t_runid, 2166136261u));
            key_t key = (key_t)(0x10000000u + h % 0x60000000u);
            char k[32];
            snprintf(k, sizeof k, "0x%08x", (unsigned)key);
            t_record_cleanup("msgkey", k);
            int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
            if (id < 0) {
                sysv_failed = 1;
                if (!allowed_create_errno(errno)) {
                    create_errnos_ok = 0;
                    fprintf(stderr, "msgget #%d: %s\n", i, t_errno_name(errno));
                }
            } else {
                sysv_id[nsysv++] = id;
            }
        }
    }
    t_check("created at least one queue of each API", nposix > 0 && nsysv > 0);
    t_check("every create failure has an allowed errno (ENOSPC, ENOMEM, EMFILE)", create_errnos_ok);

    /* Send round-robin until every queue has failed once. */
    int send_errnos_ok = 1;
    int posix_done[MAX_QUEUES] = { 0 }, sysv_done[MAX_QUEUES] = { 0 };
    int open_queues = nposix + nsysv;
    struct sysv_msg m;
    char buf[MSGSIZE];
    while (open_queues > 0) {
        for (int i = 0; i < nposix; i++) {
            if (posix_done[i])
                continue;
            fill(buf, 0, i, posix_sent[i]);
            if (mq_send(posix_q[i], buf, MSGSIZE, 0) == 0) {
                posix_sent[i]++;
                continue;
            }
            if (!allowed_send_errno(errno)) {
                send_errnos_ok = 0;
                fprintf(stderr, "mq_send q%d #%ld: %s\n", i, posix_sent[i], t_errno_name(errno));
            }
            posix_done[i] = 1;
            open_queues--;
        }
        for (int i = 0; i < nsysv; i++) {
            if (sysv_done[i])
                continue;
            m.mtype = 1 + sysv_sent[i] % 3;
            fill(m.mtext, 1, i, sysv_sent[i]);
            if (msgsnd(sysv_id[i], &m, MSGSIZE, IPC_NOWAIT) == 0) {
                sysv_sent[i]++;
                continue;
            }
            if (!allowed_send_errno(errno)) {
                send_errnos_ok = 0;
                fprintf(stderr, "msgsnd q%d #%ld: %s\n", i, sysv_sent[i], t_errno_name(errno));
            }
            sysv_done[i] = 1;
            open_queues--;
        }
    }
    t_check("every send failure has an allowed errno (EAGAIN, ENOSPC, ENOMEM)", send_errnos_ok);

    /* Receive everything back: as many as were sent, intact, in order; then nothing more. */
    int received_ok = 1;
    char want[MSGSIZE];
    for (int i = 0; i < nposix; i++) {
        for (long seq = 0; seq < posix_sent[i]; seq++) {
            unsigned prio;
            ssize_t n = mq_receive(posix_q[i], buf, MSGSIZE, &prio);
            fill(want, 0, i, seq);
            if (n != MSGSIZE || memcmp(buf, want, MSGSIZE) != 0) {
                received_ok = 0;
                fprintf(stderr, "mq_receive q%d #%ld: %zd %s\n", i, seq, n,
                        n < 0 ? t_errno_name(errno) : "(bad contents)");
                break;
            }
        }
        if (mq_receive(posix_q[i], buf, MSGSIZE, NULL) != -1 || errno != EAGAIN)
            received_ok = 0;
    }
    for (int i = 0; i < nsysv; i++) {
        for (long seq = 0; seq < sysv_sent[i]; seq++) {
            ssize_t n = msgrcv(sysv_id[i], &m, MSGSIZE, 0, IPC_NOWAIT);
            fill(want, 1, i, seq);
            if (n != MSGSIZE || m.mtype != 1 + seq % 3 || memcmp(m.mtext, want, MSGSIZE) != 0) {
                received_ok = 0;
                fprintf(stderr, "msgrcv q%d #%ld: %zd %s\n", i, seq, n,
                        n < 0 ? t_errno_name(errno) : "(bad contents)");
                break;
            }
        }
        if (msgrcv(sysv_id[i], &m, MSGSIZE, 0, IPC_NOWAIT) != -1 || errno != ENOMSG)
            received_ok = 0;
    }
    t_check("every accepted message received intact and in order, then none", received_ok);

    /* Remove everything; then the space is there again for one more of each. */
    int removed_ok = 1;
    for (int i = 0; i < nposix; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "full%d", i);
        removed_ok &= mq_close(posix_q[i]) == 0;
        removed_ok &= mq_unlink(t_qname(tag)) == 0;
    }
    for (int i = 0; i < nsysv; i++)
        removed_ok &= msgctl(sysv_id[i], IPC_RMID, NULL) == 0;
    t_check("every queue removed", removed_ok);

    int again_ok = 1;
    mqd_t q = mq_open(t_qname("again"), O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr);
    again_ok &= q != (mqd_t)-1;
    if (q != (mqd_t)-1) {
        fill(buf, 0, 99, 0);
        again_ok &= mq_send(q, buf, MSGSIZE, 0) == 0;
        again_ok &= mq_receive(q, buf, MSGSIZE, NULL) == MSGSIZE;
        again_ok &= mq_close(q) == 0;
        again_ok &= mq_unlink(t_qname("again")) == 0;
    }
    int id = t_msgget_new("again", 0600, NULL);
    m.mtype = 1;
    again_ok &= msgsnd(id, &m, MSGSIZE, IPC_NOWAIT) == 0;
    again_ok &= msgrcv(id, &m, MSGSIZE, 0, IPC_NOWAIT) == MSGSIZE;
    again_ok &= msgctl(id, IPC_RMID, NULL) == 0;
    t_check("after removal, a queue of each API is created and used", again_ok);
}

/* Under the emulation, in the child: a private mount namespace with a small tmpfs on `dir`,
 * the namespace inside it, and the test re-executed there. Does not return. */
static void enter_small_tmpfs(const char *dir, char *argv0)
{
    T_REQUIRE(unshare(CLONE_NEWNS) == 0);
    T_REQUIRE(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    T_REQUIRE(mount("mqt-small", dir, "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_SIZE ",mode=0755") == 0);
    char ns[4200];
    snprintf(ns, sizeof ns, "%s/ns", dir);
    T_REQUIRE(setenv("MQSHIM_DIR", ns, 1) == 0);
    char *args[] = { argv0, (char *)"--phase", (char *)"small-tmpfs", NULL };
    fflush(NULL);
    execv("/proc/self/exe", args);
    printf("HARNESS: re-exec failed (%s)\n", t_errno_name(errno));
    exit(97);
}

/* On the kernel configurations, in the child: a fresh user and IPC namespace whose limits end
 * the creates. */
static void enter_small_ipc_namespace(void)
{
    lim_new_user_namespace();
    lim_write_file("/proc/sys/fs/mqueue/queues_max", KERNEL_LIMIT);
    lim_write_file("/proc/sys/kernel/msgmni", KERNEL_LIMIT);
}

int main(int argc, char **argv)
{
    if (shim_phase(argc, argv, NULL)) {     /* the re-executed child, in the small tmpfs */
        body();
        shim_phase_end();
    }
    const char *ns = fault_namespace();
    char dir[4096] = "";
    if (ns) {
        snprintf(dir, sizeof dir, "%s.small-tmpfs-%d", ns, (int)getpid());
        T_REQUIRE(mkdir(dir, 0700) == 0);
    }
    t_child c = t_spawn();
    if (c.pid == 0) {
        if (ns)
            enter_small_tmpfs(dir, argv[0]);
        enter_small_ipc_namespace();
        body();
        t_finished = 1;
        exit(t_child_status());
    }
    t_join(&c, 0);
    if (ns)
        rmdir(dir);
    return t_finish();
}

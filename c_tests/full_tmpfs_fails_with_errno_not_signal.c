/* A full filesystem under the queues is an errno, never a signal. Under the emulation the
 * namespace is put on a tiny tmpfs of its own (a private mount namespace); then, as on the
 * kernel: System V queues are created, then filled, until something fails; then POSIX queues
 * are created and filled (while the System V ones still hold their memory). Every failure must
 * be one the kernel can give when memory or a limit runs out (ENOMEM, ENOSPC, EMFILE, EAGAIN)
 * and the process must survive; where each phase stops differs (the kernel's limits are not a
 * 512 KiB tmpfs), so only that is printed. */
#include "harness.h"
#include <sched.h>
#include <sys/mount.h>

#define SYSV_QUEUES 48
#define POSIX_QUEUES 16

static int unexpected;

static void failed(const char *what, int e)
{
    if (e == ENOMEM || e == ENOSPC || e == EMFILE || e == EAGAIN)
        return;
    unexpected++;
    printf("%s -> -1 %s  !! not an out-of-room errno\n", what, t_errno_name(e));
}

/* Under the emulation: the namespace directory becomes a 512 KiB tmpfs seen by this process
 * only (before the first call opens it). */
static void shrink_namespace(void)
{
    const char *dir = getenv("MQSHIM_DIR");
    if (!dir || !*dir)
        return;
    T_REQUIRE(unshare(CLONE_NEWNS) == 0);
    T_REQUIRE(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    T_REQUIRE(mount("mqt-full", dir, "tmpfs", 0, "size=512k,mode=0755") == 0);
}

int main(void)
{
    shrink_namespace();
    static char big[8192];
    memset(big, 'x', sizeof big);

    int ids[SYSV_QUEUES], nids = 0;
    for (int i = 0; i < SYSV_QUEUES; i++) {
        errno = 0;
        int id = msgget(IPC_PRIVATE, 0600);
        if (id < 0) {
            failed("msgget", errno);
            break;
        }
        ids[nids++] = id;
    }
    /* Filled only once all exist, so that the room runs out as a message needs it. */
    struct { long mtype; char text[8192]; } *m = malloc(sizeof *m);
    T_REQUIRE(m != NULL);
    m->mtype = 1;
    memcpy(m->text, big, sizeof big);
    for (int i = 0; i < nids; i++) {
        int sent = 0, stopped;
        for (;;) {
            errno = 0;
            if (msgsnd(ids[i], m, sent % 2 ? 100 : sizeof big, IPC_NOWAIT) != 0) {
                stopped = errno;
                failed("msgsnd", stopped);
                break;
            }
            sent++;
        }
        if (stopped != EAGAIN)
            break;
    }
    free(m);
    t_check("System V: created and filled queues until out of room", nids > 0);

    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 1024 };
    mqd_t qs[POSIX_QUEUES];
    int nqs = 0;
    char tag[16];
    for (int i = 0; i < POSIX_QUEUES; i++) {
        snprintf(tag, sizeof tag, "full%d", i);
        errno = 0;
        mqd_t q = mq_open(t_qname(tag), O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &a);
        if (q == (mqd_t)-1) {
            failed("mq_open", errno);
            break;
        }
        qs[nqs++] = q;
        for (;;) {
            errno = 0;
            if (mq_send(q, big, 1024, 1) != 0) {
                failed("mq_send", errno);
                break;
            }
        }
    }
    t_check("POSIX: created and filled queues until out of room or done", 1);
    t_check("every failure was ENOMEM, ENOSPC, EMFILE or EAGAIN", unexpected == 0);

    for (int i = 0; i < nqs; i++) {
        snprintf(tag, sizeof tag, "full%d", i);
        mq_close(qs[i]);
        mq_unlink(t_qname(tag));
    }
    for (int i = 0; i < nids; i++)
        msgctl(ids[i], IPC_RMID, NULL);
    t_say("survived");
    return t_finish();
}

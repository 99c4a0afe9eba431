/* mqt: env MQSHIM_SYSCALLS=trap static */
/* The POSIX queue system calls made with syscall(2) behave as the kernel's: open (name without
 * the '/', which the system call rejects inside a name with EACCES), send and receive in
 * priority order, a timed receive that expires, O_NONBLOCK set through mq_getsetattr, a
 * notification, unlink, EBADF, EFAULT for bad pointers, and EINTR or a restart when a signal
 * interrupts a blocked receive; and raw calls and library calls mix on one descriptor. Under mqshim this needs MQSHIM_SYSCALLS=trap (without it the
 * kernel gets an emulated descriptor and says EBADF). */
#include "harness.h"
#include "mqt_raw.h"

static volatile sig_atomic_t caught;
static void on_usr1(int sig) { (void)sig; caught++; }

static void handle_usr1(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}

int main(void)
{
    const char *name = t_qname("raw");
    struct mq_attr a = { .mq_maxmsg = 3, .mq_msgsize = 16 }, got;
    char buf[16];
    unsigned prio = 0;

    EXPECT_ERR(raw_mq_open("a/b", O_RDWR | O_CREAT, 0600, &a), EACCES);
    int q = (int)EXPECT_OK(raw_mq_open(name + 1, O_RDWR | O_CREAT | O_EXCL, 0600, &a));
    EXPECT_ERR(raw_mq_open(name + 1, O_RDWR | O_CREAT | O_EXCL, 0600, &a), EEXIST);
    int q2 = (int)EXPECT_OK(raw_mq_open(name + 1, O_RDONLY, 0, NULL));

    /* A descriptor from mq_open(3), used by the system calls, and the other way round. */
    const char *lname = t_qname("lib");
    mqd_t lq = t_mq_create("lib", 2, 8, 0);
    EXPECT_EQ(raw_mq_timedsend(lq, "raw", 3, 5, NULL), 0);
    EXPECT_EQ(mq_receive(lq, buf, 8, &prio), 3);
    t_say("library got '%.3s' prio %u", buf, prio);
    EXPECT_EQ(mq_send(q, "lib", 3, 6), 0);
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 3);
    t_say("raw got '%.3s' prio %u", buf, prio);
    EXPECT_EQ(mq_close(lq), 0);
    EXPECT_EQ(mq_unlink(lname), 0);

    EXPECT_EQ(raw_mq_timedsend(q, "low", 3, 1, NULL), 0);
    EXPECT_EQ(raw_mq_timedsend(q, "high", 4, 9, NULL), 0);
    EXPECT_ERR(raw_mq_timedsend(q, "big", 17, 0, NULL), EMSGSIZE);
    EXPECT_ERR(raw_mq_timedsend(q, (const void *)8, 3, 0, NULL), EFAULT);
    EXPECT_EQ(raw_mq_getsetattr(q, NULL, &got), 0);
    t_say("maxmsg=%ld msgsize=%ld curmsgs=%ld flags=%lx", got.mq_maxmsg, got.mq_msgsize, got.mq_curmsgs, got.mq_flags);
    EXPECT_EQ(raw_mq_getsetattr(q, NULL, NULL), 0);
    EXPECT_ERR(raw_mq_getsetattr(q, NULL, (struct mq_attr *)8), EFAULT);

    EXPECT_ERR(raw_mq_timedreceive(q2, buf, 8, &prio, NULL), EMSGSIZE);
    EXPECT_EQ(raw_mq_timedreceive(q2, buf, sizeof buf, &prio, NULL), 4);
    t_say("got '%.4s' prio %u", buf, prio);
    EXPECT_EQ(raw_mq_timedreceive(q2, buf, sizeof buf, &prio, NULL), 3);
    t_say("got '%.3s' prio %u", buf, prio);
    struct timespec past = t_deadline_ms(-1000);
    EXPECT_ERR(raw_mq_timedreceive(q2, buf, sizeof buf, &prio, &past), ETIMEDOUT);
    EXPECT_ERR(raw_mq_timedreceive(q2, buf, sizeof buf, &prio, (const struct timespec *)8), EFAULT);

    struct mq_attr nonblock = { .mq_flags = O_NONBLOCK };
    EXPECT_EQ(raw_mq_getsetattr(q2, &nonblock, &got), 0);
    t_say("old flags=%lx", got.mq_flags);
    EXPECT_ERR(raw_mq_timedreceive(q2, buf, sizeof buf, &prio, NULL), EAGAIN);
    struct mq_attr blocking = { .mq_flags = 0 };
    EXPECT_EQ(raw_mq_getsetattr(q2, &blocking, NULL), 0);

    /* A notification: SIGUSR2 queued with the sender's message on empty -> non-empty. */
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, NULL);
    struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
    sev.sigev_value.sival_int = 42;
    EXPECT_EQ(raw_mq_notify(q, &sev), 0);
    EXPECT_ERR(raw_mq_notify(q, &sev), EBUSY);
    EXPECT_ERR(raw_mq_notify(q, (const struct sigevent *)8), EFAULT);
    EXPECT_EQ(raw_mq_timedsend(q, "n", 1, 0, NULL), 0);
    siginfo_t si;
    EXPECT_EQ(sigwaitinfo(&usr2, &si), SIGUSR2);
    t_say("notified: code SI_MESGQ %s, value %d", si.si_code == SI_MESGQ ? "yes" : "no", si.si_value.sival_int);
    EXPECT_EQ(raw_mq_notify(q, NULL), 0);
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 1);

    /* A blocked receive and a signal: EINTR without SA_RESTART, restarted with it. */
    pid_t self = getpid();
    handle_usr1(0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_wait_blocked(self);
        kill(self, SIGUSR1);
        exit(t_child_status());
    }
    EXPECT_ERR(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), EINTR);
    t_join(&c, 0);
    handle_usr1(SA_RESTART);
    c = t_spawn();
    if (c.pid == 0) {
        t_wait_blocked(self);
        kill(self, SIGUSR1);
        t_wait_blocked(self);
        EXPECT_EQ(mq_send(q, "r", 1, 0), 0);
        exit(t_child_status());
    }
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 1);
    t_join(&c, 0);
    t_say("handler ran: %d times", (int)caught);

    EXPECT_EQ(close(q2), 0);
    EXPECT_ERR(raw_mq_timedsend(q2, "x", 1, 0, NULL), EBADF);
    EXPECT_ERR(raw_mq_getsetattr(q2, NULL, &got), EBADF);
    EXPECT_EQ(close(q), 0);
    EXPECT_EQ(raw_mq_unlink(name + 1), 0);
    EXPECT_ERR(raw_mq_unlink(name + 1), ENOENT);
    EXPECT_ERR(raw_mq_unlink((const char *)8), EFAULT);
    return t_finish();
}

/* A realtime signal registered with mq_notify (realtime signals queue: each one sent is one
 * received) is delivered exactly once when a message arrives on the empty queue, with its
 * value, whether this process sends it or another one does. Under the emulation this process's
 * own send signals it at once, and another process's goes through this process's helper
 * thread: neither may also deliver what the other did. */
#include "harness.h"

static int take(const sigset_t *set, siginfo_t *info, long ms)
{
    struct timespec wait = { ms / 1000, (ms % 1000) * 1000000L };
    return sigtimedwait(set, info, &wait);
}

int main(void)
{
    const char *name = t_qname("rtonce");
    mqd_t q = t_mq_create("rtonce", 4, 16, O_NONBLOCK);
    int sig = SIGRTMIN + 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = sig;
    char buf[16];
    siginfo_t info;
    for (int round = 0; round < 3; round++) {
        int by_other = round % 2 == 1;
        ev.sigev_value.sival_int = 100 + round;
        EXPECT_EQ(mq_notify(q, &ev), 0);
        if (by_other) {
            pid_t c = t_fork();
            if (c == 0) {
                mqd_t mine = mq_open(name, O_WRONLY);
                int ok = mine != (mqd_t)-1 && mq_send(mine, "other", 5, 0) == 0;
                exit(ok ? 0 : 1);
            }
            EXPECT_EQ(t_reap(c), 0);
        } else {
            EXPECT_EQ(mq_send(q, "mine", 4, 0), 0);
        }
        int got = take(&set, &info, 2000);
        t_check(by_other ? "the other's send: signal received" : "this process's send: signal received", got == sig);
        if (got == sig)
            t_say("value %d", info.si_value.sival_int);
        t_check("and only once", take(&set, &info, 100) == -1 && errno == EAGAIN);
        EXPECT_EQ((int)mq_receive(q, buf, sizeof buf, NULL) > 0, 1);
    }
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

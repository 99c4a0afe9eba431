/* mqt: static */
/* When the registered process closes its only descriptor of the queue, its registration goes
 * with it: a message another process then sends fires nothing (no signal within 200 ms), and
 * that process may register in its place. (Under `mqshim run` a static program's close is not
 * seen: the supervisor's relay, which delivers a static program's notifications, checks that the
 * program still has a descriptor of the queue; before, the signal came.) */
#include "harness.h"

int main(void)
{
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    const char *name = t_qname("only");
    mqd_t q = t_mq_create("only", 4, 16, 0);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    EXPECT_EQ(mq_notify(q, &sev), 0);
    EXPECT_EQ(mq_close(q), 0);

    t_say("-- another process sends, then registers");
    t_child c = t_spawn();
    if (c.pid == 0) {
        mqd_t w = mq_open(name, O_WRONLY);
        T_REQUIRE(w != (mqd_t)-1);
        EXPECT_EQ(mq_send(w, "x", 1, 0), 0);
        struct sigevent none = { .sigev_notify = SIGEV_NONE };
        EXPECT_EQ(mq_notify(w, &none), 0);
        EXPECT_EQ(mq_close(w), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    struct timespec wait = { .tv_sec = 0, .tv_nsec = 200000000 };
    t_say("signal after the close: %s", sigtimedwait(&usr1, NULL, &wait) == SIGUSR1 ? "yes" : "none");
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

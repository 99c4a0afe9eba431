/* A registration does not outlive its owner: when the registering process exits (its
 * descriptors are closed), the registration is removed without firing, so another process can
 * register — already while the dead owner is an unreaped zombie, and of course after it was
 * reaped. This holds whether the owner registered through an inherited descriptor or one it
 * opened itself, and for SIGEV_SIGNAL, SIGEV_NONE and SIGEV_THREAD registrations. */
#include "harness.h"

static void thread_fn(union sigval v) { (void)v; }

static const char *kinds[] = { "SIGEV_SIGNAL", "SIGEV_NONE", "SIGEV_THREAD" };

static void round_with(mqd_t q, const char *name, int kind, int own_descriptor)
{
    t_say("-- the owner is a child registered %s through %s descriptor", kinds[kind],
          own_descriptor ? "its own" : "an inherited");
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    switch (kind) {
    case 0: sev.sigev_notify = SIGEV_SIGNAL; sev.sigev_signo = SIGUSR1; break;
    case 1: sev.sigev_notify = SIGEV_NONE; break;
    default: sev.sigev_notify = SIGEV_THREAD; sev.sigev_notify_function = thread_fn; break;
    }
    t_chan registered = t_chan_open(), go = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        mqd_t d = q;
        if (own_descriptor)
            d = EXPECT_OK(mq_open(name, O_RDONLY));
        EXPECT_EQ(mq_notify(d, &sev), 0);
        t_chan_post(&registered);
        t_chan_wait(&go);
        exit(t_child_status());                 /* exits still registered */
    }
    t_chan_wait(&registered);
    struct sigevent none = { .sigev_notify = SIGEV_NONE };
    t_say("while the owner lives:");
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    t_chan_post(&go);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do
        r = waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOWAIT);
    while (r < 0 && errno == EINTR);
    t_check("the owner has exited (not yet reaped)", r == 0 && si.si_code == CLD_EXITED);
    t_say("the zombie owner holds nothing:");
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    t_join(&c, 0);
    t_say("after reaping:");
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
}

int main(void)
{
    const char *name = t_qname("notifyexit");
    mqd_t q = t_mq_create("notifyexit", 2, 8, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);         /* the children inherit it blocked */

    for (int kind = 0; kind < 3; kind++)
        round_with(q, name, kind, 0);
    round_with(q, name, 0, 1);

    t_say("-- the queue works as before");
    EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_check("curmsgs is 1", attr.mq_curmsgs == 1);
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

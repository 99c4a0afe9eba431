/* A notification fires only when a message arrives on an empty queue, and only once. Registering
 * while the queue holds messages fires nothing, nor do sends into the non-empty queue, nor does
 * the queue becoming empty; the first send after it emptied fires it. After firing the
 * registration is gone: the next empty -> non-empty change (here caused by another process)
 * sends nothing, and registering again succeeds. SIGEV_NONE registrations are one-shot too:
 * the first message on the empty queue uses them up. */
#include "harness.h"

/* A realtime signal: they queue, so a second firing would be counted, not merged. */
#define RT_SIG (SIGRTMIN + 2)

static int take_rt(int *value)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    struct timespec zero = { 0, 0 };
    siginfo_t info;
    if (sigtimedwait(&set, &info, &zero) != RT_SIG)
        return 0;
    *value = info.si_value.sival_int;
    return 1;
}

static void signals(const char *when, int want)
{
    int n = 0, v = 0, last = 0;
    while (take_rt(&v)) {
        n++;
        last = v;
    }
    if (n)
        printf("%s: %d signal(s) (sival_int %d)", when, n, last);
    else
        printf("%s: no signal", when);
    if (n != want) {
        t_failures++;
        printf("  !! MISMATCH: expected %d", want);
    }
    printf("\n");
}

static void drain(mqd_t q, int n)
{
    char buf[8];
    for (int i = 0; i < n; i++)
        EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
}

int main(void)
{
    const char *name = t_qname("notifyonce");
    mqd_t q = t_mq_create("notifyonce", 4, 8, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = 0 };
    ev.sigev_signo = RT_SIG;
    struct sigevent none = { .sigev_notify = SIGEV_NONE };

    t_say("-- registered while the queue holds a message");
    EXPECT_EQ(mq_send(q, "a", 1, 0), 0);
    ev.sigev_value.sival_int = 1;
    EXPECT_EQ(mq_notify(q, &ev), 0);
    signals("after registering on a non-empty queue", 0);
    EXPECT_EQ(mq_send(q, "b", 1, 0), 0);
    signals("after a send into the non-empty queue", 0);
    drain(q, 2);
    signals("after the queue became empty", 0);
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    EXPECT_EQ(mq_send(q, "c", 1, 0), 0);
    signals("after the first send into the empty queue", 1);
    EXPECT_EQ(mq_send(q, "d", 1, 0), 0);
    signals("after a second send", 0);
    drain(q, 2);

    t_say("-- the registration is gone after firing: a child's send into the empty queue");
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_send(q, "e", 1, 0), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    signals("after the child's send", 0);
    drain(q, 1);
    EXPECT_EQ(mq_send(q, "f", 1, 0), 0);
    signals("after another empty -> non-empty send", 0);
    drain(q, 1);

    t_say("-- registering again works, and a child's send fires it");
    ev.sigev_value.sival_int = 2;
    EXPECT_EQ(mq_notify(q, &ev), 0);
    c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_send(q, "g", 1, 0), 0);
        EXPECT_EQ(mq_send(q, "h", 1, 0), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    signals("after the child's two sends", 1);
    drain(q, 2);
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);

    t_say("-- SIGEV_NONE is one-shot too");
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    EXPECT_EQ(mq_send(q, "i", 1, 0), 0);
    t_say("used up by the first message on the empty queue:");
    EXPECT_EQ(mq_notify(q, &none), 0);
    t_say("but not by a message on the non-empty queue:");
    EXPECT_EQ(mq_send(q, "j", 1, 0), 0);
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    drain(q, 2);
    EXPECT_EQ(mq_notify(q, NULL), 0);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

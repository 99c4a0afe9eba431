/* mqt: static */
/* Every close(2) of a queue descriptor by the owner removes its notification registration,
 * even when the descriptor is a dup() of the registering one and the queue's open description
 * stays open through the original: close(dup(q)) removes it, and so does dup2() over a dup of
 * the queue descriptor (an implicit close). The original descriptor keeps working, and
 * afterwards another process can register and a message fires nothing for the old owner. */
#include "harness.h"

#define RT_SIG (SIGRTMIN + 5)

static int notes(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    struct timespec zero = { 0, 0 };
    int n = 0;
    while (sigtimedwait(&set, NULL, &zero) == RT_SIG)
        n++;
    return n;
}

static mqd_t q;

static void child_registers(void)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct sigevent none = { .sigev_notify = SIGEV_NONE };
        if (EXPECT_OK(mq_notify(q, &none)) == 0)
            EXPECT_EQ(mq_notify(q, NULL), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
}

static void send_and_count(int want)
{
    EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
    int n = notes();
    printf("notifications: %d", n);
    if (n != want) {
        t_failures++;
        printf("  !! MISMATCH: expected %d", want);
    }
    printf("\n");
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
}

int main(void)
{
    const char *name = t_qname("notifydup");
    q = t_mq_create("notifydup", 2, 8, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = RT_SIG };

    t_say("-- close(dup(q)) by the owner");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    int d = dup(q);
    T_REQUIRE(d >= 0);
    EXPECT_EQ(close(d), 0);
    t_say("another process can register:");
    child_registers();
    send_and_count(0);

    t_say("-- dup2() over a dup of q (an implicit close) by the owner");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    d = dup(q);
    int p[2];
    T_REQUIRE(d >= 0 && pipe(p) == 0);
    t_check("dup2 onto the dup's number", dup2(p[0], d) == d);
    close(p[0]);
    close(p[1]);
    close(d);
    t_say("another process can register:");
    child_registers();
    send_and_count(0);

    t_say("-- for comparison: registered and nothing closed, it fires");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    send_and_count(1);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

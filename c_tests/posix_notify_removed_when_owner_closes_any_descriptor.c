/* mqt: static */
/* The owner's registration is removed, without firing, when the owner closes *any* descriptor
 * of that queue — not only the one it registered through: opening a second descriptor and
 * closing it (mq_close or close(2)), or closing it from another thread of the owner, removes it;
 * then another process can register and a message fires nothing. Closing a descriptor of
 * another queue does not. A forked child closing its inherited copy of the registering
 * descriptor (or one it opened itself) does not remove the parent's registration: it still
 * fires. */
#include "harness.h"
#include <pthread.h>

#define RT_SIG (SIGRTMIN + 4)

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
static const char *name;
static struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL };

/* A child tries to register (and removes its own registration again if it got one). */
static void child_registers(const char *label)
{
    t_say("%s", label);
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

static void *close_in_thread(void *arg)
{
    EXPECT_EQ(mq_close(*(mqd_t *)arg), 0);
    return NULL;
}

int main(void)
{
    name = t_qname("notifyclose");
    q = t_mq_create("notifyclose", 2, 8, 0);
    const char *other_name = t_qname("notifyclose-other");
    mqd_t other = t_mq_create("notifyclose-other", 2, 8, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    sigprocmask(SIG_BLOCK, &set, NULL);
    ev.sigev_signo = RT_SIG;

    t_say("-- the owner opens a second descriptor and mq_closes it");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    mqd_t second = EXPECT_OK(mq_open(name, O_RDONLY));
    EXPECT_EQ(mq_close(second), 0);
    child_registers("another process can register now:");
    send_and_count(0);

    t_say("-- the same with close(2) on a write-only descriptor");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    second = EXPECT_OK(mq_open(name, O_WRONLY));
    EXPECT_EQ(close(second), 0);
    child_registers("another process can register now:");
    send_and_count(0);

    t_say("-- another thread of the owner closes a second descriptor");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    second = EXPECT_OK(mq_open(name, O_RDWR));
    pthread_t t;
    T_REQUIRE(pthread_create(&t, NULL, close_in_thread, &second) == 0);
    T_REQUIRE(pthread_join(t, NULL) == 0);
    EXPECT_EQ(mq_notify(q, &ev), 0);            /* not EBUSY: it was removed */
    EXPECT_EQ(mq_notify(q, NULL), 0);

    t_say("-- closing a descriptor of another queue does not remove it");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_EQ(mq_close(other), 0);
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    send_and_count(1);

    t_say("-- a forked child closes its descriptors of the queue: the registration stays");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        mqd_t own = EXPECT_OK(mq_open(name, O_RDONLY));
        EXPECT_EQ(mq_close(own), 0);
        EXPECT_EQ(mq_close(q), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    send_and_count(1);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_EQ(mq_unlink(other_name), 0);
    return t_finish();
}

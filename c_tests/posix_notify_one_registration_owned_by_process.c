/* A queue has at most one notification registration, and it belongs to the registering
 * process (not to a descriptor or a thread). While it exists every other registration is
 * EBUSY: by the owner again (same or another descriptor, any of its threads) and by another
 * process. mq_notify(fd, NULL) removes it only when called by the owner (any of its threads);
 * called by another process it silently returns 0 and the owner's registration stays — it
 * still fires on the next message. Once the owner removed it, another process can register. */
#include "harness.h"
#include <pthread.h>

static mqd_t q;
static struct sigevent ev;

static int take_usr1(siginfo_t *info)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct timespec zero = { 0, 0 };
    return sigtimedwait(&set, info, &zero) == SIGUSR1;
}

static void *thread_register(void *arg)
{
    (void)arg;
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    return NULL;
}

static void *thread_unregister(void *arg)
{
    (void)arg;
    EXPECT_EQ(mq_notify(q, NULL), 0);
    return NULL;
}

static void in_thread(void *(*fn)(void *))
{
    pthread_t t;
    T_REQUIRE(pthread_create(&t, NULL, fn, NULL) == 0);
    T_REQUIRE(pthread_join(t, NULL) == 0);
}

int main(void)
{
    const char *name = t_qname("notifyown");
    q = t_mq_create("notifyown", 4, 8, 0);
    mqd_t q2 = EXPECT_OK(mq_open(name, O_RDWR));
    char buf[8];
    siginfo_t info;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 7;
    struct sigevent none = { .sigev_notify = SIGEV_NONE };

    t_say("-- the parent registers; every further registration is EBUSY");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    t_say("through a second descriptor of the same queue:");
    EXPECT_ERR(mq_notify(q2, &ev), EBUSY);
    t_say("from another thread of the parent:");
    in_thread(thread_register);

    t_say("-- a child: registering is EBUSY, NULL silently succeeds");
    t_chan done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_ERR(mq_notify(q, &ev), EBUSY);
        EXPECT_ERR(mq_notify(q, &none), EBUSY);
        EXPECT_EQ(mq_notify(q, NULL), 0);
        EXPECT_EQ(mq_notify(q2, NULL), 0);
        EXPECT_ERR(mq_notify(q, &ev), EBUSY);
        t_chan_post(&done);
        exit(t_child_status());
    }
    t_chan_wait(&done);
    t_say("the parent's registration is still there:");
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    EXPECT_EQ(mq_send(q, "fire", 4, 0), 0);
    if (t_check("it fired: SIGUSR1 pending", take_usr1(&info)))
        t_say("sival_int %d", info.si_value.sival_int);
    t_join(&c, 0);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 4);

    t_say("-- another thread of the owner removes it with NULL");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    in_thread(thread_unregister);
    EXPECT_EQ(mq_notify(q, &none), 0);
    t_say("and the owner itself, through the other descriptor:");
    EXPECT_EQ(mq_notify(q2, NULL), 0);
    EXPECT_EQ(mq_send(q, "quiet", 5, 0), 0);
    t_check("nothing fired for a message after the removal", !take_usr1(&info));
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 5);

    t_say("-- once removed by the owner, another process can register");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    t_chan registered = t_chan_open(), checked = t_chan_open(), removed = t_chan_open();
    c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(mq_notify(q, &none), 0);
        t_chan_post(&registered);
        t_chan_wait(&checked);
        t_say("the child removes its own registration:");
        EXPECT_EQ(mq_notify(q, NULL), 0);
        t_chan_post(&removed);
        exit(t_child_status());
    }
    t_chan_wait(&registered);
    t_say("the child holds the registration:");
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    t_say("the parent's NULL does not remove the child's registration:");
    EXPECT_EQ(mq_notify(q, NULL), 0);
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    t_chan_post(&checked);
    t_chan_wait(&removed);
    t_say("after the child's NULL the parent can register:");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    t_join(&c, 0);

    EXPECT_EQ(mq_close(q2), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

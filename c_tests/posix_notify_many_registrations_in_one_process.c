/* One process may hold a notification registration on each of many queues, as the kernel
 * allows (one per queue, any number per process): here 130 SIGEV_THREAD registrations, then one
 * message on each queue; each registered function runs once, with its own queue's value. Under
 * the emulation each such registration is served by a relay thread watching at most 120 queues:
 * the 121st used to be accepted and never run, then to be refused with ENOMEM. */
#define T_MAX_OBJS 160
#include "harness.h"
#include <sched.h>
#include <stdatomic.h>

#define QUEUES 130

static atomic_int ran[QUEUES];
static atomic_int total;

static void on_message(union sigval v)
{
    atomic_fetch_add(&ran[v.sival_int], 1);
    atomic_fetch_add(&total, 1);
}

int main(void)
{
    /* The kernel's queues in an IPC namespace of the test's own (root may), so that its 130 do
     * not meet queues_max with other tests'; mqshim's namespace is MQSHIM_DIR either way. */
    if (unshare(CLONE_NEWIPC) != 0 && errno != EPERM) {
        printf("HARNESS: unshare(CLONE_NEWIPC) failed (%s)\n", t_errno_name(errno));
        return 97;
    }
    static mqd_t q[QUEUES];
    static char names[QUEUES][32];
    int registered = 0;
    for (int i = 0; i < QUEUES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "many%d", i);
        snprintf(names[i], sizeof names[i], "%s", t_qname(tag));
        q[i] = t_mq_create(tag, 1, 8, 0);
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD;
        sev.sigev_notify_function = on_message;
        sev.sigev_value.sival_int = i;
        if (mq_notify(q[i], &sev) == 0)
            registered++;
        else
            t_say("mq_notify on queue %d: %s", i, t_errno_name(errno));
    }
    t_say("registered on %d of %d queues", registered, QUEUES);
    for (int i = 0; i < QUEUES; i++)
        T_REQUIRE(mq_send(q[i], "m", 1, 0) == 0);
    /* Bounded: every function has run within 5 s. */
    for (int w = 0; w < 500 && atomic_load(&total) < registered; w++)
        usleep(10000);
    int once = 0;
    for (int i = 0; i < QUEUES; i++)
        once += atomic_load(&ran[i]) == 1;
    t_say("functions run once each: %d of %d", once, QUEUES);
    for (int i = 0; i < QUEUES; i++) {
        mq_close(q[i]);
        mq_unlink(names[i]);
    }
    return t_finish();
}

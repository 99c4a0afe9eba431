/* A queue whose last descriptor was closed is gone as soon as it is unlinked, even if the
 * process that closed it had polled it and is still alive: its RLIMIT_MSGQUEUE charge comes
 * back at the unlink. User A (a fresh uid, its limit 881 bytes) creates a 4 x 100 queue (784),
 * polls its descriptor (which makes mqshim keep the queue's readiness), closes it and stays
 * alive; another process of A unlinks the queue and creates a second 4 x 100 queue: it fits.
 * (Under mqshim a descriptor the library kept for the readiness of a polled queue must not
 * count as the queue being open once the program has none.) Kernel: setrlimit in A; mqshim:
 * MQSHIM_LIMITS=rlimit_msgqueue=881 (re-exec). */
#include "harness.h"
#include "mqt_limits.h"
#include <poll.h>

#define LIMIT_SPEC "rlimit_msgqueue=881"

int main(int argc, char **argv)
{
    (void)argc;
    int shim = lim_rlimit_reexec(LIMIT_SPEC, argv);
    uid_t uid = 75000 + t_fnv1a(t_runid, 2166136261u) % 5000;
    /* One call as root first: mqshim opens its trace file and namespace with root's rights. */
    EXPECT_ERR(mq_unlink(t_qname("pcA")), ENOENT);

    t_chan closed = t_chan_open(), done = t_chan_open();
    t_child poller = t_spawn();
    if (poller.pid == 0) {
        lim_become_uid(uid);
        if (!shim)
            lim_set_rlimit_msgqueue(881);
        mqd_t q = lim_create("pcA", 4, 100, 0600, 0);
        if (q != (mqd_t)-1) {
            EXPECT_EQ(mq_send(q, "x", 1, 0), 0);
            struct pollfd p = { .fd = q, .events = POLLIN | POLLOUT };
            EXPECT_EQ(poll(&p, 1, 0), 1);
            t_say("polled: revents%s%s", p.revents & POLLIN ? " POLLIN" : "", p.revents & POLLOUT ? " POLLOUT" : "");
            EXPECT_EQ(mq_close(q), 0);
        }
        t_say("-- closed its only descriptor, still alive");
        t_chan_post(&closed);
        t_chan_wait(&done);
        exit(t_child_status());
    }
    t_chan_wait(&closed);
    t_child other = t_spawn();
    if (other.pid == 0) {
        lim_become_uid(uid);
        if (!shim)
            lim_set_rlimit_msgqueue(881);
        EXPECT_EQ(mq_unlink(t_qname("pcA")), 0);
        t_say("-- unlinked: nobody has it open, so its charge is back");
        mqd_t b = lim_create("pcB", 4, 100, 0600, 0);
        if (b != (mqd_t)-1)
            EXPECT_EQ(mq_close(b), 0);
        EXPECT_EQ(mq_unlink(t_qname("pcB")), 0);
        exit(t_child_status());
    }
    t_join(&other, 0);
    t_chan_post(&done);
    t_join(&poller, 0);
    return t_finish();
}

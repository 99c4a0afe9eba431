/* A queue unlinked while another user still has it open goes at that user's last close: its
 * RLIMIT_MSGQUEUE charge comes back to its creator then, not later. User A (a fresh uid, its
 * limit 881 bytes) creates a 4 x 100 queue (784) with mode 0666; user B (another fresh uid)
 * opens it; A unlinks it (B still has it) — a second 4 x 100 queue is EMFILE; B closes; now the
 * second queue fits. Kernel: setrlimit(RLIMIT_MSGQUEUE, 881) in A; mqshim: the same child with
 * MQSHIM_LIMITS=rlimit_msgqueue=881 given to the process (re-exec). Under mqshim the closer is
 * not the queue's owner, so the unlinker must have left the queue removable by whoever closes
 * it last. */
#include "harness.h"
#include "mqt_limits.h"

#define LIMIT_SPEC "rlimit_msgqueue=881"

int main(int argc, char **argv)
{
    (void)argc;
    int shim = lim_rlimit_reexec(LIMIT_SPEC, argv);
    uid_t uid_a = 70000 + t_fnv1a(t_runid, 2166136261u) % 5000;
    uid_t uid_b = uid_a + 5000;
    /* One call as root first: mqshim opens its trace file and namespace with root's rights. */
    EXPECT_ERR(mq_unlink(t_qname("lcA")), ENOENT);

    t_chan created = t_chan_open(), opened = t_chan_open(), unlink_now = t_chan_open();
    t_chan unlinked = t_chan_open(), close_now = t_chan_open(), closed = t_chan_open();
    t_chan again_now = t_chan_open();
    t_child a = t_spawn();
    if (a.pid == 0) {
        lim_become_uid(uid_a);
        if (!shim)
            lim_set_rlimit_msgqueue(881);
        mqd_t q = lim_create("lcA", 4, 100, 0666, 0);
        if (q != (mqd_t)-1)
            EXPECT_EQ(mq_close(q), 0);
        t_chan_post(&created);
        t_chan_wait(&unlink_now);
        t_say("-- unlinked while the other user has it open: still charged");
        EXPECT_EQ(mq_unlink(t_qname("lcA")), 0);
        lim_create("lcB", 4, 100, 0666, EMFILE);
        t_chan_post(&unlinked);
        t_chan_wait(&again_now);
        t_say("-- after the other user's close: the charge came back");
        mqd_t b = lim_create("lcB", 4, 100, 0666, 0);
        if (b != (mqd_t)-1)
            EXPECT_EQ(mq_close(b), 0);
        EXPECT_EQ(mq_unlink(t_qname("lcB")), 0);
        exit(t_child_status());
    }
    t_chan_wait(&created);
    t_child b = t_spawn();
    if (b.pid == 0) {
        lim_become_uid(uid_b);
        mqd_t q = mq_open(t_qname("lcA"), O_WRONLY);
        printf("other user opens it -> %s\n", q == (mqd_t)-1 ? t_errno_name(errno) : "ok");
        t_chan_post(&opened);
        t_chan_wait(&close_now);
        if (q != (mqd_t)-1)
            EXPECT_EQ(mq_close(q), 0);
        t_chan_post(&closed);
        exit(t_child_status());
    }
    t_chan_wait(&opened);
    t_chan_post(&unlink_now);
    t_chan_wait(&unlinked);
    t_chan_post(&close_now);
    t_chan_wait(&closed);
    t_chan_post(&again_now);
    t_join(&a, 0);
    t_join(&b, 0);
    return t_finish();
}

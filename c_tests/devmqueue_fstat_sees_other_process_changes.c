/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* fstat of a queue descriptor shows the queue's mode and owner as they are now, also right
 * after another process changed them, many times in quick succession (so within one tick of
 * the clock), by path and, once the name is unlinked, through a descriptor it inherited: on
 * the kernel there is one inode. (mqshim keeps the mode and owner it last read for fstat and
 * must notice every change by another process.) */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

enum { ROUNDS = 60 };

/* The mode and group of round i: they differ from one round to the next. */
static mode_t mode_of(int i) { return 0600 | (i % 2 ? 0040 : 0004) | (i % 3 ? 0 : 0002); }
static gid_t group_of(int i) { return i % 2 ? 0 : DMQ_NOBODY; }

/* Rounds in which fstat of `q`, made just before the other process's change and again after
 * it, showed the change. */
static int rounds_seen(int q, t_chan *to_child, t_chan *to_parent, int first)
{
    int seen = 0;
    for (int i = first; i < first + ROUNDS; i++) {
        struct stat st;
        if (fstat(q, &st) != 0)
            return -1;
        t_chan_post(to_child);
        t_chan_wait(to_parent);
        if (fstat(q, &st) != 0)
            return -1;
        seen += (st.st_mode & 07777) == mode_of(i) && st.st_gid == group_of(i);
    }
    return seen;
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    const char *name, *path;
    mqd_t q = dmq_create("fs", 0600, &name, &path);
    t_chan to_child = t_chan_open(), to_parent = t_chan_open();

    t_child c = t_spawn();
    if (c.pid == 0) {
        int failed = 0;
        for (int i = 0; i < 2 * ROUNDS; i++) {
            t_chan_wait(&to_child);
            if (i < ROUNDS)
                failed += chmod(path, mode_of(i)) != 0 || chown(path, -1, group_of(i)) != 0;
            else
                failed += fchmod(q, mode_of(i)) != 0 || fchown(q, -1, group_of(i)) != 0;
            t_chan_post(&to_parent);
        }
        t_say("changes that failed: %d", failed);
        exit(t_child_status());
    }
    t_say("-- another process changes the mode and group by path, %d times", ROUNDS);
    t_say("rounds whose change fstat showed: %d of %d", rounds_seen(q, &to_child, &to_parent, 0), ROUNDS);
    EXPECT_EQ(mq_unlink(name), 0);
    t_say("-- then through its descriptor, the name unlinked, %d times", ROUNDS);
    t_say("rounds whose change fstat showed: %d of %d", rounds_seen(q, &to_child, &to_parent, ROUNDS), ROUNDS);
    t_join(&c, 0);
    EXPECT_EQ(mq_close(q), 0);
    return t_finish();
}

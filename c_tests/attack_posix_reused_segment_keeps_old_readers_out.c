/* A user let into a POSIX queue for a while cannot read root's later queues through what it
 * mapped then. Root makes a queue of mode 0600; another root process opens it and widens it to
 * 0666 with fchmod of its descriptor; nobody then maps, read-only, every regular file of the
 * namespace it can open (on the kernel there is none) and keeps the mappings. The other root
 * process narrows the queue back to 0600 and closes it; root closes and unlinks it, then makes
 * a queue of the same name and one of another name, mode 0600, and sends each a secret
 * message. Nobody searches its mappings for the secret: "nobody finds root's later messages:
 * no", as on the kernel. (Under the emulation a destroyed queue's segment may serve its
 * creator's next queue of the same mode and size: never one whose owner or mode was ever
 * changed, by any process, since another user may still map it.) Nobody's own mq_open of
 * root's new queues is EACCES, as on the kernel. */
#include "harness.h"
#include "mqt_attack.h"

static char secret[64];
static const char *names[2];

/* Nobody: maps what it can when told, then, when told again, searches the mappings and tries
 * root's new queues itself. */
static void attacker(mqd_t inherited, t_chan *go, t_chan *done)
{
    /* The queue is root's to destroy: nobody keeps a descriptor of it. */
    close((int)inherited);
    attack_become_nobody();
    attack_map_then_search(go, done, secret);
    /* Not through EXPECT_*: nobody's calls are not traced (it may not write root's trace). */
    for (int i = 0; i < 2; i++) {
        errno = 0;
        mqd_t q = mq_open(names[i], O_RDONLY | O_NONBLOCK);
        t_check(i ? "nobody: mq_open(root's new queue of another name) is EACCES"
                  : "nobody: mq_open(root's new queue of the old name) is EACCES",
                q == (mqd_t)-1 && errno == EACCES);
        if (q != (mqd_t)-1)
            mq_close(q);
    }
    exit(t_child_status());
}

/* Another root process: widens the queue, and narrows it back when told. (Not through
 * EXPECT_*: a queue of the Redis backend takes no fchmod, and has no file to map either.) */
static void changer(const char *name, t_chan *widened, t_chan *narrow)
{
    const char *backend = getenv("MQSHIM_BACKEND");
    int redis = backend && strcmp(backend, "redis") == 0;
    mqd_t q = mq_open(name, O_RDWR);
    T_REQUIRE(q != (mqd_t)-1);
    if (fchmod(q, 0666) != 0 && !redis)
        t_check("the other root process widens the queue", 0);
    t_chan_post(widened);
    t_chan_wait(narrow);
    if (fchmod(q, 0600) != 0 && !redis)
        t_check("the other root process narrows the queue", 0);
    EXPECT_OK(mq_close(q));
    exit(t_child_status());
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    umask(0);
    snprintf(secret, sizeof secret, "mqt-secret-%d-%ld", (int)getpid(), (long)time(NULL));
    names[0] = t_qname("widened");
    names[1] = t_qname("later");
    struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 64 };
    mqd_t q = mq_open(names[0], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    T_REQUIRE(q != (mqd_t)-1);
    /* Forked after root's first call, so that nobody inherits the trace's descriptor. */
    t_chan go = t_chan_open(), done = t_chan_open(), widened = t_chan_open(), narrow = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(q, &go, &done);
    t_child w = t_spawn();
    if (w.pid == 0)
        changer(names[0], &widened, &narrow);
    t_chan_wait(&widened);
    t_say("root: a queue, 0600, widened to 0666 by another root process");
    t_chan_post(&go);
    t_chan_wait(&done);
    t_say("-- nobody mapped what it could of the namespace");
    t_chan_post(&narrow);
    t_join(&w, 0);
    t_say("root: narrowed back to 0600 by that process, which closed it");
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(names[0]));
    t_say("root: closed and unlinked");

    mqd_t later[2];
    for (int i = 0; i < 2; i++) {
        later[i] = mq_open(names[i], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
        T_REQUIRE(later[i] != (mqd_t)-1);
        EXPECT_OK(mq_send(later[i], secret, strlen(secret), 1));
    }
    t_say("root: a new queue of the old name and one of another, 0600, a secret message in each");
    t_chan_post(&go);
    t_join(&c, 0);
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(mq_close(later[i]));
        EXPECT_OK(mq_unlink(names[i]));
    }
    return t_finish();
}

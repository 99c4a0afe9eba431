/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* Every mq_open checks the queue's mode as it is at that instant, for the access mode asked,
 * however often the process opened the queue before. Root makes queues of modes 0600, 0644,
 * 0604, 0666, 0660 and 0620; once they are a clock tick old, a child that is nobody opens each
 * O_RDONLY, O_WRONLY and O_RDWR, twice (EACCES exactly where the "other" bits lack the access;
 * a refused open leaves no descriptor behind: the lowest free one is the same after); then
 * root chmods them through /dev/mqueue, and the child's next opens — at once, and again a tick
 * later — follow the new modes. (Under mqshim the child's second and later opens use what it
 * remembers of a queue it opened, which must never outlive a change.) */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

static const int modes[] = { 0600, 0644, 0604, 0666, 0660, 0620 };
static const int changed[] = { 0606, 0646, 0602, 0664, 0666, 0600 };
#define NQ (int)(sizeof modes / sizeof modes[0])
static const char *names[NQ];

static int lowest_free_descriptor(void)
{
    int fd = dup(0);
    T_REQUIRE(fd >= 0);
    close(fd);
    return fd;
}

/* Nobody opens every queue each way; `current` holds their modes now. */
static void open_each(const char *round, const int *current)
{
    int lowest = lowest_free_descriptor();
    static const int accs[] = { O_RDONLY, O_WRONLY, O_RDWR };
    static const char *acc_names[] = { "O_RDONLY", "O_WRONLY", "O_RDWR" };
    for (int i = 0; i < NQ; i++) {
        printf("%s: %04o:", round, current[i]);
        for (int a = 0; a < 3; a++) {
            errno = 0;
            mqd_t q = mq_open(names[i], accs[a]);
            printf(" %s %s", acc_names[a], q == (mqd_t)-1 ? t_errno_name(errno) : "ok");
            if (q != (mqd_t)-1)
                T_REQUIRE(mq_close(q) == 0);
        }
        printf("\n");
    }
    t_check("no descriptor left behind", lowest_free_descriptor() == lowest);
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    char tag[16];
    for (int i = 0; i < NQ; i++) {
        snprintf(tag, sizeof tag, "oa%o", modes[i]);
        names[i] = strdup(t_qname(tag));
        EXPECT_EQ(mq_close(EXPECT_OK(mq_open(names[i], O_RDWR | O_CREAT | O_EXCL, modes[i], &attr))), 0);
    }
    t_let_the_clock_tick();

    t_chan opened = t_chan_open(), chmodded = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        open_each("first", modes);
        open_each("again", modes);
        t_chan_post(&opened);
        t_chan_wait(&chmodded);
        open_each("changed", changed);
        t_let_the_clock_tick();
        open_each("later", changed);
        exit(t_child_status());
    }
    t_chan_wait(&opened);
    for (int i = 0; i < NQ; i++)
        EXPECT_EQ(chmod(dmq_path(names[i]), changed[i]), 0);
    t_chan_post(&chmodded);
    t_join(&c, 0);
    for (int i = 0; i < NQ; i++)
        EXPECT_EQ(mq_unlink(names[i]), 0);
    return t_finish();
}

/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* opendir/readdir of /dev/mqueue list the queues of the IPC namespace, each a regular file
 * (d_type DT_REG) named as the queue without its slash, beside "." and ".." (DT_DIR); a queue
 * created or unlinked since shows in the next listing as it is then. (ls /dev/mqueue, Python's
 * os.listdir and Rust's read_dir list queues this way.) */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"
#include <dirent.h>

static const char *tags[] = { "one", "two" };

static void list(void)
{
    DIR *d = opendir("/dev/mqueue");
    t_check("opendir(\"/dev/mqueue\") succeeds", d != NULL);
    if (!d)
        return;
    int found[2] = { 0, 0 }, type[2] = { 0, 0 }, dot_types = 0, others = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            dot_types += e->d_type == DT_DIR;
            continue;
        }
        int mine = 0;
        for (int i = 0; i < 2; i++)
            if (strcmp(e->d_name, t_qname(tags[i]) + 1) == 0) {
                found[i]++;
                type[i] = e->d_type;
                mine = 1;
            }
        others += !mine;
    }
    t_say("  . and .. as directories: %d", dot_types);
    for (int i = 0; i < 2; i++)
        t_say("  queue %s: listed %d time(s)%s", tags[i], found[i], found[i] ? (type[i] == DT_REG ? ", a regular file" : ", not a regular file") : "");
    t_say("  other entries: %d", others);
    EXPECT_EQ(closedir(d), 0);
}

int main(void)
{
    dmq_private_mount();
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    t_say("-- empty");
    list();
    t_say("-- two queues");
    for (int i = 0; i < 2; i++)
        EXPECT_EQ(mq_close(EXPECT_OK(mq_open(t_qname(tags[i]), O_RDWR | O_CREAT | O_EXCL, 0600, &attr))), 0);
    list();
    t_say("-- one unlinked");
    EXPECT_EQ(mq_unlink(t_qname(tags[0])), 0);
    list();
    EXPECT_EQ(mq_unlink(t_qname(tags[1])), 0);
    return t_finish();
}

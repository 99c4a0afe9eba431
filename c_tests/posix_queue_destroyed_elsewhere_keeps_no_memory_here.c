/* A queue another process destroys keeps no memory in this one. The parent makes three queues,
 * fills them and closes them (the emulation keeps a process's lately used queues mapped, so
 * that opening one again is cheap); a child then unlinks them, and as nobody has them open they
 * are destroyed. After the parent's next mq_open (of a name that has no queue), no mapping of a
 * deleted file may be left in it: the kernel frees a destroyed queue's memory at once, and a
 * mapping here would keep the destroyed queue's memory (its whole segment, on tmpfs) alive
 * for as long as this process lives. */
#include "harness.h"

#define QUEUES 3

/* Mappings of deleted files in this process (a memfd's or System V segment's are not files a
 * queue uses, and are not counted). */
static int deleted_file_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    T_REQUIRE(f != NULL);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (path && strstr(path, " (deleted)") && strncmp(path, "/memfd:", 7) != 0 && strncmp(path, "/SYSV", 5) != 0)
            n++;
    }
    fclose(f);
    return n;
}

int main(void)
{
    char names[QUEUES][64];
    for (int i = 0; i < QUEUES; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "q%d", i);
        snprintf(names[i], sizeof names[i], "%s", t_qname(tag));
        mqd_t q = t_mq_create(tag, 4, 1024, 0);
        for (int m = 0; m < 4; m++)
            EXPECT_OK(mq_send(q, "0123456789abcdef", 16, (unsigned)m));
        EXPECT_OK(mq_close(q));
    }
    t_say("before: mappings of deleted files: %d", deleted_file_mappings());

    pid_t child = t_fork();
    if (child == 0) {
        for (int i = 0; i < QUEUES; i++)
            EXPECT_OK(mq_unlink(names[i]));
        exit(t_finish());
    }
    t_say("child exited with %d", t_reap(child));

    EXPECT_ERR(mq_open(t_qname("missing"), O_RDONLY), ENOENT);
    t_say("after the next mq_open: mappings of deleted files: %d", deleted_file_mappings());
    for (int i = 0; i < QUEUES; i++)
        EXPECT_ERR(mq_open(names[i], O_RDONLY), ENOENT);
    return t_finish();
}

/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* scandir and scandir64 of /dev/mqueue list the queues as readdir does (glibc's scandir opens
 * the directory through its own internal opendir): the filter sees every entry, the kept ones
 * come back in the comparison's order (alphasort), each a regular file (d_type DT_REG), with
 * "." and ".." as directories when no filter drops them; a filter that keeps nothing gives 0
 * entries and an array the caller frees. Only this test's queues and the dot entries are
 * counted. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"
#include <dirent.h>

static const char *tags[] = { "sc-b", "sc-c", "sc-a" };
static int seen_by_filter;

/* The test's own queues: named with its run prefix. */
static int mine(const char *name)
{
    const char *prefix = t_qname("") + 1;
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

static int keep_mine(const struct dirent *e)
{
    seen_by_filter += mine(e->d_name);
    return mine(e->d_name);
}

static int keep_mine64(const struct dirent64 *e)
{
    return mine(e->d_name);
}

static int keep_none(const struct dirent *e)
{
    (void)e;
    errno = EINVAL;   /* what a filter leaves in errno is no error of the listing */
    return 0;
}

static void show(const char *what, int n, struct dirent **list)
{
    t_say("%s -> %d entr%s", what, n, n == 1 ? "y" : "ies");
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        t_say("  %s%s", mine(name) ? name + strlen(t_qname("") + 1) : name,
              list[i]->d_type == DT_REG ? " (a regular file)" : list[i]->d_type == DT_DIR ? " (a directory)" : " (other)");
        free(list[i]);
    }
    free(list);
}

int main(void)
{
    dmq_private_mount();
    mqd_t q[3];
    for (int i = 0; i < 3; i++)
        q[i] = t_mq_create(tags[i], 2, 16, 0);

    struct dirent **list = NULL;
    int n = scandir("/dev/mqueue", &list, keep_mine, alphasort);
    show("scandir(\"/dev/mqueue\", &list, keep_mine, alphasort)", n, list);
    t_check("the filter saw each of the test's queues once", seen_by_filter == 3);

    struct dirent64 **list64 = NULL;
    n = scandir64("/dev/mqueue", &list64, keep_mine64, alphasort64);
    show("scandir64(\"/dev/mqueue\", &list64, keep_mine64, alphasort64)", n, (struct dirent **)list64);

    list = NULL;
    n = scandir("/dev/mqueue", &list, NULL, alphasort);
    int dots = 0, ours = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") == 0 || strcmp(list[i]->d_name, "..") == 0)
            dots += list[i]->d_type == DT_DIR;
        ours += mine(list[i]->d_name);
        free(list[i]);
    }
    free(list);
    t_say("scandir(\"/dev/mqueue\", &list, NULL, alphasort): . and .. as directories %d, the test's queues %d", dots, ours);

    list = NULL;
    errno = 0;
    n = scandir("/dev/mqueue", &list, keep_none, NULL);
    t_say("scandir(\"/dev/mqueue\", &list, keep_none, NULL) -> %d, errno %s, list %s", n,
          errno ? t_errno_name(errno) : "0", list ? "allocated" : "NULL");
    free(list);

    EXPECT_OK(mq_unlink(t_qname("sc-c")));
    list = NULL;
    n = scandir("/dev/mqueue", &list, keep_mine, alphasort);
    show("after unlinking sc-c: scandir(..., keep_mine, alphasort)", n, list);

    for (int i = 0; i < 3; i++)
        EXPECT_OK(mq_close(q[i]));
    EXPECT_OK(mq_unlink(t_qname("sc-a")));
    EXPECT_OK(mq_unlink(t_qname("sc-b")));
    return t_finish();
}

/* mqt: static */
/* mq_open's permission check is an ordinary owner/group/other check of the queue's mode for
 * the access mode asked for. Root creates queues with modes 0600, 0644, 0666 and 0620; a child
 * that dropped to nobody (setgroups, setgid, setuid 65534) opens each O_RDONLY, O_WRONLY and
 * O_RDWR: EACCES exactly where the "other" bits lack the access. A second child is nobody but
 * keeps root's group 0 as a supplementary group, so the "group" bits apply (0620: O_WRONLY
 * only). O_CREAT on an existing queue is checked the same way, and nobody cannot mq_unlink
 * root's queue (EACCES). */
#include "harness.h"
#include <grp.h>

#define NOBODY 65534

static const int modes[] = { 0600, 0644, 0666, 0620 };
#define NMODES (int)(sizeof modes / sizeof modes[0])
static const char *names[NMODES];

static void become_nobody(int keep_group_root)
{
    gid_t root_group = 0;
    T_REQUIRE(setgroups(keep_group_root ? 1 : 0, &root_group) == 0);
    T_REQUIRE(setgid(NOBODY) == 0);
    T_REQUIRE(setuid(NOBODY) == 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* the credential change cleared it */
}

static const char *acc_name(int acc)
{
    return acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR";
}

/* Open and report; `want_ok` is what the mode bits of the caller's class say. */
static void try_open(const char *label, const char *name, int flags, int want_ok)
{
    errno = 0;
    mqd_t q = mq_open(name, flags, 0600, NULL);
    int e = errno;
    printf("%s -> %s", label, q == (mqd_t)-1 ? t_errno_name(e) : "ok");
    if (want_ok ? q == (mqd_t)-1 : !(q == (mqd_t)-1 && e == EACCES)) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_ok ? "ok" : "EACCES");
    }
    printf("\n");
    if (q != (mqd_t)-1)
        mq_close(q);
}

static void matrix(int group_bits)
{
    static const int accs[] = { O_RDONLY, O_WRONLY, O_RDWR };
    for (int i = 0; i < NMODES; i++)
        for (int j = 0; j < 3; j++) {
            int bits = group_bits ? (modes[i] >> 3) & 7 : modes[i] & 7;
            int need = accs[j] == O_RDONLY ? 4 : accs[j] == O_WRONLY ? 2 : 6;
            char label[64];
            snprintf(label, sizeof label, "mode %04o %s", modes[i], acc_name(accs[j]));
            try_open(label, names[i], accs[j], (bits & need) == need);
        }
}

int main(void)
{
    umask(0);
    for (int i = 0; i < NMODES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "perm%04o", modes[i]);
        names[i] = t_qname(tag);
        struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = 8 };
        mqd_t q = mq_open(names[i], O_RDWR | O_CREAT | O_EXCL, modes[i], &attr);
        T_REQUIRE(q != (mqd_t)-1);
        mq_close(q);
    }
    t_say("root created queues with modes 0600 0644 0666 0620 (umask 0)");

    t_say("-- nobody, no supplementary groups (the \"other\" bits apply)");
    t_child c = t_spawn();
    if (c.pid == 0) {
        become_nobody(0);
        matrix(0);
        try_open("mode 0600 O_RDONLY|O_CREAT (exists)", names[0], O_RDONLY | O_CREAT, 0);
        try_open("mode 0644 O_RDONLY|O_CREAT (exists)", names[1], O_RDONLY | O_CREAT, 1);
        EXPECT_ERR(mq_unlink(names[2]), EACCES);
        EXPECT_ERR(mq_unlink(names[0]), EACCES);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- nobody with supplementary group root (the \"group\" bits apply)");
    c = t_spawn();
    if (c.pid == 0) {
        become_nobody(1);
        matrix(1);
        EXPECT_ERR(mq_unlink(names[2]), EACCES);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("root can still open and unlink every queue");
    for (int i = 0; i < NMODES; i++) {
        mqd_t q = EXPECT_OK(mq_open(names[i], O_RDWR));
        if (q != (mqd_t)-1)
            mq_close(q);
        EXPECT_EQ(mq_unlink(names[i]), 0);
    }
    return t_finish();
}

/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): it has no namespace directory to squat.
 *
 * Shown failing on the code before the default namespace was root's: root's creates printed
 * "-> -1 EACCES" (stderr: "refusing namespace directory '/dev/shm/mqshim': it belongs to uid
 * 65534"), and so did the third user's.
 *
 * The kernel's queues are the machine's: no user can deny them to another by using them first.
 * The emulation's default namespace, /dev/shm/mqshim, is made by whoever uses it first; a
 * hostile first user (nobody) then owns it, and before this fix could make it unusable to root
 * and everyone else (chmod 0700), or give itself access to every file made in it later (a
 * default ACL). The test runs in a child with a private mount namespace and a fresh tmpfs on
 * /dev/shm, re-executed without MQSHIM_DIR, so the default namespace is its own (the same on
 * the kernel configurations, where /dev/shm stays empty):
 *   1. nobody makes a queue of each API (0666), then, for every directory under /dev/shm it
 *      owns, sets an ACL and a default ACL granting itself everything and makes it 0700, and
 *      makes every file it owns 0600 — whatever the layout;
 *   2. root makes a queue of each API (0660), sends and receives on each, and opens nobody's;
 *   3. nobody does step 1's hardening again, then may not open root's queues (EACCES), and no
 *      file under /dev/shm that is root's opens for nobody beyond its mode's "other" bits
 *      (an ACL left behind would let it);
 *   4. a third user (65533) makes, uses and removes a queue of each API;
 *   5. root removes everything.
 * Then again with a fresh /dev/shm where nobody, before anyone used it, put a symbolic link at
 * /dev/shm/mqshim to a directory of its own: root makes, uses and removes a queue of each API,
 * then so does the third user. */
#include "harness.h"
#include "mqt_attack.h"
#include "mqt_shim.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/xattr.h>

#define THIRD_USER 65533
#define SHM "/dev/shm"

static struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };

struct sysv_msg {
    long mtype;
    char mtext[32];
};

/* An ACL granting user nobody everything (the kernel's xattr form, version 2). */
static void grant_nobody(int fd, const char *which)
{
    struct { uint16_t tag, perm; uint32_t id; } e[5] = {
        { 0x01, 7, (uint32_t)-1 },          /* ACL_USER_OBJ */
        { 0x02, 7, T_NOBODY },              /* ACL_USER nobody */
        { 0x04, 7, (uint32_t)-1 },          /* ACL_GROUP_OBJ */
        { 0x10, 7, (uint32_t)-1 },          /* ACL_MASK */
        { 0x20, 7, (uint32_t)-1 },          /* ACL_OTHER */
    };
    char buf[4 + sizeof e];
    uint32_t version = 2;
    memcpy(buf, &version, 4);
    memcpy(buf + 4, e, sizeof e);
    if (fsetxattr(fd, which, buf, sizeof buf, 0) != 0)
        fprintf(stderr, "squatter: %s: %s\n", which, t_errno_name(errno));
}

/* Step 1's hardening of one entry: everything nobody owns, whatever it is. */
static int harden(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth, (void)arg;
    if (st->st_uid != T_NOBODY)
        return S_ISDIR(st->st_mode);
    if (S_ISDIR(st->st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            grant_nobody(fd, "system.posix_acl_access");
            grant_nobody(fd, "system.posix_acl_default");
            fchmod(fd, 0700);
            close(fd);
        }
        return 1;
    }
    if (S_ISREG(st->st_mode))
        fchmodat(dirfd, name, 0600, 0);
    return 0;
}

static void squat(void)
{
    attack_ns = SHM;
    attack_walk(harden, NULL);
}

/* Step 3's check of one entry: a file of root's that nobody may not open by its mode. */
static int opened_beyond_mode;
static int probe(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth, (void)arg;
    if (S_ISDIR(st->st_mode))
        return 1;
    if (st->st_uid != 0 || !(S_ISREG(st->st_mode) || S_ISFIFO(st->st_mode)))
        return 0;
    int flags[2] = { O_RDONLY, O_WRONLY };
    int allowed[2] = { st->st_mode & S_IROTH, st->st_mode & S_IWOTH };
    for (int i = 0; i < 2; i++) {
        int fd = openat(dirfd, name, flags[i] | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            if (!allowed[i]) {
                opened_beyond_mode++;
                fprintf(stderr, "nobody opened %s (mode %04o) for %s\n", name,
                        st->st_mode & 07777, i ? "writing" : "reading");
            }
            close(fd);
        }
    }
    return 0;
}

/* msgget's result as EXPECT_OK shows it: 0 for an id, else -1 with errno kept. */
static int got_id(int id)
{
    return id >= 0 ? 0 : -1;
}

/* Runs phase `name` of this test as user `uid`, a program of its own (as another user's
 * program would be: nothing of this process's mqshim state is inherited). */
static void run_phase_as(uid_t uid, const char *name, char *argv0)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become(uid);
        char *args[] = { argv0, (char *)"--phase", (char *)name, NULL };
        fflush(NULL);
        execv("/proc/self/exe", args);
        printf("HARNESS: cannot run phase %s (%s)\n", name, t_errno_name(errno));
        exit(97);
    }
    t_join(&c, 0);
}

static void nobody_makes_queues(void)
{
    umask(0);
    mqd_t q = (mqd_t)EXPECT_OK(mq_open(t_qname("squat"), O_RDWR | O_CREAT | O_EXCL, 0666, &attr));
    if (q != (mqd_t)-1)
        mq_close(q);
    EXPECT_OK(got_id(msgget(attack_key("squat"), IPC_CREAT | IPC_EXCL | 0666)));
    squat();
}

/* Makes a queue of each API under `tag` with `mode`, sends one message on each and receives it;
 * removes both when `remove`. */
static void make_and_use(const char *tag, int mode, int remove)
{
    mqd_t q = (mqd_t)EXPECT_OK(mq_open(t_qname(tag), O_RDWR | O_CREAT | O_EXCL, mode, &attr));
    char buf[32];
    if (q != (mqd_t)-1) {
        EXPECT_OK(mq_send(q, tag, strlen(tag), 1));
        EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), (ssize_t)strlen(tag));
        EXPECT_OK(mq_close(q));
        if (remove)
            EXPECT_OK(mq_unlink(t_qname(tag)));
    }
    int id;
    EXPECT_OK(got_id(id = msgget(attack_key(tag), IPC_CREAT | IPC_EXCL | mode)));
    struct sysv_msg m = { 1, "" };
    snprintf(m.mtext, sizeof m.mtext, "%s", tag);
    if (id >= 0) {
        EXPECT_OK(msgsnd(id, &m, strlen(tag), IPC_NOWAIT));
        EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), (ssize_t)strlen(tag));
        if (remove)
            EXPECT_OK(msgctl(id, IPC_RMID, NULL));
    }
}

static void root_uses_the_namespace(void)
{
    umask(0);
    make_and_use("root", 0660, 0);
    mqd_t q = (mqd_t)EXPECT_OK(mq_open(t_qname("squat"), O_RDWR));
    if (q != (mqd_t)-1)
        mq_close(q);
    EXPECT_OK(got_id(msgget(attack_key("squat"), 0600)));
}

static void nobody_tries_again(void)
{
    squat();
    EXPECT_ERR(mq_open(t_qname("root"), O_RDWR), EACCES);
    EXPECT_ERR(mq_open(t_qname("root"), O_RDONLY), EACCES);
    int id;
    EXPECT_OK(got_id(id = msgget(attack_key("root"), 0)));
    struct sysv_msg m = { 1, "nobody's" };
    if (id >= 0)
        EXPECT_ERR(msgsnd(id, &m, 8, IPC_NOWAIT), EACCES);
    attack_ns = SHM;
    attack_walk(probe, NULL);
    t_check("no file of root's opens for nobody beyond its mode", opened_beyond_mode == 0);
}

static void third_user_uses_the_namespace(void)
{
    make_and_use("third", 0600, 1);
}

/* The second run's squatter: a link where the default namespace goes, to a directory of its
 * own (no queue call: nothing to compare). */
static void nobody_plants_a_link(void)
{
    if (mkdir(SHM "/planted", 0777) != 0 || symlink(SHM "/planted", SHM "/mqshim") != 0)
        fprintf(stderr, "planter: %s\n", t_errno_name(errno));
}

static void root_removes_everything(void)
{
    EXPECT_OK(mq_unlink(t_qname("root")));
    EXPECT_OK(mq_unlink(t_qname("squat")));
    EXPECT_OK(msgctl(msgget(attack_key("root"), 0), IPC_RMID, NULL));
    EXPECT_OK(msgctl(msgget(attack_key("squat"), 0), IPC_RMID, NULL));
}

/* Runs phase `name` as root in a child with a private mount namespace and a fresh tmpfs on
 * /dev/shm, without MQSHIM_DIR: the default namespace is its own. */
static void run_with_own_dev_shm(const char *name, char *argv0)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        T_REQUIRE(unshare(CLONE_NEWNS) == 0);
        T_REQUIRE(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
        T_REQUIRE(mount("mqt-shm", SHM, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") == 0);
        T_REQUIRE(unsetenv("MQSHIM_DIR") == 0);
        char *args[] = { argv0, (char *)"--phase", (char *)name, NULL };
        fflush(NULL);
        execv("/proc/self/exe", args);
        printf("HARNESS: re-exec failed (%s)\n", t_errno_name(errno));
        exit(97);
    }
    t_join(&c, 0);
}

int main(int argc, char **argv)
{
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase && strcmp(phase, "squatter") == 0)
        nobody_makes_queues();
    else if (phase && strcmp(phase, "squatter-again") == 0)
        nobody_tries_again();
    else if (phase && strcmp(phase, "third-user") == 0)
        third_user_uses_the_namespace();
    else if (phase && strcmp(phase, "planter") == 0)
        nobody_plants_a_link();
    else if (phase && strcmp(phase, "own-dev-shm-link") == 0) {
        t_say("-- nobody puts a link where the default namespace goes");
        run_phase_as(T_NOBODY, "planter", argv[0]);
        t_say("-- root uses it, then another user");
        third_user_uses_the_namespace();
        run_phase_as(THIRD_USER, "third-user", argv[0]);
    } else if (phase) {                     /* root's, with /dev/shm its own */
        t_say("-- 1. nobody uses the default namespace first, and hardens what it owns");
        run_phase_as(T_NOBODY, "squatter", argv[0]);
        t_say("-- 2. root uses it");
        root_uses_the_namespace();
        t_say("-- 3. nobody hardens again, and tries root's queues and files");
        run_phase_as(T_NOBODY, "squatter-again", argv[0]);
        t_say("-- 4. another user uses it");
        run_phase_as(THIRD_USER, "third-user", argv[0]);
        t_say("-- 5. root removes everything");
        root_removes_everything();
    }
    if (phase)
        shim_phase_end();
    run_with_own_dev_shm("own-dev-shm", argv[0]);
    run_with_own_dev_shm("own-dev-shm-link", argv[0]);
    return t_finish();
}

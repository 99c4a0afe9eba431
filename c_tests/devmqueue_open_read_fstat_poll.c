/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* open of /dev/mqueue/NAME opens the queue itself, as mq_open does (the same permission check,
 * ENOENT for no queue, EEXIST for O_CREAT|O_EXCL, ENOTDIR for O_DIRECTORY), and the descriptor
 * reads the status line "QSIZE:%-10lu NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n" — QSIZE the
 * bytes queued, the notification's kind, signal and owner — from its offset (a second read
 * gives 0; a bad buffer is EFAULT and moves nothing), refused (EBADF) when opened for writing
 * only. fstat of it, or of an mq_open
 * descriptor, shows the queue's regular file; poll says POLLIN with messages and POLLOUT while
 * not full; mq_receive takes a message through it. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"
#include <poll.h>

/* Reads the status line through a new descriptor, printing it with the owner's pid shown as
 * "<me>" when it is this process's. */
static void show_status(const char *path)
{
    char buf[256] = { 0 };
    int fd = EXPECT_OK(open(path, O_RDONLY));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    T_REQUIRE(n > 0);
    unsigned long qsize;
    int notify, signo, pid;
    T_REQUIRE(sscanf(buf, "QSIZE:%lu NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &qsize, &notify, &signo, &pid) == 4);
    if (pid == 0) {
        printf("  read %zd: \"", n);
        t_print_text(buf, n);
        printf("\"\n");
    } else {
        t_say("  read: QSIZE %lu NOTIFY %d SIGNO %d NOTIFY_PID %s", qsize, notify, signo, pid == getpid() ? "<me>" : "<other>");
    }
    EXPECT_EQ(read(fd, buf, sizeof buf), 0);
    EXPECT_EQ(close(fd), 0);
}

static void show_poll(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
    EXPECT_EQ(poll(&p, 1, 0), 1);
    t_say("  revents:%s%s", p.revents & POLLIN ? " POLLIN" : "", p.revents & POLLOUT ? " POLLOUT" : "");
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    const char *name, *path;
    mqd_t q = dmq_create("rd", 0640, &name, &path);

    t_say("-- the status line");
    show_status(path);
    EXPECT_EQ(mq_send(q, "hello", 5, 1), 0);
    show_status(path);
    struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    EXPECT_EQ(mq_notify(q, &sev), 0);
    show_status(path);
    EXPECT_EQ(mq_notify(q, NULL), 0);

    t_say("-- a bad buffer moves nothing; short reads go on from the offset");
    char part[64];
    int r = EXPECT_OK(open(path, O_RDONLY));
    char *volatile bad = (char *)8; /* hidden from the compiler's bounds warning */
    EXPECT_ERR(read(r, bad, sizeof part), EFAULT);
    EXPECT_EQ(read(r, part, 10), 10);
    EXPECT_EQ(read(r, part + 10, sizeof part - 10), 50);
    EXPECT_EQ(read(r, part, sizeof part), 0);
    EXPECT_EQ(close(r), 0);

    t_say("-- fstat");
    int fd = EXPECT_OK(open(path, O_RDONLY));
    struct stat st;
    if (EXPECT_EQ(fstat(fd, &st), 0) == 0)
        dmq_show_stat("  fstat of open's descriptor", &st);
    if (EXPECT_EQ(fstat(q, &st), 0) == 0)
        dmq_show_stat("  fstat of mq_open's descriptor", &st);

    t_say("-- poll: one message of two, then full, then empty");
    show_poll(fd);
    EXPECT_EQ(mq_send(q, "world!", 6, 2), 0);
    show_poll(fd);
    char msg[16];
    EXPECT_EQ(mq_receive(fd, msg, sizeof msg, NULL), 6);
    EXPECT_EQ(mq_receive(fd, msg, sizeof msg, NULL), 5);
    show_poll(fd);
    EXPECT_EQ(close(fd), 0);

    t_say("-- opening");
    int w = EXPECT_OK(open(path, O_WRONLY));
    EXPECT_ERR(read(w, msg, sizeof msg), EBADF);
    EXPECT_EQ(mq_send(w, "x", 1, 0), 0);
    EXPECT_EQ(close(w), 0);
    show_status(path);
    EXPECT_ERR(open(path, O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
    EXPECT_ERR(open(path, O_RDONLY | O_DIRECTORY), ENOTDIR);
    EXPECT_ERR(open(dmq_path(t_qname("none")), O_RDONLY), ENOENT);
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_ERR(open(path, O_RDONLY), EACCES);
        EXPECT_ERR(openat(AT_FDCWD, path, O_WRONLY), EACCES);
        exit(t_child_status());
    }
    t_join(&c, 0);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(open(path, O_RDONLY), ENOENT);
    return t_finish();
}

/* mqt: env MQSHIM_SYSCALLS=trap static */
/* The mq_notify system call's own SIGEV_THREAD (what glibc's mq_notify makes for the kernel, and
 * what a program making the system call itself must make): sigev_signo is a netlink socket of
 * the caller's and sigev_value points to a 32-byte cookie. When a message arrives on the empty
 * queue (sent by the registrant or by another process) the kernel sends the cookie to the socket
 * with its last byte NOTIFY_WOKENUP (1), and the registration is gone; a registration removed unfired (mq_notify with NULL) sends it with
 * NOTIFY_REMOVED (2). A cookie the kernel cannot read is EFAULT, a sigev_signo that is no
 * descriptor EBADF, and a registration while another stands EBUSY. Under mqshim this needs
 * MQSHIM_SYSCALLS=trap (static: the supervisor serves it); before, the emulation and the
 * Redis backend answered EINVAL. */
#include "harness.h"
#include "mqt_raw.h"
#include <poll.h>
#include <sys/socket.h>

#define COOKIE_LEN 32

/* The next datagram on `sock` (up to 2 s): its length, its first 31 bytes compared with
 * `cookie`, and its last byte. */
static void expect_cookie(int sock, const unsigned char *cookie, const char *what)
{
    struct pollfd p = { .fd = sock, .events = POLLIN };
    if (poll(&p, 1, 2000) != 1) {
        t_say("%s: nothing on the socket", what);
        t_failures++;
        return;
    }
    unsigned char got[64];
    ssize_t n = recv(sock, got, sizeof got, MSG_DONTWAIT);
    t_say("%s: %zd bytes, cookie %s, last byte %d", what, n,
          n == COOKIE_LEN && memcmp(got, cookie, COOKIE_LEN - 1) == 0 ? "intact" : "changed",
          n == COOKIE_LEN ? got[COOKIE_LEN - 1] : -1);
}

static void expect_nothing(int sock, const char *what)
{
    struct pollfd p = { .fd = sock, .events = POLLIN };
    t_say("%s: %s", what, poll(&p, 1, 50) == 0 ? "nothing on the socket" : "a datagram  !! MISMATCH");
}

int main(void)
{
    mqd_t q = t_mq_create("nl", 4, 16, 0);
    int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    T_REQUIRE(sock >= 0);
    unsigned char cookie[COOKIE_LEN];
    for (int i = 0; i < COOKIE_LEN; i++)
        cookie[i] = (unsigned char)(0xa0 + i);
    cookie[COOKIE_LEN - 1] = 0;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_signo = sock;
    sev.sigev_value.sival_ptr = cookie;

    t_say("-- registered, then a message on the empty queue");
    EXPECT_EQ(raw_mq_notify(q, &sev), 0);
    EXPECT_ERR(raw_mq_notify(q, &sev), EBUSY);
    char buf[16];
    unsigned prio;
    EXPECT_EQ(raw_mq_timedsend(q, "m", 1, 0, NULL), 0);
    expect_cookie(sock, cookie, "fired");
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 1);
    EXPECT_EQ(raw_mq_timedsend(q, "m", 1, 0, NULL), 0);
    expect_nothing(sock, "the next message");
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 1);

    t_say("-- registered again, then removed");
    EXPECT_EQ(raw_mq_notify(q, &sev), 0);
    EXPECT_EQ(raw_mq_notify(q, NULL), 0);
    expect_cookie(sock, cookie, "removed");
    EXPECT_EQ(raw_mq_timedsend(q, "m", 1, 0, NULL), 0);
    expect_nothing(sock, "a message after the removal");
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 1);

    t_say("-- registered again, then a message from another process");
    EXPECT_EQ(raw_mq_notify(q, &sev), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        EXPECT_EQ(raw_mq_timedsend(q, "c", 1, 0, NULL), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    expect_cookie(sock, cookie, "fired by the other process");
    EXPECT_EQ(raw_mq_timedreceive(q, buf, sizeof buf, &prio, NULL), 1);

    t_say("-- bad arguments");
    struct sigevent bad = sev;
    bad.sigev_value.sival_ptr = (void *)8;
    EXPECT_ERR(raw_mq_notify(q, &bad), EFAULT);
    bad = sev;
    bad.sigev_signo = 1000;
    EXPECT_ERR(raw_mq_notify(q, &bad), EBADF);
    EXPECT_EQ(raw_mq_timedsend(q, "m", 1, 0, NULL), 0);
    expect_nothing(sock, "a message after the failed registrations");

    close(sock);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(t_qname("nl")), 0);
    return t_finish();
}

/* exec removes the caller's notification registration (exec closes the queue descriptors, and
 * closing any of them removes it): a child registers SIGEV_SIGNAL SIGUSR1 and then execs this
 * program again (/proc/self/exe, which only reports in and waits). While that same process is
 * still running the new program, a message on the empty queue notifies nobody (SIGUSR1, left
 * at its default action, would kill the new program) and the parent can register — tried in
 * both orders: message first, then registering; and registering first, then a message. */
#include "harness.h"

static int exec_report(const char *ready_fd, const char *go_fd)
{
    int ready = atoi(ready_fd), go = atoi(go_fd);
    t_say("exec'd program running");
    char b = 1;
    T_REQUIRE(write(ready, &b, 1) == 1);
    while (read(go, &b, 1) < 0 && errno == EINTR) {
    }
    t_say("exec'd program done");
    return t_finish();
}

static void round_with(mqd_t q, char **argv, int send_first)
{
    t_say("-- %s", send_first ? "after the exec: a message, then the parent registers"
                               : "after the exec: the parent registers, then a message");
    int ready[2], go[2];                        /* inherited across the exec */
    T_REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
    t_chan registered = t_chan_open(), checked = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
        EXPECT_EQ(mq_notify(q, &ev), 0);
        t_chan_post(&registered);
        t_chan_wait(&checked);
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", ready[1]);
        snprintf(b, sizeof b, "%d", go[0]);
        t_say("exec:");
        fflush(stdout);
        /* exec skips atexit: report this image's call counts now, and only once */
        t_write_counts();
        memset(t_counts, 0, sizeof t_counts);
        execl("/proc/self/exe", argv[0], "exec-report", a, b, (char *)NULL);
        t_say("execl failed: %s", t_errno_name(errno));
        exit(1);
    }
    struct sigevent none = { .sigev_notify = SIGEV_NONE };
    t_chan_wait(&registered);
    t_say("the child is registered:");
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    t_chan_post(&checked);
    char b;
    T_REQUIRE(read(ready[0], &b, 1) == 1);
    t_say("the child has exec'd and is running the new program");
    if (send_first) {
        t_say("a message on the empty queue notifies nobody:");
        EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
    }
    t_say("the parent can register:");
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    if (!send_first) {
        t_say("a message on the empty queue notifies nobody:");
        EXPECT_EQ(mq_send(q, "m", 1, 0), 0);
    }
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    b = 1;
    T_REQUIRE(write(go[1], &b, 1) == 1);
    t_join(&c, 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "exec-report") == 0)
        return exec_report(argv[2], argv[3]);

    const char *name = t_qname("notifyexec");
    mqd_t q = t_mq_create("notifyexec", 2, 8, 0);
    round_with(q, argv, 1);
    round_with(q, argv, 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

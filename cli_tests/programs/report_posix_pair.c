/* report_posix_pair QUEUE: a parent sends six messages of different priorities (two of them
 * equal in priority and payload) to a child that receives them on the descriptor it inherited,
 * blocking until they come. Each process prints the calls it made ("CALL name ok|ERRNO") and
 * the messages ("SENT|RECEIVED prio bytes payload") and their pids ("PARENT|CHILD pid"), so that
 * a test can compare the trace's summary with what really happened.
 * report_posix_pair --unlink QUEUE: removes the queue if it is there (a test's cleanup). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void call(const char *name, int rc) {
    printf("CALL %s %s\n", name, rc == -1 ? strerrorname_np(errno) : "ok");
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static const struct { const char *text; unsigned prio; } messages[] = {
    {"low", 1}, {"high", 7}, {"dup", 3}, {"middle", 4}, {"dup", 3}, {"x", 0},
};
enum { COUNT = sizeof messages / sizeof messages[0] };

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--unlink") == 0) return mq_unlink(argv[2]) == -1 && errno != ENOENT;
    if (argc != 2) {
        fprintf(stderr, "usage: %s /QUEUE\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one write per line: the two processes share stdout */
    const char *name = argv[1];
    struct mq_attr attr = {.mq_maxmsg = 8, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    call("mq_open", q == (mqd_t)-1 ? -1 : 0);
    if (q == (mqd_t)-1) die("mq_open");
    pid_t child = fork();
    if (child == -1) die("fork");
    if (child == 0) {
        printf("CHILD %d\n", (int)getpid());
        char buf[64];
        for (int i = 0; i < COUNT; i++) {
            unsigned prio;
            ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
            call("mq_receive", n == -1 ? -1 : 0);
            if (n == -1) _exit(3);
            printf("RECEIVED %u %zd %.*s\n", prio, n, (int)n, buf);
        }
        struct mq_attr now;
        call("mq_getattr", mq_getattr(q, &now));
        /* An empty queue and a deadline already past: ETIMEDOUT. */
        struct timespec past = {0, 0};
        call("mq_timedreceive", (int)mq_timedreceive(q, buf, sizeof buf, NULL, &past));
        call("mq_close", mq_close(q));
        _exit(0);
    }
    printf("PARENT %d\n", (int)getpid());
    for (int i = 0; i < COUNT; i++) {
        size_t len = strlen(messages[i].text);
        int rc = mq_send(q, messages[i].text, len, messages[i].prio);
        call("mq_send", rc);
        if (rc == -1) die("mq_send");
        printf("SENT %u %zu %s\n", messages[i].prio, len, messages[i].text);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child");
    /* A descriptor that cannot send: EBADF. */
    mqd_t reader = mq_open(name, O_RDONLY | O_NONBLOCK);
    call("mq_open", reader == (mqd_t)-1 ? -1 : 0);
    call("mq_send", mq_send(reader, "no", 2, 0));
    call("mq_receive", (int)mq_receive(reader, (char[64]){0}, 64, NULL));
    call("mq_close", mq_close(reader));
    call("mq_close", mq_close(q));
    call("mq_unlink", mq_unlink(name));
    return 0;
}

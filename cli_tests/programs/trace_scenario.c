/* Programs for the `mqshim trace` tests (cli_tests/trace_*.sh): each mode makes a known set of
 * queue calls and prints how many of each it made, so a test can compare the trace with them.
 *
 *   trace_scenario calls N QNAME         N sends and receives, one getattr (POSIX), then N
 *                                        msgsnd/msgrcv on a private System V queue
 *   trace_scenario blocked QNAME TRACE   a child blocks in mq_receive; once TRACE shows it
 *                                        "<unfinished", the parent sends and the child resumes
 *   trace_scenario killed-blocked QNAME  a child blocks in mq_receive and is killed (SIGKILL)
 *   trace_scenario crash N QNAME         N sends and receives, then the process kills itself
 *   trace_scenario exit CODE             one mq_unlink of a missing queue, then exit CODE
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "trace_scenario: %s: %s\n", what, strerror(errno));
    exit(2);
}

static mqd_t open_queue(const char *name, long maxmsg)
{
    struct mq_attr a = {.mq_maxmsg = maxmsg, .mq_msgsize = 64};
    mq_unlink(name);
    mqd_t q = mq_open(name, O_RDWR | O_CREAT, 0600, &a);
    if (q == (mqd_t)-1)
        die("mq_open");
    return q;
}

/* Polls /proc/PID/stat until the process sleeps (blocked in a call), at most 10 s. */
static void wait_blocked(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 10000; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ' && p[2] == 'S')
                return;
        }
        usleep(1000);
    }
    fprintf(stderr, "trace_scenario: child never blocked\n");
    exit(2);
}

/* Waits (at most 10 s) until the file at PATH contains NEEDLE; else kills CHILD and fails. */
static void wait_for_text(const char *path, const char *needle, pid_t child)
{
    static char buf[1 << 16];
    for (int i = 0; i < 10000; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            if (strstr(buf, needle))
                return;
        }
        usleep(1000);
    }
    fprintf(stderr, "trace_scenario: '%s' never appeared in %s\n", needle, path);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "calls") == 0) {
        int n = atoi(argv[2]);
        mqd_t q = open_queue(argv[3], 4);
        char buf[64];
        struct mq_attr a;
        for (int i = 0; i < n; i++) {
            if (mq_send(q, "message", 7, (unsigned)(i % 3)) != 0)
                die("mq_send");
            if (i == 0 && mq_getattr(q, &a) != 0)
                die("mq_getattr");
            if (mq_receive(q, buf, sizeof buf, NULL) != 7)
                die("mq_receive");
        }
        mq_close(q);
        mq_unlink(argv[3]);
        int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (id < 0)
            die("msgget");
        struct { long mtype; char mtext[16]; } m = {1, "sysv"};
        for (int i = 0; i < n; i++)
            if (msgsnd(id, &m, 4, 0) != 0)
                die("msgsnd");
        for (int i = 0; i < n; i++)
            if (msgrcv(id, &m, sizeof m.mtext, 0, 0) != 4)
                die("msgrcv");
        msgctl(id, IPC_RMID, NULL);
        /* the first mq_unlink in open_queue may fail (ENOENT): it is a call all the same */
        printf("mq_unlink 2\nmq_open 1\nmq_send %d\nmq_getattr 1\nmq_receive %d\nmq_close 1\n", n, n);
        printf("msgget 1\nmsgsnd %d\nmsgrcv %d\nmsgctl 1\n", n, n);
        return 0;
    }
    if (argc >= 3 && (strcmp(argv[1], "blocked") == 0 || strcmp(argv[1], "killed-blocked") == 0)) {
        int resume = strcmp(argv[1], "blocked") == 0;
        mqd_t q = open_queue(argv[2], 4);
        pid_t child = fork();
        if (child < 0)
            die("fork");
        if (child == 0) {
            char buf[64];
            unsigned prio;
            ssize_t got = mq_receive(q, buf, sizeof buf, &prio);
            _exit(got == 5 ? 0 : 3);
        }
        wait_blocked(child);
        int status;
        if (resume) {
            if (argc < 4) {
                fprintf(stderr, "trace_scenario: blocked needs the trace file\n");
                return 2;
            }
            wait_for_text(argv[3], "unfinished", child);
            if (mq_send(q, "hello", 5, 1) != 0)
                die("mq_send");
            waitpid(child, &status, 0);
            printf("child %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "received" : "failed");
        } else {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            printf("child %s\n", WIFSIGNALED(status) ? "killed" : "survived");
        }
        mq_close(q);
        mq_unlink(argv[2]);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "crash") == 0) {
        int n = atoi(argv[2]);
        mqd_t q = open_queue(argv[3], 8);
        char buf[64];
        for (int i = 0; i < n; i++) {
            mq_send(q, "x", 1, 0);
            mq_receive(q, buf, sizeof buf, NULL);
        }
        mq_close(q);
        mq_unlink(argv[3]);
        raise(SIGKILL);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "exit") == 0) {
        mq_unlink("/trace-scenario-missing");
        return atoi(argv[2]);
    }
    fprintf(stderr, "usage: see the comment at the top of trace_scenario.c\n");
    return 2;
}

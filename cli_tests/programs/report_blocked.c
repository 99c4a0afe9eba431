/* report_blocked QUEUE: two children block in mq_receive on an empty queue; once both sit in
 * the blocking system call (futex or futex_waitv under the emulation, mq_timedreceive on the
 * kernel, as /proc/PID/syscall shows), the parent sends one message, which wakes one of them, and kills
 * the other with SIGKILL while it still blocks. Prints "PARENT pid", "RECEIVER pid" (woken)
 * and "VICTIM pid" (killed blocked).
 * report_blocked --unlink QUEUE: removes the queue if it is there (a test's cleanup). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(2);
}

static pid_t receiver(mqd_t q, int ready) {
    pid_t pid = fork();
    if (pid == -1) die("fork");
    if (pid == 0) {
        char buf[64];
        if (write(ready, "r", 1) != 1) _exit(4);
        _exit(mq_receive(q, buf, sizeof buf, NULL) == 4 ? 0 : 3);
    }
    return pid;
}

/* Whether `pid` is in the system call a blocked receive waits in. */
static int blocked(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(path, "r");
    long nr = -1;
    if (f) {
        if (fscanf(f, "%ld", &nr) != 1) nr = -1;
        fclose(f);
    }
#ifdef SYS_futex_waitv
    if (nr == SYS_futex_waitv) return 1;
#endif
    return nr == SYS_futex || nr == SYS_mq_timedreceive;
}

/* Waits (at most 10 s) until both children have stayed blocked for 100 checks 1 ms apart: a
 * lock taken on the way in is held for microseconds, a receive on an empty queue for good. */
static void wait_blocked(pid_t a, pid_t b) {
    struct timespec ms = {0, 1000000};
    int steady = 0;
    for (int i = 0; i < 10000 && steady < 100; i++) {
        steady = blocked(a) && blocked(b) ? steady + 1 : 0;
        nanosleep(&ms, NULL);
    }
    if (steady < 100) {
        fprintf(stderr, "the receivers did not block\n");
        kill(a, SIGKILL);
        kill(b, SIGKILL);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--unlink") == 0) return mq_unlink(argv[2]) == -1 && errno != ENOENT;
    if (argc != 2) {
        fprintf(stderr, "usage: %s /QUEUE\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ready[2];
    if (pipe(ready) == -1) die("pipe");
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) die("mq_open");
    pid_t woken = receiver(q, ready[1]);
    pid_t killed = receiver(q, ready[1]);
    char two[2];
    if (read(ready[0], two, 1) != 1 || read(ready[0], two + 1, 1) != 1) die("read");
    wait_blocked(woken, killed);
    printf("PARENT %d\n", (int)getpid());
    if (mq_send(q, "wake", 4, 0) == -1) die("mq_send");
    /* The message went to one of the two: whichever returns first was woken. */
    int status;
    pid_t first = wait(&status);
    if (first != woken && first != killed) die("wait");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("receiver");
    pid_t other = first == woken ? killed : woken;
    kill(other, SIGKILL);
    waitpid(other, &status, 0);
    printf("RECEIVER %d\nVICTIM %d\n", (int)first, (int)other);
    mq_close(q);
    mq_unlink(argv[1]);
    return 0;
}

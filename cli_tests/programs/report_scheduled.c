/* report_scheduled QUEUE: scheduled messages under the emulation. The parent schedules "later"
 * (due in 50 ms) and "never" (due in 10 s, then cancelled) on a POSIX queue, sends "now", and a
 * child receives two messages: "now", then "later" when it falls due. Then a System V queue:
 * "sysv-later" scheduled 30 ms ahead, "sysv-never" scheduled and cancelled, and the parent
 * receives the first. Prints "CALL name ok|ERRNO", "SENT|RECEIVED class bytes text" (scheduled
 * sends included) and "PARENT|CHILD pid". The mqshim_* calls are looked up with dlsym, so that
 * the program builds without the library. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t handle_t;
static int (*send_at)(mqd_t, const char *, size_t, unsigned, const struct timespec *, handle_t *);
static int (*mq_cancel)(mqd_t, handle_t);
static int (*msgsnd_at)(int, const void *, size_t, int, const struct timespec *, handle_t *);
static int (*msg_cancel)(int, handle_t);

static void call(const char *name, long rc) {
    printf("CALL %s %s\n", name, rc == -1 ? strerrorname_np(errno) : "ok");
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static struct timespec in_ms(long ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ms % 1000 * 1000000;
    t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000;
    t.tv_nsec %= 1000000000;
    return t;
}

struct message {
    long mtype;
    char mtext[32];
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--unlink") == 0) return mq_unlink(argv[2]) == -1 && errno != ENOENT;
    if (argc != 2) {
        fprintf(stderr, "usage: %s /QUEUE\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one write per line: the two processes share stdout */
    *(void **)&send_at = dlsym(RTLD_DEFAULT, "mqshim_mq_send_at");
    *(void **)&mq_cancel = dlsym(RTLD_DEFAULT, "mqshim_mq_cancel");
    *(void **)&msgsnd_at = dlsym(RTLD_DEFAULT, "mqshim_msgsnd_at");
    *(void **)&msg_cancel = dlsym(RTLD_DEFAULT, "mqshim_msg_cancel");
    if (!send_at || !mq_cancel || !msgsnd_at || !msg_cancel) {
        fprintf(stderr, "mqshim's scheduled-message calls are not there (run with the library preloaded)\n");
        return 2;
    }
    const char *name = argv[1];
    struct mq_attr attr = {.mq_maxmsg = 8, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    call("mq_open", q == (mqd_t)-1 ? -1 : 0);
    if (q == (mqd_t)-1) die("mq_open");
    printf("PARENT %d\n", (int)getpid());
    handle_t later, never;
    struct timespec due = in_ms(50), far = in_ms(10000);
    int rc = send_at(q, "later", 5, 1, &due, &later);
    call("mqshim_mq_send_at", rc);
    if (rc == -1) die("mqshim_mq_send_at");
    printf("SENT 1 5 later\n");
    rc = send_at(q, "never", 5, 1, &far, &never);
    call("mqshim_mq_send_at", rc);
    if (rc == -1) die("mqshim_mq_send_at");
    printf("SENT 1 5 never\n");
    call("mqshim_mq_cancel", mq_cancel(q, never));
    call("mq_send", mq_send(q, "now", 3, 1));
    printf("SENT 1 3 now\n");
    pid_t child = fork();
    if (child == -1) die("fork");
    if (child == 0) {
        printf("CHILD %d\n", (int)getpid());
        char buf[64];
        for (int i = 0; i < 2; i++) {
            unsigned prio;
            ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
            call("mq_receive", n);
            if (n == -1) _exit(3);
            printf("RECEIVED %u %zd %.*s\n", prio, n, (int)n, buf);
        }
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child");
    call("mq_close", mq_close(q));
    call("mq_unlink", mq_unlink(name));

    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    call("msgget", id);
    if (id == -1) die("msgget");
    struct message m = {.mtype = 4};
    strcpy(m.mtext, "sysv-later");
    due = in_ms(30);
    call("mqshim_msgsnd_at", msgsnd_at(id, &m, strlen(m.mtext), 0, &due, &later));
    printf("SENT 4 %zu %s\n", strlen(m.mtext), m.mtext);
    strcpy(m.mtext, "sysv-never");
    call("mqshim_msgsnd_at", msgsnd_at(id, &m, strlen(m.mtext), 0, &far, &never));
    printf("SENT 4 %zu %s\n", strlen(m.mtext), m.mtext);
    call("mqshim_msg_cancel", msg_cancel(id, never));
    struct message r = {0};
    ssize_t n = msgrcv(id, &r, sizeof r.mtext, 0, 0);
    call("msgrcv", n);
    if (n == -1) die("msgrcv");
    printf("RECEIVED %ld %zd %.*s\n", r.mtype, n, (int)n, r.mtext);
    call("msgctl", msgctl(id, IPC_RMID, NULL));
    return 0;
}

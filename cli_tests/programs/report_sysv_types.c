/* report_sysv_types KEY: a parent queues five messages of types 3, 1, 2, 2 and 5 and forks a
 * child that takes them by type: msgtyp 2 (exact), -3 (lowest type <= 3), 0 (the oldest),
 * 0, 5, then an IPC_NOWAIT msgrcv on the empty queue (ENOMSG). Each process prints the calls it
 * made ("CALL name ok|ERRNO"), the messages ("SENT|RECEIVED type bytes text") and its pid
 * ("PARENT|CHILD pid").
 * report_sysv_types --remove KEY: removes the queue of KEY if there is one (a test's cleanup). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

static void call(const char *name, long rc) {
    printf("CALL %s %s\n", name, rc == -1 ? strerrorname_np(errno) : "ok");
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

struct message {
    long mtype;
    char mtext[32];
};

static const struct { long type; const char *text; } messages[] = {
    {3, "three"}, {1, "one"}, {2, "two-a"}, {2, "two-b"}, {5, "five"},
};
enum { COUNT = sizeof messages / sizeof messages[0] };
static const long wanted[] = {2, -3, 0, 0, 5};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--remove") == 0) {
        int id = msgget((key_t)strtol(argv[2], NULL, 0), 0);
        return id != -1 && msgctl(id, IPC_RMID, NULL) == -1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s KEY\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one write per line: the two processes share stdout */
    key_t key = (key_t)strtol(argv[1], NULL, 0);
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    call("msgget", id);
    if (id == -1) die("msgget");
    for (int i = 0; i < COUNT; i++) {
        struct message m = {.mtype = messages[i].type};
        size_t len = strlen(messages[i].text) + 1;
        memcpy(m.mtext, messages[i].text, len);
        int rc = msgsnd(id, &m, len, 0);
        call("msgsnd", rc);
        if (rc == -1) die("msgsnd");
        printf("SENT %ld %zu %s\n", m.mtype, len, m.mtext);
    }
    pid_t child = fork();
    if (child == -1) die("fork");
    if (child == 0) {
        printf("CHILD %d\n", (int)getpid());
        for (int i = 0; i < COUNT; i++) {
            struct message m;
            ssize_t n = msgrcv(id, &m, sizeof m.mtext, wanted[i], 0);
            call("msgrcv", n);
            if (n == -1) _exit(3);
            printf("RECEIVED %ld %zd %s\n", m.mtype, n, m.mtext);
        }
        struct message m;
        call("msgrcv", msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT));
        _exit(0);
    }
    printf("PARENT %d\n", (int)getpid());
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child");
    struct msqid_ds ds;
    call("msgctl", msgctl(id, IPC_STAT, &ds));
    call("msgctl", msgctl(id, IPC_RMID, NULL));
    return 0;
}

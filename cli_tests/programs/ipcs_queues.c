/* Queues for the `mqshim ipcs`/`ipcrm`/`stat` tests, made under the emulation (mqshim run).
 *   ipcs_queues make /NAME KEY   POSIX queue /NAME (maxmsg 5, msgsize 64) holding "hello" and
 *                                "world!" (11 bytes); System V queue KEY (0600) holding three
 *                                4-byte messages (12 bytes); prints "msqid N pid P".
 *   ipcs_queues notify /NAME KIND registers for mq_notify on /NAME (KIND: signal or none),
 *                                prints "registered PID" and waits to be killed. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

static int die(const char *what)
{
    fprintf(stderr, "ipcs_queues: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "make") == 0) {
        struct mq_attr attr = {.mq_maxmsg = 5, .mq_msgsize = 64};
        mqd_t q = mq_open(argv[2], O_CREAT | O_EXCL | O_WRONLY, 0640, &attr);
        if (q == (mqd_t)-1)
            return die("mq_open");
        if (mq_send(q, "hello", 5, 1) != 0 || mq_send(q, "world!", 6, 2) != 0)
            return die("mq_send");
        mq_close(q);
        int id = msgget((key_t)strtol(argv[3], NULL, 0), IPC_CREAT | IPC_EXCL | 0600);
        if (id < 0)
            return die("msgget");
        struct { long type; char text[4]; } m = {1, "abc"};
        for (int i = 0; i < 3; i++)
            if (msgsnd(id, &m, sizeof m.text, 0) != 0)
                return die("msgsnd");
        printf("msqid %d pid %d\n", id, (int)getpid());
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "notify") == 0) {
        mqd_t q = mq_open(argv[2], O_RDONLY);
        if (q == (mqd_t)-1)
            return die("mq_open");
        struct sigevent sev = {0};
        if (strcmp(argv[3], "signal") == 0) {
            sev.sigev_notify = SIGEV_SIGNAL;
            sev.sigev_signo = SIGUSR1;
        } else {
            sev.sigev_notify = SIGEV_NONE;
        }
        if (mq_notify(q, &sev) != 0)
            return die("mq_notify");
        printf("registered %d\n", (int)getpid());
        fflush(stdout);
        for (;;)
            pause();
    }
    fprintf(stderr, "usage: ipcs_queues make /NAME KEY | notify /NAME signal|none\n");
    return 2;
}

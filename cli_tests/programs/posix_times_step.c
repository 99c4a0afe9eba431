/* One step on a POSIX queue, for comparing the times a queue keeps on the kernel and under the
 * emulation (cli_tests/ipcs_posix_times_match_kernel.sh):
 *   posix_times_step STEP /NAME    create (maxmsg 4, msgsize 16), send, recv, getattr,
 *                                  notify (SIGEV_NONE, then exit: the exit removes it),
 *                                  notify-null (mq_notify(NULL) by a process that is not the
 *                                  owner: nothing), setattr (O_NONBLOCK off, as it was). */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: posix_times_step create|send|recv|getattr|notify|notify-null|setattr /NAME\n");
        return 2;
    }
    const char *step = argv[1];
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    mqd_t q = strcmp(step, "create") == 0 ? mq_open(argv[2], O_CREAT | O_EXCL | O_RDWR, 0600, &attr) : mq_open(argv[2], O_RDWR);
    if (q == (mqd_t)-1) {
        fprintf(stderr, "posix_times_step: mq_open: %s\n", strerror(errno));
        return 1;
    }
    char buf[16];
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    int r = 0;
    if (strcmp(step, "send") == 0)
        r = mq_send(q, "x", 1, 0);
    else if (strcmp(step, "recv") == 0)
        r = mq_receive(q, buf, sizeof buf, NULL) == 1 ? 0 : -1;
    else if (strcmp(step, "getattr") == 0)
        r = mq_getattr(q, &attr);
    else if (strcmp(step, "notify") == 0)
        r = mq_notify(q, &none);
    else if (strcmp(step, "notify-null") == 0)
        r = mq_notify(q, NULL);
    else if (strcmp(step, "setattr") == 0)
        r = mq_getattr(q, &attr) || mq_setattr(q, &attr, NULL);
    else if (strcmp(step, "create") != 0)
        r = -1, errno = EINVAL;
    if (r != 0) {
        fprintf(stderr, "posix_times_step: %s: %s\n", step, strerror(errno));
        return 1;
    }
    return 0;
}

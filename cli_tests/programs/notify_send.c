/* notify_send QNAME: opens QNAME write-only and sends one message ("sent: ok", or the error). */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    mqd_t q = mq_open(argv[1], O_WRONLY);
    if (q == (mqd_t)-1 || mq_send(q, "wake", 4, 1) != 0) {
        printf("sent: %s\n", strerror(errno));
        return 1;
    }
    printf("sent: ok\n");
    return 0;
}

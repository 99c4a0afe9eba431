/* mqt: linked-only
 *
 * include/mqshim.h compiles together with <mqueue.h> and <sys/msg.h> under
 * -Wall -Wextra -Werror, and a program linked with -lmqshim (no LD_PRELOAD) can call
 * mqshim_version() (a non-empty string) and mqshim_backend() (the backend in use, as
 * selected by MQSHIM_BACKEND) while its mq_* / msg* calls go through the shim. */
#include <mqueue.h>
#include <sys/msg.h>
#include "mqshim.h"
#include "harness.h"

int main(void)
{
    const char *version = mqshim_version();
    t_check("mqshim_version() is a non-empty string", version != NULL && version[0] != '\0');
    const char *backend = mqshim_backend();
    t_check("mqshim_backend() is \"kernel\", \"emulate\" or \"redis\"",
            backend && (strcmp(backend, "kernel") == 0 || strcmp(backend, "emulate") == 0 ||
                        strcmp(backend, "redis") == 0));
    const char *selected = getenv("MQSHIM_BACKEND");
    t_check("mqshim_backend() is the one MQSHIM_BACKEND selects",
            backend && strcmp(backend, selected && *selected ? selected : "kernel") == 0);

    const char *name = t_qname("header");
    mqd_t q = t_mq_create("header", 1, 8, 0);
    EXPECT_EQ(mq_send(q, "hdr", 3, 1), 0);
    char buf[8];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 3);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);

    int id = t_msgget_new("header", 0600, NULL);
    struct t_msg m = { .mtype = 1 };
    EXPECT_EQ(msgsnd(id, &m, 0, 0), 0);
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, 0), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}

/* mqt: */
/* Shown failing with the pools' exit handler not registered ("leftovers: 3": the child's
 * kept POSIX segment and its directory, and its kept System V segment). */
/* A process that exits normally leaves nothing of its queues behind: on the kernel a queue
 * removed is gone, and a process holds no other state. The emulation keeps the segment of a
 * queue a process made and removed for its next creation (a spare); the process's exit must
 * remove it, and must not remove the spares its parent keeps.
 *
 * The parent creates and removes one queue of each API (so it keeps spares, if the
 * emulation does), counts the entries under $MQSHIM_DIR (files and directories, recursively,
 * links not followed), then a child — which inherited a view of the parent's spares — creates
 * and removes one queue of each API twice and exits normally. The count must be what it was
 * ("leftovers: 0"; on the kernel configurations there is no namespace directory, so nothing
 * to count). The parent's spares must still serve it: it creates and removes once more. */
#include "harness.h"
#include "mqt_fault.h"

/* One create and remove of each API. */
static void create_and_remove_one_each(const char *tag)
{
    mqd_t q = t_mq_create(tag, 4, 32, 0);
    EXPECT_OK(mq_close(q));
    EXPECT_OK(mq_unlink(t_qname(tag)));
    int id = t_msgget_new(tag, 0600, NULL);
    EXPECT_OK(msgctl(id, IPC_RMID, NULL));
}

int main(void)
{
    const char *ns = fault_namespace();
    create_and_remove_one_each("parent");
    long baseline = fault_count_entries(ns);

    pid_t child = t_fork();
    if (child == 0) {
        create_and_remove_one_each("child1");
        create_and_remove_one_each("child2");
        exit(t_finish());
    }
    t_say("child exited with %d", t_reap(child));

    long left = fault_count_entries(ns) - baseline;
    t_say("leftovers: %ld", left);
    if (left != 0)
        t_failures++;
    create_and_remove_one_each("parent-again");
    t_say("parent created and removed one queue of each API again");
    return t_finish();
}

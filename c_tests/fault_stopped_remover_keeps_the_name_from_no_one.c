/* mqt: */
/* Shown failing on the code before (1b48411, shim-emulate): "msgget(key, IPC_CREAT) while the
 * remover was stopped: EAGAIN" in a few of the stops that fall inside IPC_RMID (2-20 of 900). A
 * System V remover marked its queue removed and then took the key's link away by name; a
 * creator of the key that found the link meanwhile waited for the remover, and failed with
 * EAGAIN after 20 ms if it was stopped. The remover now takes the link away first, while its
 * queue is live (README, "System V queues"). The POSIX half passed before too:
 * mq_open(O_CREAT) of a name being unlinked waits for no one. */
/* A process stopped (SIGSTOP) in the middle of removing a queue (IPC_RMID, mq_unlink) keeps
 * nobody else from making a queue of that name: on the kernel the stopped task either removed it
 * or had not, so another process's msgget(key, IPC_CREAT) or mq_open(name, O_CREAT) gets the old
 * queue or a new one, at once. The stops fall inside the child's removals; the rounds, and what
 * the transcript says, are in mqt_stopped.h. */
#define T_MAX_OBJS 256
#include "mqt_stopped.h"

int main(void)
{
    return stop_test(STOP_IN_REMOVAL, "fault_stopped_remover_keeps_the_name_from_no_one");
}

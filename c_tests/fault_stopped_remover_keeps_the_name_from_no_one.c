/* mqt: skip-config shim-emulate */
/* Still failing against the emulation, hence the marker: "msgget(key, IPC_CREAT) while the
 * remover was stopped: EAGAIN" in a few of the stops that fall inside IPC_RMID (2-20 of 900 in
 * runs on 1b7d67f). A System V remover marks its queue removed and then takes the key's link away
 * by name; a creator of the key that finds the link meanwhile waits for the remover, and fails
 * with EAGAIN after 20 ms if it is stopped: replacing the link under a remover that may still
 * take it away by name could lose the replacement (README, "System V queues"). The POSIX half
 * passes under the emulation: mq_open(O_CREAT) of a name being unlinked waits for no one. */
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

/* mqt: */
/* Shown failing on the code before a creator of a System V key could give up another's stalled
 * creation: "msgget(key, IPC_CREAT) while the creator was stopped: EAGAIN", in the rounds whose
 * stop fell between the creator's making the key's link and its committing the queue. (The
 * POSIX half passed there too: mq_open(O_CREAT) of a name waits for no other creator.) */
/* A process stopped (SIGSTOP) in the middle of creating a queue of a name keeps nobody else from
 * that name, on either API: on the kernel the stopped task either made the queue (another
 * creator of the name finds it) or had not (another creates it, and the stopped one, once it
 * runs again, opens that queue). Either way both get the name's one queue, at once. The stops
 * fall inside the child's creations; the rounds, and what the transcript says, are in
 * mqt_stopped.h. */
#define T_MAX_OBJS 256
#include "mqt_stopped.h"

int main(void)
{
    return stop_test(STOP_IN_CREATION, "fault_stopped_creator_keeps_the_name_from_no_one");
}

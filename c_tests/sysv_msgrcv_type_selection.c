/* mqt: static */
/* Which message msgrcv takes (SEMANTICS §1.13): msgtyp 0 → the oldest; > 0 → the oldest of
 * that type; > 0 with MSG_EXCEPT → the oldest of any other type; < 0 → the LOWEST type
 * <= |msgtyp| (oldest among that type), not the first in FIFO order; LONG_MIN acts as
 * "any type, lowest first"; MSG_EXCEPT is ignored for msgtyp <= 0. */
#include "harness.h"
#include <limits.h>

static void send_typed(int id, const char *text, long type)
{
    struct t_msg m = { .mtype = type };
    size_t len = strlen(text);
    memcpy(m.mtext, text, len);
    int r = msgsnd(id, &m, len, IPC_NOWAIT);
    t_say("send %s type %ld -> %s", text, type, r == 0 ? "0" : t_errno_name(errno));
}

static void take(int id, long msgtyp, int flags, const char *how, const char *want)
{
    struct t_msg r;
    memset(&r, 0, sizeof r);
    long n = msgrcv(id, &r, sizeof r.mtext, msgtyp, flags | IPC_NOWAIT);
    if (n < 0) {
        t_say("msgtyp %ld%s -> -1 %s", msgtyp, how, t_errno_name(errno));
        t_check("  is the expected outcome", want == NULL);
        return;
    }
    t_say("msgtyp %ld%s -> \"%.*s\" type %ld", msgtyp, how, (int)n, r.mtext, r.mtype);
    t_check("  is the expected message", want && strlen(want) == (size_t)n &&
                                           memcmp(want, r.mtext, (size_t)n) == 0);
}

int main(void)
{
    int id = t_msgget_new("types", 0600, NULL);

    send_typed(id, "a5", 5);
    send_typed(id, "b3", 3);
    send_typed(id, "c7", 7);
    send_typed(id, "d3", 3);
    send_typed(id, "e1", 1);

    take(id, -4, 0, "", "e1");                   /* lowest type <= 4 is 1, though b3 is older */
    take(id, -4, 0, "", "b3");                   /* then type 3, oldest first */
    take(id, 7, 0, "", "c7");
    take(id, 3, MSG_EXCEPT, " MSG_EXCEPT", "a5");
    take(id, -2, 0, "", NULL);                   /* only d3 left: nothing <= 2 */
    take(id, 0, 0, "", "d3");
    take(id, 0, 0, "", NULL);

    send_typed(id, "f9", 9);
    send_typed(id, "g4", 4);
    send_typed(id, "h6", 6);
    send_typed(id, "i4", 4);
    take(id, LONG_MIN, 0, " (LONG_MIN)", "g4");
    take(id, 0, MSG_EXCEPT, " MSG_EXCEPT", "f9");
    take(id, -5, MSG_EXCEPT, " MSG_EXCEPT", "i4");
    take(id, 6, 0, "", "h6");

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}

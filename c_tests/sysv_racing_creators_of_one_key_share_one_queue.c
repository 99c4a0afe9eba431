/* mqt: */
/* Processes that call msgget(key, IPC_CREAT) on one key at the same moment end with one queue
 * of that key: each gets its id; with IPC_EXCL exactly one succeeds and the others get EEXIST.
 * On the kernel the ids lock makes the lookup and the creation one step. An emulation whose
 * creators take no namespace-wide lock must decide between them some other way (there: the
 * key's link, made at once or not at all, and a creator that finds the link of a queue not yet
 * committed waits for it), and must leave no file of a losing creator behind.
 *
 * Each round: CREATORS children wait on a pipe, the parent releases them at once, each makes
 * its call and reports the result; the parent compares them with msgget(key, 0) and removes
 * the queue. Plain and exclusive rounds alternate, each on a key of its own. The transcript
 * says only whether every round went as the kernel's would. */
#include "harness.h"
#include <poll.h>

#define CREATORS 4
#define ROUNDS 60

struct result {
    int id;
    int err;
};

/* A creator: waits for the go (the pipe's end closing), calls, reports. */
static void creator(int go_fd, int report_fd, key_t key, int exclusive)
{
    char b;
    while (read(go_fd, &b, 1) < 0 && errno == EINTR) {}
    struct result r;
    errno = 0;
    r.id = msgget(key, IPC_CREAT | (exclusive ? IPC_EXCL : 0) | 0600);
    r.err = r.id < 0 ? errno : 0;
    if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(3);
    exit(0);
}

int main(void)
{
    int plain_ok = 1, exclusive_ok = 1, reaped_ok = 1;
    const char *first_bad = NULL;
    for (int round = 0; round < ROUNDS; round++) {
        int exclusive = round % 2;
        char tag[32];
        snprintf(tag, sizeof tag, "race%d", round);
        key_t key;
        int made = t_msgget_new(tag, 0600, &key);   /* a free key of this run: made, removed */
        T_REQUIRE(msgctl(made, IPC_RMID, NULL) == 0);
        int go[2], rep[2];
        t_pipe_cloexec(go);
        t_pipe_cloexec(rep);
        pid_t pid[CREATORS];
        for (int i = 0; i < CREATORS; i++) {
            pid[i] = t_fork();
            if (pid[i] == 0) {
                close(go[1]);
                close(rep[0]);
                creator(go[0], rep[1], key, exclusive);
            }
        }
        close(go[0]);
        close(rep[1]);
        close(go[1]);                               /* go: every creator's read returns */
        struct result r[CREATORS];
        int got = 0;
        for (int i = 0; i < CREATORS; i++)
            if (read(rep[0], &r[i], sizeof r[i]) == (ssize_t)sizeof r[i])
                got++;
        close(rep[0]);
        for (int i = 0; i < CREATORS; i++)
            if (t_reap(pid[i]) != 0)
                reaped_ok = 0;
        errno = 0;
        int id = msgget(key, 0);
        int succeeded = 0, eexist = 0, same = 0;
        for (int i = 0; i < got; i++) {
            succeeded += r[i].id >= 0;
            eexist += r[i].id < 0 && r[i].err == EEXIST;
            same += r[i].id >= 0 && r[i].id == id;
        }
        if (got != CREATORS || id < 0)
            first_bad = first_bad ? first_bad : "a creator did not report, or the key has no queue";
        else if (!exclusive && same != CREATORS)
            plain_ok = 0;
        else if (exclusive && (succeeded != 1 || same != 1 || eexist != CREATORS - 1))
            exclusive_ok = 0;
        if (id < 0)
            break;
        if (msgctl(id, IPC_RMID, NULL) != 0)
            first_bad = first_bad ? first_bad : "the key's queue could not be removed";
    }
    t_say("every creator exited cleanly: %s", reaped_ok ? "yes" : "no");
    t_say("plain rounds, every creator got the key's one queue: %s", plain_ok && !first_bad ? "yes" : "no");
    t_say("exclusive rounds, one creator succeeded and the others got EEXIST: %s", exclusive_ok && !first_bad ? "yes" : "no");
    if (first_bad)
        t_say("first failure: %s", first_bad);
    return t_finish();
}

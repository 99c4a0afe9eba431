/* mqt: shim-only */
/* MQSHIM_FAULTS applies to mqshim's scheduled-message calls, by their own names and with queue
 * filters, as to mq_send and msgsnd: with "mqshim_mq_send_at[/A]:EAGAIN;
 * mqshim_mq_cancel[/A]:EBADF;mqshim_msgsnd_at[key=KA]:EACCES;mqshim_msg_cancel[id=<KB's id>]:EIDRM"
 * each call on the named queue fails with the rule's errno — on either backend, since the
 * fault comes before the backend — and the same call on the other queue is left to the backend
 * (it succeeds under the emulation and the Redis backend, fails with ENOTSUP under the kernel
 * backend, which has no scheduled messages). An "mq_send:EAGAIN" rule does not touch mqshim_mq_send_at. The records
 * of the failed calls are marked "injected" in the trace (their count is checked: 4). (Names,
 * keys and ids differ from run to run: the transcript says A, B, KA, KB.) Shim-only: the plain
 * kernel has neither fault injection nor scheduled messages; the test checks its own
 * expectations. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_shim.h"

static const char *name_a, *name_b;
static key_t key_a, key_b;

/* Whether the backend handled a call the rules leave alone: as `emulated_ret`/`emulated_errno`
 * under the emulation and the Redis backend, -1 with ENOTSUP under the kernel backend. */
static int left_to_backend(int ret, int emulated_ret, int emulated_errno)
{
    int e = errno;
    const char *backend = ((__typeof__(mqshim_backend) *)shim_symbol("mqshim_backend"))();
    if (strcmp(backend, "emulate") == 0 || strcmp(backend, "redis") == 0)
        return ret == emulated_ret && (ret == 0 || e == emulated_errno);
    return ret == -1 && e == ENOTSUP;
}

static void phase_calls(const char *only_mq_send)
{
    mqd_t a = mq_open(name_a, O_WRONLY | O_NONBLOCK);
    mqd_t b = mq_open(name_b, O_WRONLY | O_NONBLOCK);
    T_REQUIRE(a != (mqd_t)-1 && b != (mqd_t)-1);
    struct timespec due = t_deadline_ms(60000);
    mqshim_handle_t h = 0;
    if (only_mq_send) {
        t_check("an mq_send rule leaves mqshim_mq_send_at to the backend",
                left_to_backend(shim_mq_send_at(a, "x", 1, 0, &due, &h), 0, 0));
        mq_close(a);
        mq_close(b);
        return;
    }
    EXPECT_ERR(shim_mq_send_at(a, "x", 1, 0, &due, &h), EAGAIN);
    t_check("mqshim_mq_send_at on B is left to the backend", left_to_backend(shim_mq_send_at(b, "x", 1, 0, &due, &h), 0, 0));
    EXPECT_ERR(shim_mq_cancel(a, 1), EBADF);
    t_check("mqshim_mq_cancel on B is left to the backend (ENOENT: no such handle)",
            left_to_backend(shim_mq_cancel(b, 999999), -1, ENOENT));
    int ida = msgget(key_a, 0), idb = msgget(key_b, 0);
    T_REQUIRE(ida >= 0 && idb >= 0);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "s", 1);
    EXPECT_ERR(shim_msgsnd_at(ida, &m, 1, 0, &due, &h), EACCES);
    t_check("mqshim_msgsnd_at on KB is left to the backend", left_to_backend(shim_msgsnd_at(idb, &m, 1, 0, &due, &h), 0, 0));
    EXPECT_ERR(shim_msg_cancel(idb, 1), EIDRM);
    t_check("mqshim_msg_cancel on KA is left to the backend (ENOENT: no such handle)",
            left_to_backend(shim_msg_cancel(ida, 999999), -1, ENOENT));
    mq_close(a);
    mq_close(b);
}

/* Records of `pid` marked "injected":true whose call is one of mqshim's. */
static int injected_scheduled_records(pid_t pid)
{
    const char *path = getenv("MQSHIM_TRACE");
    T_REQUIRE(path && strchr(path, '/') && !strstr(path, "%p"));
    FILE *f = fopen(path, "r");
    T_REQUIRE(f != NULL);
    char pidkey[48];
    snprintf(pidkey, sizeof pidkey, "\"pid\":%d,", (int)pid);
    static char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, pidkey) && strstr(line, "\"call\":\"mqshim_") && strstr(line, "\"injected\":true"))
            n++;
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    name_a = t_qname("sfa");
    name_b = t_qname("sfb");
    const char *arg = NULL;
    const char *phase = shim_phase(argc, argv, &arg);
    if (phase) {
        const char *k = getenv("MQT_SCHED_KEYS");
        T_REQUIRE(k && sscanf(k, "%x %x", (unsigned *)&key_a, (unsigned *)&key_b) == 2);
        phase_calls(strcmp(phase, "mq_send-rule") == 0 ? "yes" : NULL);
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    const char *fmt = getenv("MQSHIM_TRACE_FORMAT");
    T_REQUIRE(fmt && strcmp(fmt, "jsonl") == 0);
    mqd_t a = t_mq_create("sfa", 4, 16, 0);
    mqd_t b = t_mq_create("sfb", 4, 16, 0);
    int ida = t_msgget_new("sfka", 0600, &key_a);
    int idb = t_msgget_new("sfkb", 0600, &key_b);
    char keys[64], spec[1024];
    snprintf(keys, sizeof keys, "%x %x", (unsigned)key_a, (unsigned)key_b);
    T_REQUIRE(setenv("MQT_SCHED_KEYS", keys, 1) == 0);

    t_say("-- MQSHIM_FAULTS=mqshim_mq_send_at[A]:EAGAIN;mqshim_mq_cancel[A]:EBADF;"
          "mqshim_msgsnd_at[key=KA]:EACCES;mqshim_msg_cancel[id=<KB's id>]:EIDRM");
    snprintf(spec, sizeof spec,
             "mqshim_mq_send_at[%s]:EAGAIN;mqshim_mq_cancel[%s]:EBADF;"
             "mqshim_msgsnd_at[key=0x%08x]:EACCES;mqshim_msg_cancel[id=%d]:EIDRM",
             name_a, name_a, (unsigned)key_a, idb);
    pid_t pid = shim_run_phase(argv, "MQSHIM_FAULTS", spec, "rules", NULL, NULL);
    t_check("the 4 failed calls' records are marked injected", injected_scheduled_records(pid) == 4);

    t_say("-- MQSHIM_FAULTS=mq_send:EAGAIN");
    pid = shim_run_phase(argv, "MQSHIM_FAULTS", "mq_send:EAGAIN", "mq_send-rule", NULL, NULL);
    t_check("no record of it is marked injected", injected_scheduled_records(pid) == 0);

    EXPECT_EQ(mq_close(a), 0);
    EXPECT_EQ(mq_close(b), 0);
    EXPECT_EQ(mq_unlink(name_a), 0);
    EXPECT_EQ(mq_unlink(name_b), 0);
    EXPECT_EQ(msgctl(ida, IPC_RMID, NULL), 0);
    EXPECT_EQ(msgctl(idb, IPC_RMID, NULL), 0);
    return t_finish();
}

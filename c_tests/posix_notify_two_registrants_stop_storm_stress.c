/* mqt: */
/* Two processes take turns at one queue's notification registration while the processes that
 * send and receive on it are stopped (SIGSTOP) at pseudo-random moments — for the emulation,
 * often while one holds the queue's lock, where mq_notify and the close that removes a
 * registration leave their change for the lock's next holder (README, "Stopped processes and
 * corrupt locks"). On the kernel a stopped process holds no lock, and each step's answer is
 * fixed: this process registers (0); the other process's registration is EBUSY; this one
 * removes its own (NULL: 0); the other registers (0); this one's is EBUSY; the other closes its
 * descriptor (which removes its registration) and opens the queue again; this one registers
 * (0) and removes it. The busy processes keep the queue holding a message or two, so nothing
 * fires. Half the rounds continue the stopped processes half-way (after the other's
 * registration), so that the lock's next holder takes over a change while the rest wait.
 * Shown failing on the code before (9d0be5a, shim-emulate): EAGAIN at this
 * process's and the other's registrations.
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). */
#include "harness.h"
#include "mqt_fault.h"

#define STRESS_MAXPAYLOAD 16
#include "mqt_stress.h"

#define NBUSY 2

/* The other registrant's steps, asked for by one byte on a pipe; it answers with the errno it
 * got (0: success). */
enum { OTHER_REGISTER = 'r', OTHER_CLOSE_REOPEN = 'c', OTHER_END = 'e' };

static void other_registrant(const char *name, int rd, int wr)
{
    mqd_t q = mq_open(name, O_RDWR | O_NONBLOCK);
    for (;;) {
        char step;
        alarm(t_timeout_seconds());
        if (read(rd, &step, 1) != 1 || step == OTHER_END)
            break;
        int got = 0;
        if (step == OTHER_REGISTER) {
            got = fault_notify_none(q, 1);
        } else {
            mq_close(q);
            q = mq_open(name, O_RDWR | O_NONBLOCK);
            got = q == (mqd_t)-1 ? errno : 0;
        }
        unsigned char answer = (unsigned char)got;
        if (write(wr, &answer, 1) != 1)
            break;
    }
    mq_close(q);
}

int main(void)
{
    fault_seed("posix_notify_two_registrants_stop_storm_stress");
    const char *name = t_qname("notifystorm");
    mqd_t q = fault_busy_queue("notifystorm");

    int ask[2], answer[2];
    T_REQUIRE(pipe(ask) == 0 && pipe(answer) == 0);
    t_child other = t_spawn();
    if (other.pid == 0) {
        close(ask[1]);
        close(answer[0]);
        other_registrant(name, ask[0], answer[1]);
        exit(t_child_status());
    }
    close(ask[0]);
    close(answer[1]);
    struct fault_holder holders[NBUSY];
    for (int i = 0; i < NBUSY; i++)
        holders[i] = fault_holder_start(fault_busy_send_receive, NULL);

    struct fault_step mine = { "this process registers", 0, 0, 0 };
    struct fault_step others_busy = { "the other's registration meets this one's", EBUSY, 0, 0 };
    struct fault_step removed = { "this process removes its own", 0, 0, 0 };
    struct fault_step others = { "the other registers", 0, 0, 0 };
    struct fault_step mine_busy = { "this one's meets the other's", EBUSY, 0, 0 };
    struct fault_step reopened = { "the other closes and opens again", 0, 0, 0 };
    struct fault_step after_close = { "this process registers after the other's close", 0, 0, 0 };
    struct fault_step removed_last = { "this process removes it", 0, 0, 0 };
    long long end = stress_now_ns() + (long long)(stress_seconds() * 1e9);
    long rounds = 0;
    while (stress_now_ns() < end) {
        alarm(t_timeout_seconds());
        unsigned stopped = 1 + (unsigned)fault_below(3); /* bit i: holders[i] is stopped */
        for (int i = 0; i < NBUSY; i++)
            if (stopped & (1u << i))
                fault_holder_stop(&holders[i]);
        int halfway = fault_below(2) == 0;
        unsigned char got;
        fault_step_tally(&mine, fault_notify_none(q, 1));
        T_REQUIRE(write(ask[1], &(char){ OTHER_REGISTER }, 1) == 1 && read(answer[0], &got, 1) == 1);
        fault_step_tally(&others_busy, got);
        fault_step_tally(&removed, fault_notify_none(q, 0));
        T_REQUIRE(write(ask[1], &(char){ OTHER_REGISTER }, 1) == 1 && read(answer[0], &got, 1) == 1);
        fault_step_tally(&others, got);
        if (halfway) {
            for (int i = 0; i < NBUSY; i++)
                if (stopped & (1u << i))
                    fault_holder_continue(&holders[i]);
        }
        fault_step_tally(&mine_busy, fault_notify_none(q, 1));
        T_REQUIRE(write(ask[1], &(char){ OTHER_CLOSE_REOPEN }, 1) == 1 && read(answer[0], &got, 1) == 1);
        fault_step_tally(&reopened, got);
        fault_step_tally(&after_close, fault_notify_none(q, 1));
        fault_step_tally(&removed_last, fault_notify_none(q, 0));
        if (!halfway) {
            for (int i = 0; i < NBUSY; i++)
                if (stopped & (1u << i))
                    fault_holder_continue(&holders[i]);
        }
        rounds++;
    }
    T_REQUIRE(write(ask[1], &(char){ OTHER_END }, 1) == 1);
    close(ask[1]);
    for (int i = 0; i < NBUSY; i++)
        holders[i].sh->stop = 1;
    for (int i = 0; i < NBUSY; i++)
        fault_holder_end(&holders[i], 0);
    t_join(&other, 0);
    close(answer[0]);
    fprintf(stderr, "posix_notify_two_registrants_stop_storm_stress: %ld rounds\n", rounds);

    fault_step_say(&mine);
    fault_step_say(&others_busy);
    fault_step_say(&removed);
    fault_step_say(&others);
    fault_step_say(&mine_busy);
    fault_step_say(&reopened);
    fault_step_say(&after_close);
    fault_step_say(&removed_last);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

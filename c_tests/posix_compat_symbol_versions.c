/* A program built against glibc < 2.34 (mq_* in librt) references the compatibility symbols
 * mq_*@GLIBC_2.3.4 (and a fortified one __mq_open_2@GLIBC_2.7), which libc.so.6 still
 * provides. This file binds every call to those versions (.symver), so in the shim
 * configurations it shows that the shim's definitions are also used for such references
 * (the trace must count every call; __mq_open_2 is traced as mq_open). */
#include "harness.h"

__asm__(".symver mq_open, mq_open@GLIBC_2.3.4");
__asm__(".symver mq_close, mq_close@GLIBC_2.3.4");
__asm__(".symver mq_unlink, mq_unlink@GLIBC_2.3.4");
__asm__(".symver mq_send, mq_send@GLIBC_2.3.4");
__asm__(".symver mq_timedsend, mq_timedsend@GLIBC_2.3.4");
__asm__(".symver mq_receive, mq_receive@GLIBC_2.3.4");
__asm__(".symver mq_timedreceive, mq_timedreceive@GLIBC_2.3.4");
__asm__(".symver mq_getattr, mq_getattr@GLIBC_2.3.4");
__asm__(".symver mq_setattr, mq_setattr@GLIBC_2.3.4");
__asm__(".symver mq_notify, mq_notify@GLIBC_2.3.4");
__asm__(".symver __mq_open_2, __mq_open_2@GLIBC_2.7");

extern mqd_t __mq_open_2(const char *name, int oflag);   /* declared only under fortify */
#define mq_open_2(name, oflag) (t_count(T_MQ_OPEN), __mq_open_2(name, oflag))

int main(void)
{
    const char *name = t_qname("compat");
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 8 };
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    struct timespec later = t_deadline_ms(1000);
    char buf[8];
    unsigned prio;

    EXPECT_EQ(mq_send(q, "old", 3, 1), 0);
    EXPECT_EQ(mq_timedsend(q, "abi", 3, 2, &later), 0);
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 3);
    t_show_msg("received", buf, n, prio);
    n = EXPECT_EQ(mq_timedreceive(q, buf, sizeof buf, &prio, &later), 3);
    t_show_msg("received", buf, n, prio);
    struct mq_attr got, nonblock = { .mq_flags = O_NONBLOCK };
    EXPECT_EQ(mq_setattr(q, &nonblock, NULL), 0);
    EXPECT_EQ(mq_getattr(q, &got), 0);
    t_say("flags %s curmsgs %ld", got.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "other",
          got.mq_curmsgs);
    struct sigevent none = { .sigev_notify = SIGEV_NONE };
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    mqd_t again = EXPECT_OK(mq_open_2(name, O_RDONLY));
    EXPECT_EQ(mq_close(again), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}

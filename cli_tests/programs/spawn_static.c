/* spawn_static HOW PROGRAM ARGS...: starts PROGRAM (with ARGS, and argv[0] "named-child") the
 * way HOW says — execve, execv, execvp, execvpe, execl, execlp, execle (the process becomes it;
 * the list variants pass up to seven ARGS, so some on the stack), posix_spawn,
 * posix_spawnp or system (a child, waited for) — and prints "spawned: STATUS" for the last
 * three. What `mqshim run`'s tests run to see a statically linked program started by a
 * preloaded one. Exit 0, or 3 when the start failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn_static HOW PROGRAM [ARGS...]\n");
        return 2;
    }
    const char *how = argv[1], *program = argv[2];
    char *args[64] = {"named-child"};
    for (int i = 3; i < argc && i < 63; i++)
        args[i - 2] = argv[i];
    fflush(stdout);
    if (strcmp(how, "execve") == 0)
        execve(program, args, environ);
    else if (strcmp(how, "execv") == 0)
        execv(program, args);
    else if (strcmp(how, "execvp") == 0)
        execvp(program, args);
    else if (strcmp(how, "execvpe") == 0)
        execvpe(program, args, environ);
    else if (strcmp(how, "execl") == 0)
        execl(program, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], (char *)NULL);
    else if (strcmp(how, "execlp") == 0)
        execlp(program, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], (char *)NULL);
    else if (strcmp(how, "execle") == 0)
        execle(program, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], (char *)NULL, environ);
    else {
        pid_t pid = -1;
        int status = 0, rc;
        if (strcmp(how, "posix_spawn") == 0)
            rc = posix_spawn(&pid, program, NULL, NULL, args, environ);
        else if (strcmp(how, "posix_spawnp") == 0)
            rc = posix_spawnp(&pid, program, NULL, NULL, args, environ);
        else if (strcmp(how, "system") == 0) {
            char command[4096];
            snprintf(command, sizeof command, "%s %s", program, argc > 3 ? argv[3] : "");
            rc = system(command);
            printf("spawned: %d\n", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
            return 0;
        } else {
            fprintf(stderr, "spawn_static: unknown HOW %s\n", how);
            return 2;
        }
        if (rc != 0) {
            printf("spawn: %s\n", strerror(rc));
            return 3;
        }
        waitpid(pid, &status, 0);
        printf("spawned: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    printf("exec: %s\n", strerror(errno));
    return 3;
}

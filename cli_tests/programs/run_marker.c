/* A preload library of the test's own: its constructor prints "MARKER <program name>" on
 * stderr, showing that an LD_PRELOAD the user had is still loaded under `mqshim run`. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>

__attribute__((constructor)) static void marker(void) {
    fprintf(stderr, "MARKER %s\n", program_invocation_short_name);
}

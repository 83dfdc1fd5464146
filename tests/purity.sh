#!/bin/sh
# Algorithm cores are pure state machines (DESIGN.md): no syscalls, no clock,
# no rand(), no printf. This keeps them testable and replayable from a seed.
src="${DISTLAB_SRCDIR:-$(dirname "$0")/..}"
# runtime.c binds a core to the OS and sim.c drives cores in memory: not cores.
cores=$(ls "$src"/nodes/*.c | grep -v -e runtime.c -e sim.c)
pattern='\b(mq_[a-z]+|shm_[a-z]+|epoll_[a-z]+|timerfd_[a-z]+|signalfd|clock_gettime|gettimeofday|time|rand|random|srand|drand48|getrandom|printf|fprintf|puts|sleep|usleep|nanosleep|fork|kill|open|read|write|malloc|calloc|realloc|free)\s*\('
# algo.c sizes each node's action buffer once at start-up: it may allocate.
bad=$(grep -nE "$pattern" $cores | grep -vE '^\S+:[0-9]+:\s*(/\*|\*)' |
      grep -vE '/algo\.c:[0-9]+:.*\b(malloc|calloc|realloc|free)\(')
includes=$(grep -nE '#include "ipc/' $cores)
if [ -n "$bad$includes" ]; then
    echo "FAIL: algorithm cores must not call the OS, the clock or rand():"
    echo "$bad"
    echo "$includes"
    exit 1
fi
echo "PASS: $(echo "$cores" | wc -w) core files are pure"

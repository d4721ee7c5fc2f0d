#pragma once
// A number a forked child measures about itself (its page faults, its RSS) and sends its parent
// through a pipe before it exits: the child's half and the parent's, which reaps the child.
#include <catch2/catch.hpp>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vn::test {

// In the child: writes `value` to the pipe's write end and exits, 0 when it was written.
[[noreturn]] inline void send_to_parent_and_exit(const int (&pipe_fds)[2], long value) {
    ::_exit(::write(pipe_fds[1], &value, sizeof(value)) == sizeof(value) ? 0 : 1);
}

// In the parent: the child's value (-1 when none came), with both pipe ends closed and the
// child reaped.
inline long receive_from_child(pid_t child, const int (&pipe_fds)[2]) {
    ::close(pipe_fds[1]);
    long value = -1;
    CHECK(::read(pipe_fds[0], &value, sizeof(value)) == sizeof(value));
    ::close(pipe_fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    return value;
}

} // namespace vn::test

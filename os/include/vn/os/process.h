#pragma once
// Process creation beyond fork(), shared by the sandbox (the jail's hand-over) and the server (the
// zygote that forks spare workers).
#include <dlfcn.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace vn::os {

// glibc keeps each thread's kernel tid in its thread descriptor (pthread_self()) and uses it as the
// owner id of mutexes and rwlocks; fork() has the kernel set it in the child (CLONE_CHILD_SETTID).
// A clone of our own must do the same, so it needs that field's address. libc exports its offset
// for debuggers (libthread_db) as _thread_db_pthread_tid = {size in bits, count, offset}; it is
// checked against gettid() before use, and where anything differs this returns null and callers
// do without the clone.
//
// The offset is looked up once per process image and inherited by fork: dlsym searches every
// loaded library (with a preloaded driver, LLVM's symbol tables too), and looking it up again in
// each spare worker and each fork of the zygote took a sixth of a spare's start-up CPU.
inline pid_t* glibc_tid_field() {
    static const std::int64_t offset = [] {
        const auto* field =
            static_cast<const std::uint32_t*>(::dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid"));
        if (!field || field[0] != 8 * sizeof(pid_t) || field[1] != 1)
            return std::int64_t{-1};
        return static_cast<std::int64_t>(field[2]);
    }();
    if (offset < 0)
        return nullptr;
    auto* tid = reinterpret_cast<pid_t*>(reinterpret_cast<char*>(::pthread_self()) + offset);
    return *tid == static_cast<pid_t>(::syscall(SYS_gettid)) ? tid : nullptr;
}

// fork() for a process that forks on its parent's behalf: the child is the caller's sibling
// (CLONE_PARENT), so the parent gets its SIGCHLD, reaps it and is the parent its
// PR_SET_PDEATHSIG refers to. Only from a single-threaded process (no atfork handlers run).
// `namespaces` (CLONE_NEW* flags) has the child born in new namespaces, as unshare(2) would give
// it, PID namespace included: it is then PID 1 there, and getppid() returns 0 in it.
// Returns as fork() does; -1 with errno where the kernel (clone3, Linux 5.3; or the namespaces)
// or the C library (glibc_tid_field) cannot do it.
//
// Hand-written because fork() has no such flag and glibc has no clone3 wrapper; clone3 without
// CLONE_VM copies the address space as fork() does, and the child returns 0 on its copy of this
// stack, keeping the caller's restartable-sequences registration. The kernel writes the child's
// tid as its own PID namespace numbers it, which is what glibc's field must hold.
inline pid_t fork_sibling(std::uint64_t namespaces = 0) {
    pid_t* tid = glibc_tid_field();
    if (!tid) {
        errno = ENOSYS;
        return -1;
    }
    clone_args args{};
    args.flags = CLONE_PARENT | CLONE_CHILD_SETTID | namespaces;
    args.child_tid = reinterpret_cast<std::uintptr_t>(tid);
    // No exit signal of its own: with CLONE_PARENT the child takes the caller's (SIGCHLD for a
    // process made by fork()), and clone3 refuses another.
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof(args)));
}

} // namespace vn::os

#pragma once
// What a worker tells the server about itself, beyond its exit status: its counters, how far it
// got (serving, fatal and why, the signal or the seccomp violation that is killing it). It lives
// in a page shared between the server and that one worker, mapped before the fork, so the server
// can read it at any time (an operator's SIGUSR1 dump) and after any death (SIGKILL included),
// and the worker never needs an extra fd or a message that could be lost. Other workers never see
// it (MADV_DONTFORK once the worker is forked).
//
// The worker is driven by the guest and may be compromised: the server reads this page as
// untrusted numbers and text (bounded, made printable), never as pointers or sizes of its own.
#include "vn/decoder/context.h"
#include "vn/os/unique_fd.h"

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace vn::server {

enum class WorkerPhase : std::uint32_t {
    Starting = 0,
    Serving = 1,
    PeerClosed = 2,  // the VMM closed the context socket; the worker exits 0
    Fatal = 3,       // the context turned fatal; the reason is set
    Crashed = 4,     // a fatal signal hit the worker; `signal` is set
    Violation = 5,   // a seccomp violation; `syscall` is set
    OutOfMemory = 6, // a host allocation failed (rlimit or memory cgroup)
};

struct WorkerReport {
    std::atomic<std::uint32_t> phase{0};
    std::atomic<std::int32_t> signal{0};
    std::atomic<std::int32_t> syscall{-1};
    std::atomic<std::uint32_t> reason_size{0}; // set after the reason bytes
    // A spare sets it to 1, and wakes a futex waiter, once it is jailed and waits for its
    // context: the zygote forks the next spare only then (zygote.cpp).
    std::atomic<std::uint32_t> spare_ready{0};
    char reason[480] = {};
    decoder::ContextCounters counters;

    // Worker side. The first reason wins; later ones are consequences.
    void set_fatal(const std::string& why);
    void set_phase(WorkerPhase p) { phase.store(static_cast<std::uint32_t>(p)); }
};

// The report page: an anonymous shared mapping, unmapped when this goes.
class SharedReport {
  public:
    // nullptr report when the mapping fails (the worker then runs without one).
    SharedReport();
    ~SharedReport();
    SharedReport(const SharedReport&) = delete;
    SharedReport& operator=(const SharedReport&) = delete;
    SharedReport(SharedReport&& other) noexcept;
    SharedReport& operator=(SharedReport&& other) noexcept;

    // The same two pages in a memfd (the report, then the pid slot), for a worker that another
    // process forks (the zygote, zygote.h): it maps them before its fork and sends the fd, and
    // the server maps them from that fd. make_memfd: an invalid fd on failure. from_memfd: get()
    // is null where the fd is not such a memfd; `construct`: only the first to map it.
    static os::UniqueFd make_memfd();
    static SharedReport from_memfd(int fd, bool construct);

    WorkerReport* get() const { return m_report; }
    // Server side, after the fork: later forks (other workers) do not inherit these pages.
    void keep_out_of_forks() const;

    // A page of its own where the jail's hand-over (vn::sandbox::Jail::setup) has the kernel write
    // the worker's pid; null when it could not be mapped. The worker unmaps it before it serves
    // (forget_worker_pid_slot), so that what the server reads there was written before any guest
    // byte arrived.
    pid_t* worker_pid_slot() const { return m_pid_slot; }
    pid_t handed_over_pid() const;
    // Worker side.
    static void forget_worker_pid_slot(pid_t* slot);

  private:
    struct Unmapped {};
    explicit SharedReport(Unmapped) {}
    void reset();
    WorkerReport* m_report = nullptr;
    pid_t* m_pid_slot = nullptr;
};

// Server side: the reason and the counters of a report, copied out and made printable.
std::string report_reason(const WorkerReport& report);
// One machine-readable key=value string of the counters ("cmds=12 bytes=345 ...").
std::string format_counters(const decoder::ContextCounters& counters);

// Worker side, once per worker process: fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
// SIGTRAP) are recorded in the report before they kill, and a failed host allocation is recorded
// as OutOfMemory. The worker still dies of the same signal.
void install_crash_reporting(WorkerReport* report);
// In a process that forks workers, before it does: what install_crash_reporting() would write
// into memory that every worker would otherwise copy a page for (the C++ runtime's new handler,
// which without a report behaves as the default one: std::bad_alloc is thrown).
void prepare_crash_reporting();
// Async-signal-safe: records a seccomp violation in the report installed above. The jail's SIGSYS
// handler calls it (vn::sandbox::Jail::report_violations_to) before the worker dies of SIGSYS.
void record_violation(int syscall_nr);

} // namespace vn::server

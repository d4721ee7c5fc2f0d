#include "worker_report.h"

#include "log.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace vn::server {

void WorkerReport::set_fatal(const std::string& why) {
    std::uint32_t expected = static_cast<std::uint32_t>(WorkerPhase::Serving);
    std::uint32_t starting = static_cast<std::uint32_t>(WorkerPhase::Starting);
    const auto fatal = static_cast<std::uint32_t>(WorkerPhase::Fatal);
    if (!phase.compare_exchange_strong(expected, fatal) &&
        !phase.compare_exchange_strong(starting, fatal))
        return;
    const std::size_t n = std::min(why.size(), sizeof(reason));
    std::memcpy(reason, why.data(), n);
    reason_size.store(static_cast<std::uint32_t>(n), std::memory_order_release);
}

namespace {
// One page: the slot must not share a page with anything the worker keeps.
const std::size_t kPidSlotBytes = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
} // namespace

SharedReport::SharedReport() {
    void* addr = ::mmap(nullptr, sizeof(WorkerReport), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (addr == MAP_FAILED)
        return;
    m_report = new (addr) WorkerReport();
    void* slot =
        ::mmap(nullptr, kPidSlotBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slot != MAP_FAILED)
        m_pid_slot = static_cast<pid_t*>(slot);
}

namespace {
std::size_t report_bytes() {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (sizeof(WorkerReport) + page - 1) / page * page;
}
} // namespace

os::UniqueFd SharedReport::make_memfd() {
    os::UniqueFd fd(::memfd_create("vn-worker-report", MFD_CLOEXEC));
    if (fd && ::ftruncate(fd.get(), static_cast<off_t>(report_bytes() + kPidSlotBytes)) != 0)
        fd.reset();
    return fd;
}

SharedReport SharedReport::from_memfd(int fd, bool construct) {
    SharedReport out{Unmapped{}};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size != static_cast<off_t>(report_bytes() + kPidSlotBytes))
        return out;
    void* report = ::mmap(nullptr, sizeof(WorkerReport), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (report == MAP_FAILED)
        return out;
    out.m_report = construct ? new (report) WorkerReport() : static_cast<WorkerReport*>(report);
    void* slot = ::mmap(nullptr, kPidSlotBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                        static_cast<off_t>(report_bytes()));
    if (slot != MAP_FAILED)
        out.m_pid_slot = static_cast<pid_t*>(slot);
    return out;
}

SharedReport::~SharedReport() {
    reset();
}

SharedReport::SharedReport(SharedReport&& other) noexcept
    : m_report(std::exchange(other.m_report, nullptr)),
      m_pid_slot(std::exchange(other.m_pid_slot, nullptr)) {}

SharedReport& SharedReport::operator=(SharedReport&& other) noexcept {
    if (this != &other) {
        reset();
        m_report = std::exchange(other.m_report, nullptr);
        m_pid_slot = std::exchange(other.m_pid_slot, nullptr);
    }
    return *this;
}

void SharedReport::reset() {
    if (m_pid_slot)
        ::munmap(m_pid_slot, kPidSlotBytes);
    m_pid_slot = nullptr;
    if (!m_report)
        return;
    m_report->~WorkerReport();
    ::munmap(m_report, sizeof(WorkerReport));
    m_report = nullptr;
}

void SharedReport::keep_out_of_forks() const {
    if (m_report)
        ::madvise(m_report, sizeof(WorkerReport), MADV_DONTFORK);
    if (m_pid_slot)
        ::madvise(m_pid_slot, kPidSlotBytes, MADV_DONTFORK);
}

pid_t SharedReport::handed_over_pid() const {
    return m_pid_slot ? __atomic_load_n(m_pid_slot, __ATOMIC_ACQUIRE) : 0;
}

void SharedReport::forget_worker_pid_slot(pid_t* slot) {
    if (slot)
        ::munmap(slot, kPidSlotBytes);
}

std::string report_reason(const WorkerReport& report) {
    const std::size_t n = std::min<std::size_t>(report.reason_size.load(std::memory_order_acquire),
                                                sizeof(report.reason));
    char copy[sizeof(report.reason)];
    std::memcpy(copy, report.reason, n);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = copy[i];
        // Quotes and backslashes would break the key="value" form of the log line.
        out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
    }
    return out;
}

std::string format_counters(const decoder::ContextCounters& c) {
    auto v = [](const std::atomic<std::uint64_t>& a) {
        return std::to_string(a.load(std::memory_order_relaxed));
    };
    return "cmds=" + v(c.commands) + " bytes=" + v(c.bytes) + " submits=" + v(c.submits) +
           " device_mem=" + v(c.device_memory) + " host_mem=" + v(c.host_memory) +
           " objects=" + v(c.objects) + " rings=" + v(c.rings) +
           " device_mem_peak=" + v(c.device_memory_peak) +
           " host_mem_peak=" + v(c.host_memory_peak) + " objects_peak=" + v(c.objects_peak) +
           " quota_refusals=" + v(c.quota_refusals);
}

namespace {

WorkerReport* g_report = nullptr;

// Async-signal-safe: atomic stores only. The first signal is the cause; an abort() that follows
// a fault must not rename it, and an abort after a failed allocation stays an out-of-memory end.
void record_signal(int sig) {
    if (!g_report)
        return;
    std::int32_t none = 0;
    g_report->signal.compare_exchange_strong(none, sig);
    auto serving = static_cast<std::uint32_t>(WorkerPhase::Serving);
    g_report->phase.compare_exchange_strong(serving,
                                            static_cast<std::uint32_t>(WorkerPhase::Crashed));
}

void crash_handler(int sig, siginfo_t* info, void*) {
    record_signal(sig);
    // A fault (si_code > 0) happens again when the handler returns, now with the default
    // action (SA_RESETHAND): the kernel forces that one even on PID 1 of a PID namespace.
    if (info->si_code > 0)
        return;
    // Sent by a process (kill, raise, abort). PID 1 of a PID namespace ignores its own
    // default-action signals, so where the raise does not end us, exit with the shell's code.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(sig);
    ::_exit(128 + sig);
}

// Termination and rlimit signals: recorded like a crash, then the worker exits with the shell's
// code. Without a handler PID 1 of a PID namespace ignores them (the kernel's included), and the
// worker is that PID 1 with no reaper left to die in its place (vn::sandbox::Jail).
void termination_handler(int sig) {
    record_signal(sig);
    ::_exit(128 + sig);
}

void out_of_memory() {
    if (g_report)
        g_report->phase.store(static_cast<std::uint32_t>(WorkerPhase::OutOfMemory));
    // Caught nowhere: the worker aborts, and the server reads why.
    throw std::bad_alloc();
}

} // namespace

void install_crash_reporting(WorkerReport* report) {
    g_report = report;
    if (!report)
        return;
    struct sigaction action {};
    action.sa_sigaction = crash_handler;
    action.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP})
        ::sigaction(sig, &action, nullptr);
    struct sigaction terminate {};
    terminate.sa_handler = termination_handler;
    sigemptyset(&terminate.sa_mask);
    for (const int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGXCPU, SIGXFSZ})
        ::sigaction(sig, &terminate, nullptr);
    // Read before written: set in the zygote already (prepare_crash_reporting), a write would
    // copy the C++ runtime's page for nothing.
    if (std::get_new_handler() != out_of_memory)
        std::set_new_handler(out_of_memory);
}

void prepare_crash_reporting() {
    std::set_new_handler(out_of_memory);
}

void record_violation(int syscall_nr) {
    if (g_report) {
        g_report->syscall.store(syscall_nr);
        g_report->phase.store(static_cast<std::uint32_t>(WorkerPhase::Violation));
    }
}

} // namespace vn::server

#pragma once
// venus-bench: what every part of the tool shares (options, the workload shape, the figures one
// target collects over the rounds).
#include "venus_proxy.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vn::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

struct ServerSpec {
    std::string name; // shown in the table; unique
    std::string path;
    vn_proxy_layout layout = VN_PROXY_LAYOUT_V1;
};

struct Options {
    std::vector<ServerSpec> servers;
    bool native = true;
    double seconds = 1.0;          // per workload, per target, per round
    std::size_t iterations = 5000; // per workload, per target, per round
    int rounds = 3;
    std::string json_path;
    std::string png_path;
    bool verbose = false;
    std::string smaps_dir; // --smaps
    // --contexts: how many contexts run at once for the per-context memory figure (a VMM host
    // runs many; what their workers share divides among them).
    int many_contexts = 8;
    // --only: the workloads to run (keys as in the JSON); empty runs them all.
    std::set<std::string> only;
    bool wants(const std::string& workload) const {
        return only.empty() || only.count(workload) != 0;
    }
};

// Parses argv; exits with a usage message on a bad argument.
Options parse_options(int argc, char** argv);

// The pause before each paced context start: long enough for a server to settle after the
// previous context (its worker reaped, a spare worker forked and set up), short next to how
// often a host starts contexts.
constexpr int kContextStartPauseMs = 20;

// Every workload loop stops at whichever bound it reaches first: --seconds or --iterations.
class Budget {
  public:
    Budget(const Options& o) : m_seconds(o.seconds), m_iterations(o.iterations) {}
    Budget(double seconds, std::size_t iterations) : m_seconds(seconds), m_iterations(iterations) {}
    bool more(std::size_t done) const {
        return done < m_iterations &&
               (done == 0 || seconds_between(m_start, Clock::now()) < m_seconds);
    }

  private:
    Clock::time_point m_start = Clock::now();
    double m_seconds;
    std::size_t m_iterations;
};

// The workload shape: the same commands and sizes for every server and for the native run.
struct Shape {
    // Throughput: one command buffer = begin, kBatches x the 8-command mix, end.
    static constexpr std::uint32_t kBatches = 128;
    static constexpr std::uint32_t kCommandsPerBuffer = kBatches * 8 + 2;
    static constexpr std::uint64_t kStorageBytes = 64 * 1024;
    // Bulk transfer: written into one mapped buffer, copied by the device, read from another.
    static constexpr std::uint64_t kBulkBytes = 8u << 20;
};

// A workload a target cannot run (a server without rings, memory it will not map): reported as
// unavailable for that target instead of failing the whole run.
struct Unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ProcessMemory {
    int pid = 0;
    std::string comm;
    double rss_kib = 0;
    double pss_kib = 0;
    bool spare = false;
};

// One worker's memory: every process of its tree (a jailed worker is two: the PID namespace's
// first process, which only waits, and the worker proper).
struct Memory {
    // The context's worker (and its jail's reaper, if any): what each further context costs.
    double rss_kib = 0;
    double pss_kib = 0;
    // Our server's spare workers, forked and jailed ahead of time, and the zygote that forks them:
    // per server, not per context.
    double spare_rss_kib = 0;
    double spare_pss_kib = 0;
    int processes = 0;
    std::vector<ProcessMemory> per_process;
};

// Everything one target (a server, or native) collected, pooled over the rounds.
struct TargetResult {
    std::string name;
    std::string kind; // "server" or "native"
    std::string path;
    std::string layout;
    std::string transport;          // how setup calls and the bulk workload travelled (ring, ...)
    std::vector<double> throughput; // commands/s through a ring, one per round
    std::vector<double> throughput_context;    // commands/s through SUBMIT_CMD, one per round
    std::vector<double> round_trip_us;         // through a ring (natively: a direct call)
    std::vector<double> round_trip_context_us; // through SUBMIT_CMD and a fence
    std::vector<double> submit_fence_us;
    std::vector<double> context_start_ms;       // back to back
    std::vector<double> context_start_paced_ms; // each after a pause (kContextStartPauseMs)
    std::vector<double> context_ready_ms;
    std::vector<double> bulk_bytes_per_s; // one per round
    std::vector<Memory> idle;             // one per round
    std::vector<Memory> after;            // one per round
    std::vector<Memory> many; // one per round, per context with Options::many_contexts running
    std::map<std::string, std::string> unavailable; // figure key -> why (first reason seen)

    void mark_unavailable(const std::string& key, const std::string& why) {
        unavailable.emplace(key, why);
    }
};

// One round of every Venus workload against a server: spawn, context start, one context through
// round trip, submit+fence, throughput and bulk transfer, with worker memory before and after.
void run_server_round(const Options& options, const ServerSpec& server, TargetResult& out);

// The same workloads straight on the host driver through the Vulkan loader, no Venus.
class Native {
  public:
    Native();
    ~Native();
    Native(const Native&) = delete;
    Native& operator=(const Native&) = delete;
    void run_round(const Options& options, TargetResult& out);
    // The physical device the loader gave us (the servers' workers pick the first one too).
    std::string device_name() const;

    struct State;

  private:
    State* m_state;
};

// The memory of every process descended from pid (a server's workers, their jail children),
// summed from /proc/PID/smaps_rollup. Throws Unavailable when none can be read.
// save_smaps_as: when not empty, each counted process's /proc/PID/smaps is copied to
// <save_smaps_as>-<pid>-<comm>.smaps (--smaps), to see where the memory goes.
Memory descendants_memory(int pid, const std::string& save_smaps_as = {});
// Waits until no process descends from pid any more (workers of destroyed contexts have exited),
// so that the next memory reading counts only the context being measured and, for our server, its
// spare workers and zygote (which are counted: the server pays for them).
bool wait_for_no_workers(int pid, std::chrono::milliseconds timeout);

// Statistics.
double percentile(std::vector<double> samples, double q);
double median(std::vector<double> values);

// Output.
void print_report(const Options& options, const std::vector<TargetResult>& results);
void write_json(const Options& options, const std::vector<TargetResult>& results,
                const std::string& path);
// Checks before the run that the plotting tool is present (a clear message, not a late failure).
bool plot_available(std::string& why);
bool write_png(const std::string& json_path, const std::string& png_path);

} // namespace vn::bench

// Worker memory from the host side. Workers are found as descendants of the server pid by
// walking /proc's parent links; a worker that lives in its own PID namespace still shows up
// here under its host pid, which is the one /proc of this (host) namespace names.
#include "bench.h"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace vn::bench {

namespace {

// pid -> parent pid for every process visible now.
std::map<int, int> parent_links() {
    std::map<int, int> parents;
    DIR* proc = ::opendir("/proc");
    if (!proc)
        return parents;
    while (const dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
        std::string line;
        if (!std::getline(stat, line))
            continue;
        // comm may hold spaces and parentheses: the fields resume after the last ')'.
        const auto close = line.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream rest(line.substr(close + 1));
        std::string state;
        int ppid = 0;
        if (rest >> state >> ppid && state != "Z")
            parents[static_cast<int>(pid)] = ppid;
    }
    ::closedir(proc);
    return parents;
}

bool read_rollup(int pid, double& rss_kib, double& pss_kib) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string key;
    double value = 0;
    std::string unit;
    bool have_rss = false, have_pss = false;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        if (!(fields >> key >> value >> unit))
            continue;
        if (key == "Rss:") {
            rss_kib = value;
            have_rss = true;
        } else if (key == "Pss:") {
            pss_kib = value;
            have_pss = true;
        }
    }
    return have_rss && have_pss;
}

} // namespace

namespace {

std::set<int> descendants(int pid) {
    const auto parents = parent_links();
    std::set<int> tree{pid};
    // Parents are listed before children only by accident; repeat until nothing is added.
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto& [child, parent] : parents)
            if (tree.count(parent) && tree.insert(child).second)
                grew = true;
    }
    tree.erase(pid); // the server itself brokers; the figures are about workers
    return tree;
}

} // namespace

namespace {

// Our server keeps spare workers (and their jails' reapers, if any), named so, forked ahead by
// its zygote: these never go away, and none is a worker of a destroyed context.
bool per_server_process(const std::string& comm) {
    return comm == "vn-spare" || comm == "vn-zygote";
}

bool only_spares(const std::set<int>& tree) {
    for (const int p : tree) {
        std::ifstream comm_file("/proc/" + std::to_string(p) + "/comm");
        std::string comm;
        if (std::getline(comm_file, comm) && !per_server_process(comm))
            return false;
    }
    return true;
}

} // namespace

bool wait_for_no_workers(int pid, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (pid > 0 && !only_spares(descendants(pid))) {
        if (Clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

Memory descendants_memory(int pid, const std::string& save_smaps_as) {
    if (pid <= 0)
        throw Unavailable("the server pid is unknown (adopted server)");
    const std::set<int> tree = descendants(pid);
    if (tree.empty())
        throw Unavailable("no worker process under the server");
    const auto parents = parent_links();
    auto comm_of = [](int p) {
        std::ifstream comm_file("/proc/" + std::to_string(p) + "/comm");
        std::string comm;
        std::getline(comm_file, comm);
        return comm;
    };
    // A spare is a vn-spare process with no context's worker under it: the spare's reaper and the
    // spare itself. A context's reaper keeps the name vn-spare but has a vn-ctx-N child. The
    // zygote that forks the spares counts with them: a cost per server.
    std::set<int> not_spare;
    for (int p : tree)
        if (!per_server_process(comm_of(p)))
            for (int q = p; tree.count(q); q = parents.count(q) ? parents.at(q) : 0)
                not_spare.insert(q);
    Memory m;
    int unreadable = 0;
    for (int p : tree) {
        double rss = 0, pss = 0;
        if (!read_rollup(p, rss, pss)) {
            ++unreadable;
            continue;
        }
        const bool spare = !not_spare.count(p);
        if (!save_smaps_as.empty()) {
            std::ifstream from("/proc/" + std::to_string(p) + "/smaps");
            std::ofstream to(save_smaps_as + "-" + std::to_string(p) + "-" + comm_of(p) + ".smaps");
            to << from.rdbuf();
        }
        (spare ? m.spare_rss_kib : m.rss_kib) += rss;
        (spare ? m.spare_pss_kib : m.pss_kib) += pss;
        ++m.processes;
        m.per_process.push_back({p, comm_of(p), rss, pss, spare});
    }
    if (unreadable)
        throw Unavailable(std::to_string(unreadable) + " worker process(es) have no readable "
                                                       "/proc/PID/smaps_rollup (permissions?)");
    return m;
}

} // namespace vn::bench

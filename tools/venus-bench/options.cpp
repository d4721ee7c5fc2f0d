#include "bench.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#ifndef VN_BENCH_DEFAULT_SERVER
#define VN_BENCH_DEFAULT_SERVER "/usr/libexec/venus-render-server"
#endif

namespace vn::bench {

namespace {

constexpr const char* kDebianVirgl = "/usr/libexec/virgl_render_server";

[[noreturn]] void usage(const char* argv0, int status) {
    std::FILE* out = status == 0 ? stdout : stderr;
    std::fprintf(
        out,
        "Usage: %s [options]\n"
        "Runs the same Venus workloads against each render server, alternating between them in\n"
        "every round, and natively on the host driver.\n\n"
        "  --server PATH          a server speaking the 1.x render protocol (ours, virglrenderer\n"
        "                         >= 1.0); repeatable, in table order; the first is the baseline\n"
        "                         and the server the goals are about\n"
        "  --server-0.10 PATH     a server speaking the 0.10.x layout (Debian 12's\n"
        "                         virgl_render_server)\n"
        "  --name NAME            name of the --server given just before (default: file name)\n"
        "                         Without --server: %s, and %s (0.10) when installed.\n"
        "  --no-native            skip the native run on the host driver\n"
        "  --native-only          only the native run (no server): with VK_DRIVER_FILES naming\n"
        "                         Mesa's Venus ICD and VN_DEBUG=vtest, that run goes through\n"
        "                         Mesa and a venus-vtest instead\n"
        "  --rounds N             rounds; each round runs every target once (default 3)\n"
        "  --seconds S            time bound per workload, target and round (default 1)\n"
        "  --iterations N         count bound per workload, target and round (default 5000)\n"
        "  --json FILE            write every figure and the latency samples as JSON\n"
        "  --png FILE             plot latency distributions and throughput bars (needs\n"
        "                         python3-matplotlib)\n"
        "  --only LIST            run only these workloads (comma-separated): round_trip,\n"
        "                         round_trip_context, submit_fence, throughput,\n"
        "                         throughput_context, memory, bulk, context_start,\n"
        "                         context_start_paced (20 ms between starts),\n"
        "                         context_ready\n"
        "  --contexts N           contexts running at once for the per-context memory figure\n"
        "                         (default 8)\n"
        "  --smaps DIR            copy each measured process's /proc/PID/smaps into DIR\n"
        "  --verbose              progress on stderr\n",
        argv0, VN_BENCH_DEFAULT_SERVER, kDebianVirgl);
    std::exit(status);
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

Options parse_options(int argc, char** argv) {
    Options o;
    bool native_only = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "venus-bench: %s needs a value\n", arg.c_str());
                usage(argv[0], 2);
            }
            return argv[++i];
        };
        auto number = [&](double min) {
            const std::string v = value();
            char* end = nullptr;
            const double n = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end || !std::isfinite(n) || n < min) {
                std::fprintf(stderr, "venus-bench: %s: '%s' is not a number >= %g\n", arg.c_str(),
                             v.c_str(), min);
                usage(argv[0], 2);
            }
            return n;
        };
        if (arg == "--server" || arg == "--server-0.10") {
            ServerSpec s;
            s.path = value();
            s.name = base_name(s.path);
            s.layout = arg == "--server" ? VN_PROXY_LAYOUT_V1 : VN_PROXY_LAYOUT_V0_10;
            o.servers.push_back(s);
        } else if (arg == "--name") {
            if (o.servers.empty()) {
                std::fprintf(stderr, "venus-bench: --name must follow a --server\n");
                usage(argv[0], 2);
            }
            o.servers.back().name = value();
        } else if (arg == "--no-native") {
            o.native = false;
        } else if (arg == "--native-only") {
            native_only = true;
        } else if (arg == "--rounds") {
            o.rounds = static_cast<int>(number(1));
        } else if (arg == "--seconds") {
            o.seconds = number(0.001);
        } else if (arg == "--iterations") {
            o.iterations = static_cast<std::size_t>(number(1));
        } else if (arg == "--json") {
            o.json_path = value();
        } else if (arg == "--png") {
            o.png_path = value();
        } else if (arg == "--only") {
            static const std::set<std::string> known{
                "round_trip",   "round_trip_context", "submit_fence",
                "throughput",   "throughput_context", "memory",
                "bulk",         "context_start",      "context_start_paced",
                "context_ready"};
            const std::string list = value();
            std::size_t start = 0;
            while (start <= list.size()) {
                const std::size_t comma = std::min(list.find(',', start), list.size());
                const std::string name = list.substr(start, comma - start);
                if (!known.count(name)) {
                    std::fprintf(stderr, "venus-bench: --only: unknown workload '%s'\n",
                                 name.c_str());
                    usage(argv[0], 2);
                }
                o.only.insert(name);
                start = comma + 1;
            }
        } else if (arg == "--contexts") {
            o.many_contexts = static_cast<int>(number(2));
        } else if (arg == "--smaps") {
            o.smaps_dir = value();
            if (::mkdir(o.smaps_dir.c_str(), 0755) != 0 && errno != EEXIST) {
                std::fprintf(stderr, "venus-bench: --smaps: cannot make %s: %s\n",
                             o.smaps_dir.c_str(), std::strerror(errno));
                std::exit(2);
            }
        } else if (arg == "--verbose") {
            o.verbose = true;
        } else if (arg == "--help" || arg == "-h") {
            usage(argv[0], 0);
        } else {
            std::fprintf(stderr, "venus-bench: unknown argument '%s'\n", arg.c_str());
            usage(argv[0], 2);
        }
    }
    if (native_only && (!o.servers.empty() || !o.native)) {
        std::fprintf(stderr, "venus-bench: --native-only goes with neither --server nor "
                             "--no-native\n");
        usage(argv[0], 2);
    }
    if (o.servers.empty() && !native_only) {
        o.servers.push_back({"venus-render-server", VN_BENCH_DEFAULT_SERVER, VN_PROXY_LAYOUT_V1});
        if (::access(kDebianVirgl, X_OK) == 0)
            o.servers.push_back({"virgl_render_server", kDebianVirgl, VN_PROXY_LAYOUT_V0_10});
    }
    std::set<std::string> names{"native"};
    for (auto& s : o.servers) {
        if (::access(s.path.c_str(), X_OK) != 0) {
            std::fprintf(stderr, "venus-bench: %s is not an executable\n", s.path.c_str());
            std::exit(2);
        }
        // Two builds of the same file name still get distinct columns.
        const std::string base = s.name;
        for (int n = 2; !names.insert(s.name).second; ++n)
            s.name = base + "#" + std::to_string(n);
    }
    return o;
}

} // namespace vn::bench

// venus-bench: the same Venus workloads against several render servers and natively on the host
// driver, in interleaved rounds, so that machine drift hits every target alike.
#include "bench.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

using namespace vn::bench;

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);

    std::string why;
    if (!o.png_path.empty() && !plot_available(why)) {
        std::fprintf(stderr, "venus-bench: %s\n", why.c_str());
        return 2;
    }

    std::vector<TargetResult> results;
    for (const auto& s : o.servers) {
        TargetResult r;
        r.name = s.name;
        r.kind = "server";
        r.path = s.path;
        r.layout = s.layout == VN_PROXY_LAYOUT_V1 ? "1.x" : "0.10";
        results.push_back(r);
    }
    std::unique_ptr<Native> native;
    if (o.native) {
        TargetResult r;
        r.name = "native";
        r.kind = "native";
        r.path = "Vulkan loader";
        results.push_back(r);
        try {
            native = std::make_unique<Native>();
            results.back().path = "Vulkan loader: " + native->device_name();
        } catch (const Unavailable& e) {
            std::fprintf(stderr, "venus-bench: %s\n", e.what());
            results.back().mark_unavailable("native", e.what());
        }
    }

    for (int round = 0; round < o.rounds; ++round) {
        for (std::size_t i = 0; i < o.servers.size(); ++i) {
            if (o.verbose)
                std::fprintf(stderr, "venus-bench: round %d/%d: %s\n", round + 1, o.rounds,
                             o.servers[i].name.c_str());
            run_server_round(o, o.servers[i], results[i]);
        }
        if (native) {
            if (o.verbose)
                std::fprintf(stderr, "venus-bench: round %d/%d: native\n", round + 1, o.rounds);
            native->run_round(o, results.back());
        }
    }

    print_report(o, results);

    std::string json_path = o.json_path;
    // The plot reads the JSON; without --json it goes to a temporary file.
    std::string temp_json;
    if (json_path.empty() && !o.png_path.empty()) {
        char name[] = "/tmp/venus-bench-XXXXXX";
        const int fd = ::mkstemp(name);
        if (fd < 0) {
            std::perror("venus-bench: mkstemp");
            return 1;
        }
        ::close(fd);
        temp_json = json_path = name;
    }
    int status = 0;
    if (!json_path.empty()) {
        try {
            write_json(o, results, json_path);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "venus-bench: %s\n", e.what());
            status = 1;
        }
    }
    if (status == 0 && !o.png_path.empty() && !write_png(json_path, o.png_path)) {
        std::fprintf(stderr, "venus-bench: the plot failed\n");
        status = 1;
    }
    if (!temp_json.empty())
        ::unlink(temp_json.c_str());
    // A server that could not run at all is a failure of the run; a single workload a server
    // does not support is not.
    for (const auto& r : results)
        if (r.unavailable.count("server") || r.unavailable.count("native"))
            status = 1;
    return status;
}

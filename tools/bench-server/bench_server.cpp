// Side-by-side figures for our render server and virglrenderer's, through libvenus-proxy:
//   create-to-ready: vn_proxy_context_create until a CPU-ring fence submitted right after it has
//                    retired (worker forked, INIT processed, timeline shmem written);
//   empty submit:    an empty SUBMIT_CMD followed by a CPU-ring fence, until the fence retired
//                    (the 0.10 layout also waits for its SUBMIT_CMD reply on the way).
#include "venus_proxy.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef VN_BENCH_DEFAULT_SERVER
#define VN_BENCH_DEFAULT_SERVER "/usr/libexec/venus-render-server"
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
    double median_us = 0, p90_us = 0, p99_us = 0, mean_us = 0;
};

Stats summarize(std::vector<double> samples) {
    Stats s;
    if (samples.empty())
        return s;
    std::sort(samples.begin(), samples.end());
    auto at = [&](double q) {
        return samples[std::min(samples.size() - 1,
                                static_cast<std::size_t>(q * static_cast<double>(samples.size())))];
    };
    s.median_us = at(0.5);
    s.p90_us = at(0.9);
    s.p99_us = at(0.99);
    double sum = 0;
    for (double v : samples)
        sum += v;
    s.mean_us = sum / static_cast<double>(samples.size());
    return s;
}

double micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

bool fence(vn_proxy_context* ctx) {
    std::uint32_t seqno = 0;
    return vn_proxy_context_submit_fence(ctx, 0, &seqno) == VN_PROXY_OK &&
           vn_proxy_context_wait_fence(ctx, 0, seqno, 10000) == VN_PROXY_OK;
}

struct Result {
    bool ok = false;
    Stats create;
    Stats submit;
};

Result run(const char* path, vn_proxy_layout layout, int contexts, int submits) {
    Result result;
    vn_proxy_server* server = nullptr;
    int rc = vn_proxy_server_spawn(path, layout, 0, &server);
    if (rc != VN_PROXY_OK) {
        std::fprintf(stderr, "bench: cannot start %s: %s\n", path, vn_proxy_result_string(rc));
        return result;
    }
    std::vector<double> create_us;
    for (int i = 0; i < contexts; ++i) {
        vn_proxy_context* ctx = nullptr;
        const auto start = Clock::now();
        rc = vn_proxy_context_create(server, static_cast<std::uint32_t>(i + 1), "bench",
                                     VN_PROXY_CAPSET_VENUS, true, &ctx);
        if (rc != VN_PROXY_OK || !fence(ctx)) {
            std::fprintf(stderr, "bench: %s: context %d failed: %s\n", path, i,
                         vn_proxy_result_string(rc));
            vn_proxy_context_destroy(ctx);
            vn_proxy_server_destroy(server);
            return result;
        }
        create_us.push_back(micros(Clock::now() - start));
        vn_proxy_context_destroy(ctx);
    }

    vn_proxy_context* ctx = nullptr;
    rc = vn_proxy_context_create(server, 100000, "bench", VN_PROXY_CAPSET_VENUS, true, &ctx);
    if (rc != VN_PROXY_OK) {
        vn_proxy_server_destroy(server);
        return result;
    }
    std::vector<double> submit_us;
    for (int i = 0; i < submits + submits / 10; ++i) {
        const auto start = Clock::now();
        if (vn_proxy_context_submit_cmd(ctx, nullptr, 0) != VN_PROXY_OK || !fence(ctx)) {
            std::fprintf(stderr, "bench: %s: submit failed\n", path);
            vn_proxy_context_destroy(ctx);
            vn_proxy_server_destroy(server);
            return result;
        }
        if (i >= submits / 10) // warm-up excluded
            submit_us.push_back(micros(Clock::now() - start));
    }
    vn_proxy_context_destroy(ctx);
    vn_proxy_server_destroy(server);
    result.ok = true;
    result.create = summarize(create_us);
    result.submit = summarize(submit_us);
    return result;
}

void print_row(const char* server, const char* what, const Stats& s) {
    std::printf("%-22s %-18s %10.1f %10.1f %10.1f %10.1f\n", server, what, s.median_us, s.p90_us,
                s.p99_us, s.mean_us);
}

} // namespace

int main(int argc, char** argv) {
    std::string ours = VN_BENCH_DEFAULT_SERVER;
    std::string virgl = "/usr/libexec/virgl_render_server";
    int contexts = 100;
    int submits = 5000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench: %s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--ours")
            ours = value();
        else if (arg == "--virgl")
            virgl = value();
        else if (arg == "--contexts")
            contexts = std::max(1, std::atoi(value().c_str()));
        else if (arg == "--submits")
            submits = std::max(10, std::atoi(value().c_str()));
        else {
            std::printf("Usage: %s [--ours PATH] [--virgl PATH|''] [--contexts N] [--submits N]\n",
                        argv[0]);
            return arg == "--help" ? 0 : 2;
        }
    }

    std::printf("%d contexts, %d empty submits per server; microseconds\n", contexts, submits);
    std::printf("%-22s %-18s %10s %10s %10s %10s\n", "server", "measure", "median", "p90", "p99",
                "mean");
    int status = 0;
    const auto ours_result = run(ours.c_str(), VN_PROXY_LAYOUT_V1, contexts, submits);
    if (ours_result.ok) {
        print_row("venus-render-server", "create-to-ready", ours_result.create);
        print_row("venus-render-server", "empty submit+fence", ours_result.submit);
    } else {
        status = 1;
    }
    if (!virgl.empty() && ::access(virgl.c_str(), X_OK) == 0) {
        const auto virgl_result = run(virgl.c_str(), VN_PROXY_LAYOUT_V0_10, contexts, submits);
        if (virgl_result.ok) {
            print_row("virgl_render_server", "create-to-ready", virgl_result.create);
            print_row("virgl_render_server", "empty submit+fence", virgl_result.submit);
        } else {
            status = 1;
        }
    } else {
        std::printf("virgl_render_server: not installed at '%s', skipped\n", virgl.c_str());
    }
    return status;
}

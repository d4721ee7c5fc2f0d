// The table, the goals, JSON and the PNG plot. Every figure is computed once, here, from what
// the rounds pooled, so the table and the JSON cannot disagree.
#include "bench.h"

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>

#ifndef VN_BENCH_PLOT_SCRIPT
#define VN_BENCH_PLOT_SCRIPT "venus_bench_plot.py"
#endif

namespace vn::bench {

namespace {

constexpr const char* kPython = "/usr/bin/python3";

struct Figure {
    std::string key;   // stable, for JSON and goals
    std::string label; // for people
    std::string unit;
    std::string workload; // whose unavailability hides it
    double value = NAN;
};

double memory_median(const std::vector<Memory>& v, double Memory::*field) {
    std::vector<double> values;
    for (const auto& m : v)
        values.push_back(m.*field / 1024.0);
    return median(values);
}

std::vector<Figure> figures(const TargetResult& r) {
    std::vector<Figure> f;
    f.push_back(
        {"throughput", "command throughput", "Mcmd/s", "throughput", median(r.throughput) / 1e6});
    if (r.kind != "native")
        f.push_back({"throughput_context", "throughput, SUBMIT_CMD", "Mcmd/s", "throughput_context",
                     median(r.throughput_context) / 1e6});
    f.push_back(
        {"round_trip_p50", "round trip p50", "us", "round_trip", percentile(r.round_trip_us, 0.5)});
    f.push_back({"round_trip_p99", "round trip p99", "us", "round_trip",
                 percentile(r.round_trip_us, 0.99)});
    if (r.kind != "native") {
        f.push_back({"round_trip_context_p50", "round trip p50, SUBMIT_CMD", "us",
                     "round_trip_context", percentile(r.round_trip_context_us, 0.5)});
        f.push_back({"round_trip_context_p99", "round trip p99, SUBMIT_CMD", "us",
                     "round_trip_context", percentile(r.round_trip_context_us, 0.99)});
    }
    f.push_back({"submit_fence_p50", "submit+fence wait p50", "us", "submit_fence",
                 percentile(r.submit_fence_us, 0.5)});
    f.push_back({"submit_fence_p99", "submit+fence wait p99", "us", "submit_fence",
                 percentile(r.submit_fence_us, 0.99)});
    f.push_back({"bulk", "bulk transfer", "MB/s", "bulk", median(r.bulk_bytes_per_s) / 1e6});
    if (r.kind == "native")
        return f;
    f.push_back({"context_start_p50", "context start p50", "ms", "context_start",
                 percentile(r.context_start_ms, 0.5)});
    f.push_back({"context_start_p99", "context start p99", "ms", "context_start",
                 percentile(r.context_start_ms, 0.99)});
    f.push_back({"context_start_paced_p50", "context start p50, paced", "ms", "context_start_paced",
                 percentile(r.context_start_paced_ms, 0.5)});
    f.push_back({"context_start_paced_p99", "context start p99, paced", "ms", "context_start_paced",
                 percentile(r.context_start_paced_ms, 0.99)});
    f.push_back({"context_ready_p50", "context to a device p50", "ms", "context_ready",
                 percentile(r.context_ready_ms, 0.5)});
    f.push_back({"context_ready_p99", "context to a device p99", "ms", "context_ready",
                 percentile(r.context_ready_ms, 0.99)});
    f.push_back({"rss_idle", "worker RSS idle", "MiB", "memory_idle",
                 memory_median(r.idle, &Memory::rss_kib)});
    f.push_back({"pss_idle", "worker PSS idle", "MiB", "memory_idle",
                 memory_median(r.idle, &Memory::pss_kib)});
    f.push_back({"rss_after", "worker RSS after", "MiB", "memory_after",
                 memory_median(r.after, &Memory::rss_kib)});
    f.push_back({"pss_after", "worker PSS after", "MiB", "memory_after",
                 memory_median(r.after, &Memory::pss_kib)});
    f.push_back({"pss_many", "worker PSS, each of many", "MiB", "memory_many",
                 memory_median(r.many, &Memory::pss_kib)});
    // Only servers that keep a spare worker have the figure.
    if (const double spare = memory_median(r.idle, &Memory::spare_pss_kib); spare > 0)
        f.push_back({"spare_pss", "spares+zygote PSS", "MiB", "memory_idle", spare});
    return f;
}

double figure(const TargetResult& r, const std::string& key) {
    for (const auto& f : figures(r))
        if (f.key == key)
            return f.value;
    return NAN;
}

const TargetResult* find_native(const std::vector<TargetResult>& results) {
    for (const auto& r : results)
        if (r.kind == "native")
            return &r;
    return nullptr;
}

// The reference for the "vs virglrenderer" goals: the first other server speaking the 0.10
// layout (Debian's), else the first other one named virgl_render_server.
const TargetResult* find_virgl(const std::vector<TargetResult>& results) {
    for (std::size_t i = 1; i < results.size(); ++i)
        if (results[i].kind == "server" && results[i].layout == "0.10")
            return &results[i];
    for (std::size_t i = 1; i < results.size(); ++i)
        if (results[i].kind == "server" && results[i].name.find("virgl") != std::string::npos)
            return &results[i];
    return nullptr;
}

struct Goal {
    std::string text;
    std::string target; // e.g. ">= 1.5x"
    double value = NAN; // the measured ratio or figure
    std::string unit;   // "x" or "us"
    bool met = false;
    bool measured = false;
};

std::vector<Goal> goals(const std::vector<TargetResult>& results) {
    std::vector<Goal> out;
    if (results.empty() || results[0].kind != "server")
        return out;
    const TargetResult& ours = results[0];
    const TargetResult* virgl = find_virgl(results);
    const TargetResult* native = find_native(results);
    auto ratio_goal = [&](const TargetResult* ref, const std::string& key, const std::string& what,
                          bool at_least, double bound) {
        Goal g;
        const std::string ref_name = ref ? ref->name : std::string("(not run)");
        g.text = what + " vs " + ref_name;
        g.target = std::string(at_least ? ">= " : "<= ") + std::to_string(bound).substr(0, 4) + "x";
        g.unit = "x";
        if (ref) {
            g.value = figure(ours, key) / figure(*ref, key);
            g.measured = std::isfinite(g.value);
            g.met = g.measured && (at_least ? g.value >= bound : g.value <= bound);
        }
        out.push_back(g);
    };
    ratio_goal(virgl, "throughput", "command throughput", true, 1.5);
    ratio_goal(virgl, "round_trip_p50", "round trip p50", false, 0.5);
    ratio_goal(virgl, "context_start_p50", "context start p50", false, 0.5);
    ratio_goal(virgl, "context_start_paced_p50", "context start p50, paced", false, 1.0);
    ratio_goal(virgl, "context_start_paced_p99", "context start p99, paced", false, 1.0);
    ratio_goal(virgl, "pss_idle", "worker PSS idle", false, 1.0);
    ratio_goal(virgl, "pss_after", "worker PSS after", false, 1.0);
    ratio_goal(virgl, "rss_after", "worker RSS after", false, 1.0);
    ratio_goal(virgl, "pss_many", "worker PSS, each of many", false, 1.0);
    ratio_goal(native, "throughput", "command throughput", true, 0.9);
    ratio_goal(native, "submit_fence_p50", "submit+fence wait p50", false, 2.0);
    Goal p99;
    p99.text = "round trip p99 of " + ours.name;
    p99.target = "< 5 us";
    p99.unit = "us";
    p99.value = figure(ours, "round_trip_p99");
    p99.measured = std::isfinite(p99.value);
    p99.met = p99.measured && p99.value < 5.0;
    out.push_back(p99);
    return out;
}

std::string format_value(double v) {
    if (!std::isfinite(v))
        return "n/a";
    char buf[32];
    if (v >= 1000)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else if (v >= 10)
        std::snprintf(buf, sizeof buf, "%.1f", v);
    else
        std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

std::string format_ratio(double v) {
    if (!std::isfinite(v))
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2fx", v);
    return buf;
}

nlohmann::json number_or_null(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

} // namespace

void print_report(const Options& o, const std::vector<TargetResult>& results) {
    if (results.empty())
        return;
    const TargetResult& first = results[0];
    const TargetResult* native = find_native(results);
    std::printf("\nvenus-bench: %d round(s), each workload bounded by %.3g s and %zu iterations "
                "per target and round; targets alternate within each round.\n",
                o.rounds, o.seconds, o.iterations);
    std::printf("Throughput: %u commands per command buffer (begin, %u x bind pipeline, bind "
                "descriptor set, push constants, bind vertex buffer, scissor, draw, dispatch, "
                "barrier, end), recorded, not submitted, sent through a Venus ring (\"throughput, "
                "SUBMIT_CMD\": the same through the context path). Bulk: %llu MiB written to a "
                "mapped buffer, copied by the device, read back from another.\n",
                Shape::kCommandsPerBuffer, Shape::kBatches,
                static_cast<unsigned long long>(Shape::kBulkBytes >> 20));
    for (const auto& r : results)
        if (r.kind == "native")
            std::printf("  %-22s %s, in this process\n", r.name.c_str(), r.path.c_str());
    for (const auto& r : results)
        if (r.kind == "server")
            std::printf("  %-22s %s (%s layout); setup and bulk through: %s\n", r.name.c_str(),
                        r.path.c_str(), r.layout.c_str(),
                        r.transport.empty() ? "-" : r.transport.c_str());
    std::printf("\n\"vs first\": the figure divided by %s's; \"vs native\": by native's.\n",
                first.name.c_str());
    std::printf("\n%-28s %-22s %12s %-7s %9s %9s\n", "figure", "target", "value", "unit",
                "vs first", "vs native");
    const auto first_figures = figures(first);
    for (const auto& row : first_figures) {
        bool label_printed = false;
        for (const auto& r : results) {
            const auto fs = figures(r);
            const Figure* f = nullptr;
            for (const auto& candidate : fs)
                if (candidate.key == row.key)
                    f = &candidate;
            if (!f)
                continue;
            const double base = figure(first, row.key);
            const double nat = native ? figure(*native, row.key) : NAN;
            std::string value = format_value(f->value);
            if (!std::isfinite(f->value) && r.unavailable.count(f->workload))
                value = "unavailable";
            else if (!std::isfinite(f->value) &&
                     (r.unavailable.count("server") || r.unavailable.count("native")))
                value = "did not run";
            std::printf("%-28s %-22s %12s %-7s %9s %9s\n", label_printed ? "" : row.label.c_str(),
                        r.name.c_str(), value.c_str(), row.unit.c_str(),
                        format_ratio(f->value / base).c_str(),
                        format_ratio(f->value / nat).c_str());
            label_printed = true;
        }
    }
    std::printf(
        "Memory: \"idle\" once the device and its objects exist, \"after\" once the ring and "
        "context-path workloads ran (before the bulk buffers exist, which not every server can "
        "map); both count the context's worker (and its jail's reaper where one is left: see "
        "jail.h). \"each of many\": the workers of %d contexts set up alike and running at once, "
        "divided by %d, so that what they share (code, the driver's pages) counts once for all "
        "of them, as on a VMM host. \"spares+zygote\": our server's workers forked ahead of "
        "time and the process that forks them, a cost per server, not per context.\n",
        o.many_contexts, o.many_contexts);
    bool any_unavailable = false;
    for (const auto& r : results)
        for (const auto& [key, why] : r.unavailable) {
            if (!any_unavailable)
                std::printf("\nUnavailable:\n");
            any_unavailable = true;
            std::printf("  %s, %s: %s\n", r.name.c_str(), key.c_str(), why.c_str());
        }

    const auto gs = goals(results);
    if (!gs.empty()) {
        std::printf("\nGoals (benchmarks, not tests):\n");
        for (const auto& g : gs)
            std::printf("  %-58s %10s  goal %-8s %s\n", g.text.c_str(),
                        g.unit == "x" ? format_ratio(g.value).c_str()
                                      : (format_value(g.value) + " us").c_str(),
                        g.target.c_str(),
                        !g.measured ? "not measured"
                        : g.met     ? "met"
                                    : "NOT MET");
    }
    std::fflush(stdout);
}

void write_json(const Options& o, const std::vector<TargetResult>& results,
                const std::string& path) {
    nlohmann::json doc;
    doc["config"] = {{"rounds", o.rounds},
                     {"seconds", o.seconds},
                     {"iterations", o.iterations},
                     {"commands_per_buffer", Shape::kCommandsPerBuffer},
                     {"bulk_bytes", Shape::kBulkBytes}};
    doc["targets"] = nlohmann::json::array();
    for (const auto& r : results) {
        nlohmann::json t;
        t["name"] = r.name;
        t["kind"] = r.kind;
        t["path"] = r.path;
        t["layout"] = r.layout;
        t["transport"] = r.transport;
        t["unavailable"] = r.unavailable;
        nlohmann::json f = nlohmann::json::object();
        for (const auto& fig : figures(r))
            f[fig.key] = {
                {"value", number_or_null(fig.value)}, {"unit", fig.unit}, {"label", fig.label}};
        t["figures"] = f;
        t["samples"] = {{"round_trip_us", r.round_trip_us},
                        {"round_trip_context_us", r.round_trip_context_us},
                        {"submit_fence_us", r.submit_fence_us},
                        {"context_start_ms", r.context_start_ms},
                        {"context_start_paced_ms", r.context_start_paced_ms},
                        {"context_ready_ms", r.context_ready_ms}};
        auto memories = [](const std::vector<Memory>& v) {
            nlohmann::json a = nlohmann::json::array();
            for (const auto& m : v) {
                nlohmann::json procs = nlohmann::json::array();
                for (const auto& p : m.per_process)
                    procs.push_back({{"pid", p.pid},
                                     {"comm", p.comm},
                                     {"rss_kib", p.rss_kib},
                                     {"pss_kib", p.pss_kib},
                                     {"spare", p.spare}});
                a.push_back({{"rss_kib", m.rss_kib},
                             {"pss_kib", m.pss_kib},
                             {"spare_rss_kib", m.spare_rss_kib},
                             {"spare_pss_kib", m.spare_pss_kib},
                             {"processes", m.processes},
                             {"per_process", procs}});
            }
            return a;
        };
        t["per_round"] = {{"throughput_cmds_per_s", r.throughput},
                          {"throughput_context_cmds_per_s", r.throughput_context},
                          {"bulk_bytes_per_s", r.bulk_bytes_per_s},
                          {"memory_idle", memories(r.idle)},
                          {"memory_after", memories(r.after)},
                          {"memory_many_per_context", memories(r.many)}};
        doc["targets"].push_back(t);
    }
    doc["goals"] = nlohmann::json::array();
    for (const auto& g : goals(results))
        doc["goals"].push_back({{"goal", g.text},
                                {"target", g.target},
                                {"value", number_or_null(g.value)},
                                {"unit", g.unit},
                                {"met", g.measured ? nlohmann::json(g.met) : nullptr}});
    std::ofstream out(path);
    out << doc.dump(1) << "\n";
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

namespace {

int run_python(const std::vector<std::string>& args) {
    const pid_t pid = ::fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(kPython));
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(kPython, argv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

bool plot_available(std::string& why) {
    if (::access(kPython, X_OK) != 0) {
        why = std::string("--png needs ") + kPython +
              " with python3-matplotlib "
              "(apt-get install python3-matplotlib; "
              "scripts/setup.sh installs it)";
        return false;
    }
    if (::access(VN_BENCH_PLOT_SCRIPT, R_OK) != 0) {
        why = std::string("--png: the plot script ") + VN_BENCH_PLOT_SCRIPT + " is missing";
        return false;
    }
    if (run_python({"-c", "import matplotlib"}) != 0) {
        why = "--png needs python3-matplotlib for /usr/bin/python3 (apt-get install "
              "python3-matplotlib; scripts/setup.sh installs it)";
        return false;
    }
    return true;
}

bool write_png(const std::string& json_path, const std::string& png_path) {
    return run_python({VN_BENCH_PLOT_SCRIPT, json_path, png_path}) == 0;
}

} // namespace vn::bench

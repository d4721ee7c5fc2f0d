#include "log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>

namespace vn::server {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
    static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
        {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
        {"off", spdlog::level::off},
    };
    for (const auto& [name, level] : kLevels) {
        if (name == text)
            return level;
    }
    return std::nullopt;
}

std::optional<LogTarget> parse_log_target(std::string_view text) {
    if (text == "stderr")
        return LogTarget::Stderr;
    if (text == "syslog" || text == "journald")
        return LogTarget::Syslog;
    return std::nullopt;
}

void setup_logging(spdlog::level::level_enum level, LogTarget target) {
    std::shared_ptr<spdlog::logger> logger;
    if (target == LogTarget::Syslog) {
        logger = spdlog::syslog_logger_mt("venus-render-server", "venus-render-server", LOG_PID,
                                          LOG_DAEMON, true);
        logger->set_pattern("%v");
    } else {
        logger = spdlog::stderr_color_mt("venus-render-server");
        logger->set_pattern("[%T.%e] [%P] [%^%l%$] %v");
    }
    logger->set_level(level);
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

namespace {
SyscallNamer g_syscall_namer = nullptr;
} // namespace

void set_syscall_namer(SyscallNamer namer) {
    g_syscall_namer = namer;
}

std::string syscall_name(int syscall_nr) {
    return g_syscall_namer ? printable(g_syscall_namer(syscall_nr)) : std::string("?");
}

std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\0')
            break;
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
        if (out.size() >= 64)
            break;
    }
    return out;
}

} // namespace vn::server

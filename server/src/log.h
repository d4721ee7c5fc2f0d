#pragma once
#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <string_view>

namespace vn::server {

enum class LogTarget { Stderr, Syslog };

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);
std::optional<LogTarget> parse_log_target(std::string_view text);

// Installs the process-wide default logger. Forked workers inherit it; the syslog sink reconnects
// on its own after the worker closes the inherited descriptors.
void setup_logging(spdlog::level::level_enum level, LogTarget target);

// Guest-chosen names reach logs; keep them printable and short.
std::string printable(std::string_view text);

// A syscall's name for log lines ("?" unless main.cpp, which links the sandbox and so libseccomp,
// installed a resolver).
using SyscallNamer = std::string (*)(int syscall_nr);
void set_syscall_namer(SyscallNamer namer);
std::string syscall_name(int syscall_nr);

} // namespace vn::server

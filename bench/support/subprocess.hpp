#ifndef DIVERGENCE_BENCH_SUPPORT_SUBPROCESS_HPP
#define DIVERGENCE_BENCH_SUPPORT_SUBPROCESS_HPP

// What the benchmarks that time a Python peer in the same run share (bench/kernel/: NumPy and PyTorch
// through bench/kernel/cs_peers.py): quoting for the shell, popen's output, and reading numbers and strings
// from the one flat JSON line a driver prints.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench::subprocess {

/// s in single quotes for /bin/sh.
inline std::string quoted(const std::string& s)
{
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/// stdout of a shell command; its exit status (pclose's) in `status`, -1 if it could not start.
inline std::string capture(const std::string& command, int& status)
{
    std::string out;
    std::FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) {
        status = -1;
        return out;
    }
    char buffer[4096];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
    status = pclose(pipe);
    return out;
}

/// The number after "key": in a flat JSON line (true = 1, false = 0; NaN if absent, null or not a number).
inline double json_number(const std::string& json, const std::string& key)
{
    const std::string needle = "\"" + key + "\":";
    const auto at = json.find(needle);
    if (at == std::string::npos) return std::nan("");
    const char* s = json.c_str() + at + needle.size();
    while (*s == ' ') ++s;
    if (std::strncmp(s, "true", 4) == 0) return 1.0;
    if (std::strncmp(s, "false", 5) == 0) return 0.0;
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    return end == s ? std::nan("") : v;
}

/// The string after "key": in a flat JSON line ("?" if absent; no escapes are undone).
inline std::string json_string(const std::string& json, const std::string& key)
{
    const std::string needle = "\"" + key + "\": \"";
    const auto at = json.find(needle);
    if (at == std::string::npos) return "?";
    const auto end = json.find('"', at + needle.size());
    return json.substr(at + needle.size(), end - at - needle.size());
}

}  // namespace bench::subprocess

#endif

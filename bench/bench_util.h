// Small helpers shared by the benchmarks that drive real tug processes: integer flags and
// /proc figures of a child process. Header-only; stateless.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace tug::bench {

// "--name N" from args, else def.
inline int IntFlag(const std::vector<std::string>& args, const std::string& name, int def) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == name) {
      int v = def;
      std::from_chars(args[i + 1].data(), args[i + 1].data() + args[i + 1].size(), v);
      return v;
    }
  return def;
}

struct ProcStats {
  double rss_mb = 0;
  double cpu_s = 0;
};

// RSS (VmRSS) and user+system CPU time of a process.
inline ProcStats ReadProc(pid_t pid) {
  ProcStats out;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) out.rss_mb = std::stod(line.substr(6)) / 1024.0;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
  auto close = s.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(s.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; rest >> x;) f.push_back(x);
    if (f.size() > 12) out.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / sysconf(_SC_CLK_TCK);
  }
  return out;
}

}  // namespace tug::bench

#include "cardiotorch/dist/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::dist {

namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

using Clock = std::chrono::steady_clock;

struct Stream {
  int fd = -1;
  FILE* out = nullptr;
  std::string partial;
};

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  Stream streams[2];       // stdout, stderr
  std::string last_error;  // the last stderr line (an "error" line preferred)
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return str_cat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return str_cat("killed by signal ", sig, name ? str_cat(" (SIG", name, ")") : "");
  }
  return str_cat("status ", status);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void emit(Rank& r, int64_t rank, int which, const std::string& line) {
  std::fprintf(r.streams[which].out, "[rank %lld] %s\n", static_cast<long long>(rank), line.c_str());
  std::fflush(r.streams[which].out);
  if (which == 1 && !line.empty()) {
    const bool is_error = line.find("error") != std::string::npos || line.find("Error") != std::string::npos;
    const bool had_error =
        r.last_error.find("error") != std::string::npos || r.last_error.find("Error") != std::string::npos;
    if (is_error || !had_error) r.last_error = line;
  }
}

// Reads what is available; returns false at end of file.
bool drain(Rank& r, int64_t rank, int which) {
  Stream& s = r.streams[which];
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(s.fd, buf, sizeof buf);
    if (n > 0) {
      s.partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = s.partial.find('\n')) != std::string::npos) {
        std::string line = s.partial.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        emit(r, rank, which, line);
        s.partial.erase(0, nl + 1);
      }
      continue;
    }
    if (n == 0) {
      if (!s.partial.empty()) emit(r, rank, which, s.partial);
      s.partial.clear();
      ::close(s.fd);
      s.fd = -1;
      return false;
    }
    if (errno == EINTR) continue;
    return true;  // EAGAIN: nothing more for now
  }
}

void signal_all(std::vector<Rank>& ranks, int sig) {
  for (auto& r : ranks)
    if (r.running) ::kill(-r.pid, sig);  // the rank's process group: its children too
}

}  // namespace

void LaunchOptions::validate() const {
  CT_CHECK(nproc >= 1, UsageError, "launch: --nproc must be >= 1, got ", nproc);
  CT_CHECK(master_port >= 0 && master_port <= 65535, UsageError, "launch: --master-port must be in 0-65535, got ",
           master_port);
  CT_CHECK(timeout_s >= 0 && grace_s >= 0, UsageError, "launch: --timeout must be >= 0");
  CT_CHECK(!args.empty(), UsageError,
           "launch: no command; put it after '--', e.g. cardiotorch launch --nproc 2 -- finetune --config F");
}

int free_port(const std::string& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  CT_CHECK(fd >= 0, IoError, "launch: cannot open a socket to find a free port (", std::strerror(errno), ")");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) sa.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof sa;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0;
  const int err = errno;
  ::close(fd);
  CT_CHECK(ok, IoError, "launch: cannot find a free port on ", addr, " (", std::strerror(err), ")");
  return ntohs(sa.sin_port);
}

int launch(const LaunchOptions& o) {
  o.validate();
  const std::string program = o.program.empty() ? "/proc/self/exe" : o.program;
  const int port = o.master_port > 0 ? o.master_port : free_port(o.master_addr);
  std::fprintf(stderr, "launch: %lld ranks of '%s', store %s:%d\n", static_cast<long long>(o.nproc),
               join(o.args, " ").c_str(), o.master_addr.c_str(), port);
  std::fflush(stderr);

  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{}, old_hup{};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  ::sigaction(SIGHUP, &sa, &old_hup);

  std::vector<Rank> ranks(static_cast<size_t>(o.nproc));
  for (int64_t k = 0; k < o.nproc; ++k) {
    Rank& r = ranks[static_cast<size_t>(k)];
    int fds[2][2];
    for (auto& f : fds) CT_CHECK(::pipe2(f, O_CLOEXEC) == 0, IoError, "launch: pipe: ", std::strerror(errno));
    // Everything the child needs, prepared before fork (only async-signal-safe calls after it).
    std::vector<std::string> env = {str_cat("RANK=", k),
                                    str_cat("WORLD_SIZE=", o.nproc),
                                    str_cat("LOCAL_RANK=", k),
                                    str_cat("LOCAL_WORLD_SIZE=", o.nproc),
                                    str_cat("MASTER_ADDR=", o.master_addr),
                                    str_cat("MASTER_PORT=", port),
                                    "TORCHELASTIC_USE_AGENT_STORE=False"};
    if (o.timeout_s > 0) env.push_back(str_cat("CT_DIST_TIMEOUT_S=", o.timeout_s));
    std::vector<char*> argv;
    std::string prog = program;
    argv.push_back(prog.data());
    std::vector<std::string> args = o.args;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    CT_CHECK(pid >= 0, IoError, "launch: fork: ", std::strerror(errno));
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(128 + SIGKILL);  // the launcher died before prctl
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGHUP, SIG_DFL);
      ::dup2(fds[0][1], STDOUT_FILENO);
      ::dup2(fds[1][1], STDERR_FILENO);
      for (auto& e : env) ::putenv(e.data());
      ::execv(argv[0], argv.data());
      const char msg[] = "launch: cannot execute the rank's program\n";
      [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here: no race with a signal forwarded right away
    r.pid = pid;
    r.running = true;
    for (int w = 0; w < 2; ++w) {
      ::close(fds[w][1]);
      r.streams[w].fd = fds[w][0];
      r.streams[w].out = w == 0 ? stdout : stderr;
      ::fcntl(fds[w][0], F_SETFL, ::fcntl(fds[w][0], F_GETFL) | O_NONBLOCK);
    }
  }

  int64_t failed = -1;
  int forwarded = 0;
  Clock::time_point kill_at = Clock::time_point::max();
  auto terminate_rest = [&] {
    signal_all(ranks, SIGTERM);
    kill_at = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.grace_s * 1000));
  };
  for (;;) {
    if (g_signal != 0 && forwarded == 0) {
      forwarded = g_signal;
      std::fprintf(stderr, "launch: got signal %d; forwarding it to every rank\n", forwarded);
      std::fflush(stderr);
      signal_all(ranks, forwarded);
      kill_at = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.grace_s * 1000));
    }
    if (Clock::now() >= kill_at) {
      signal_all(ranks, SIGKILL);
      kill_at = Clock::time_point::max();
    }
    std::vector<pollfd> pfds;
    std::vector<std::pair<size_t, int>> owners;
    for (size_t k = 0; k < ranks.size(); ++k)
      for (int w = 0; w < 2; ++w)
        if (ranks[k].streams[w].fd >= 0) {
          pfds.push_back({ranks[k].streams[w].fd, POLLIN, 0});
          owners.emplace_back(k, w);
        }
    if (!pfds.empty()) {
      const int n = ::poll(pfds.data(), pfds.size(), 50);
      if (n > 0)
        for (size_t i = 0; i < pfds.size(); ++i)
          if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
            drain(ranks[owners[i].first], static_cast<int64_t>(owners[i].first), owners[i].second);
    } else {
      ::usleep(20000);
    }
    bool any_running = false;
    // Ranks that ended since the last look. When a rank dies, its peers' collectives fail
    // moments later; if both are seen at once, the one killed by a signal is the cause.
    int64_t first_failure = -1;
    for (size_t k = 0; k < ranks.size(); ++k) {
      Rank& r = ranks[k];
      if (!r.running) continue;
      int status = 0;
      const pid_t got = ::waitpid(r.pid, &status, WNOHANG);
      if (got == r.pid) {
        r.running = false;
        r.status = status;
        ::kill(-r.pid, SIGKILL);  // the rank's leftover children, if any
        if (exit_code_of(status) != 0 &&
            (first_failure < 0 ||
             (WIFSIGNALED(status) && !WIFSIGNALED(ranks[static_cast<size_t>(first_failure)].status))))
          first_failure = static_cast<int64_t>(k);
      } else {
        any_running = true;
      }
    }
    if (first_failure >= 0 && failed < 0 && forwarded == 0) {
      failed = first_failure;
      Rank& r = ranks[static_cast<size_t>(failed)];
      for (int w = 0; w < 2; ++w)
        if (r.streams[w].fd >= 0) drain(r, failed, w);
      std::fprintf(stderr, "launch: rank %lld failed (%s); stopping the other ranks\n", static_cast<long long>(failed),
                   describe_status(r.status).c_str());
      std::fflush(stderr);
      terminate_rest();
    }
    bool open = false;
    for (auto& r : ranks) open = open || r.streams[0].fd >= 0 || r.streams[1].fd >= 0;
    if (!any_running && !open) break;
    // A rank's grandchild could hold a pipe open after the rank exited: stop reading then.
    if (!any_running && open && kill_at == Clock::time_point::max()) {
      for (auto& r : ranks)
        for (auto& s : r.streams)
          if (s.fd >= 0) {
            drain(r, static_cast<int64_t>(&r - ranks.data()), static_cast<int>(&s - r.streams));
            if (s.fd >= 0) {
              ::close(s.fd);
              s.fd = -1;
            }
          }
    }
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);

  if (forwarded != 0) {
    std::fprintf(stderr, "launch: interrupted by signal %d\n", forwarded);
    return 128 + forwarded;
  }
  if (failed >= 0) {
    const Rank& r = ranks[static_cast<size_t>(failed)];
    std::fprintf(stderr, "launch: error: rank %lld of %lld failed (%s): %s\n", static_cast<long long>(failed),
                 static_cast<long long>(o.nproc), describe_status(r.status).c_str(),
                 r.last_error.empty() ? "(no error output)" : r.last_error.c_str());
    const int code = exit_code_of(r.status);
    return code != 0 ? code : 1;
  }
  return 0;
}

}  // namespace cardiotorch::dist

#include "kubelet/server/remote_command.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "kubelet/server/spdy.h"

namespace tug::kubelet::server {
namespace {

namespace asio = boost::asio;
constexpr const char* kComponent = "kubelet-server";
constexpr auto kStreamCreationTimeout = std::chrono::seconds(30);

}  // namespace

RemoteProcess::~RemoteProcess() {
  if (attach_fd >= 0) ::close(attach_fd);
}

std::string ExitStatusJson(int code) {
  nlohmann::json j;
  j["metadata"] = nlohmann::json::object();
  if (code == 0) {
    j["status"] = "Success";
  } else {
    j["status"] = "Failure";
    j["message"] = "command terminated with non-zero exit code: exit code " + std::to_string(code);
    j["reason"] = "NonZeroExitCode";
    j["details"] = {{"causes", nlohmann::json::array({{{"reason", "ExitCode"}, {"message", std::to_string(code)}}})}};
  }
  return j.dump();
}

std::string FailureJson(const std::string& msg) {
  nlohmann::json j;
  j["metadata"] = nlohmann::json::object();
  j["status"] = "Failure";
  j["message"] = msg;
  j["reason"] = "InternalError";
  j["code"] = 500;
  return j.dump();
}

void WriteAll(int fd, std::string_view data) {
  // A process that exited leaves a broken pipe: take EPIPE instead of a process-wide SIGPIPE
  // (SIGPIPE from write() goes to the writing thread, so blocking it here is enough).
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool broken = false;
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else {
      broken = n < 0 && errno == EPIPE;
      break;
    }
  }
  if (broken) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);  // drop the SIGPIPE left pending on this thread
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

Result<std::unique_ptr<RemoteProcess>> StartRemoteProcess(runtime::Runtime& rt, const std::string& cid, bool exec,
                                                          const RemoteCommandOptions& o) {
  auto rp = std::make_unique<RemoteProcess>();
  StreamProcess& proc = rp->proc;
  runtime::Runtime* rtp = &rt;
  if (exec) {
    runtime::ExecOptions eo;
    eo.cmd = o.command;
    eo.tty = o.tty;
    eo.stdin = o.stdin;
    if (eo.cmd.empty()) return BadRequestError("you must specify at least one command for the container");
    ASSIGN_OR_RETURN(rp->session, rt.Exec(cid, eo));
    runtime::ExecSession* es = rp->session.get();
    // Outputs are drained even when the client did not ask for them, so the process never
    // blocks on a full pipe.
    if (es->stdout_fd() >= 0) proc.outputs.emplace_back(es->stdout_fd(), 1);
    if (!o.tty && es->stderr_fd() >= 0) proc.outputs.emplace_back(es->stderr_fd(), 2);
    if (o.stdin && es->stdin_fd() >= 0) {
      proc.write_stdin = [es](std::string_view d) { WriteAll(es->stdin_fd(), d); };
      proc.close_stdin = [es] { es->CloseStdin(); };
    }
    if (o.tty) proc.resize = [es](uint16_t r, uint16_t c) { (void)es->Resize(r, c); };
    proc.wait = [es] { return es->Wait(); };
  } else {
    ASSIGN_OR_RETURN(runtime::AttachConnection ac, rt.Attach(cid));
    rp->attach_fd = ac.fd;
    int fd = ac.fd;
    proc.packets = true;
    proc.outputs.emplace_back(fd, 1);
    if (o.stdin) {
      proc.write_stdin = [fd](std::string_view d) { WriteAll(fd, d); };
      // conmon reads the half-close as the end of this client's stdin (and closes the
      // container's stdin when it is stdinOnce).
      proc.close_stdin = [fd] { ::shutdown(fd, SHUT_WR); };
      proc.end_with_stdin = !ac.stdin_once && !o.tty;
    }
    if (o.tty) proc.resize = [rtp, cid](uint16_t r, uint16_t c) { (void)rtp->ResizeContainerTerminal(cid, r, c); };
    proc.wait = [rtp, cid]() -> Result<int> {
      auto st = rtp->ContainerStatusOf(cid);
      if (!st.ok()) return st.status();
      return st->exit_code;
    };
  }
  return rp;
}

const std::vector<std::string>& SpdyRemoteCommandProtocols() {
  static const std::vector<std::string> p = {"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                                             "channel.k8s.io"};
  return p;
}

namespace {

// One SPDY exec/attach connection.
class SpdyCommand : public std::enable_shared_from_this<SpdyCommand> {
 public:
  SpdyCommand(asio::io_context& ioc, const std::string& protocol, const RemoteCommandOptions& o,
              std::function<Result<std::unique_ptr<RemoteProcess>>()> start)
      : ioc_(ioc), opts_(o), start_(std::move(start)), timer_(ioc) {
    version_ = protocol == "v4.channel.k8s.io" ? 4 : protocol == "v3.channel.k8s.io" ? 3 : protocol == "v2.channel.k8s.io" ? 2 : 1;
    if (opts_.tty) opts_.stderr = false;
    expected_ = 1 + (opts_.stdin ? 1 : 0) + (opts_.stdout ? 1 : 0) + (opts_.stderr ? 1 : 0) +
                (opts_.tty && version_ >= 3 ? 1 : 0);
  }

  void Begin(std::unique_ptr<ByteTransport> transport) {
    std::weak_ptr<SpdyCommand> w = weak_from_this();
    spdy::Session::Callbacks cb;
    cb.on_stream = [w](uint32_t id, const spdy::Headers& h, bool fin) {
      auto s = w.lock();
      return s && s->OnStream(id, h, fin);
    };
    cb.on_data = [w](uint32_t id, std::string_view d) {
      if (auto s = w.lock()) s->OnData(id, d);
    };
    cb.on_fin = [w](uint32_t id) {
      if (auto s = w.lock()) s->OnFin(id);
    };
    cb.on_reset = [w](uint32_t id, uint32_t) {
      if (auto s = w.lock()) s->OnReset(id);
    };
    cb.on_closed = [w] {
      if (auto s = w.lock()) s->OnClosed();
    };
    session_ = std::make_shared<spdy::Session>(ioc_, std::move(transport), std::move(cb));
    session_->Start();
    timer_.expires_after(kStreamCreationTimeout);
    timer_.async_wait([w](boost::system::error_code ec) {
      auto s = w.lock();
      if (ec || !s || s->started_) return;
      TUG_LOG(WARNING, kComponent) << "timed out waiting for client to create streams";
      s->session_->Close();
    });
  }

 private:
  bool OnStream(uint32_t id, const spdy::Headers& h, bool fin) {
    std::string type = spdy::HeaderValue(h, "streamType");
    uint32_t* slot = type == "error"    ? &error_id_
                     : type == "stdin"  ? &stdin_id_
                     : type == "stdout" ? &stdout_id_
                     : type == "stderr" ? &stderr_id_
                     : type == "resize" ? &resize_id_
                                        : nullptr;
    if (!slot) {
      TUG_LOG(WARNING, kComponent) << "unexpected stream type" << kv("streamType", type);
      return true;
    }
    *slot = id;
    if (slot == &stdin_id_ && fin) stdin_eof_ = true;
    if (!started_ && ++received_ >= expected_) {
      started_ = true;
      timer_.cancel();
      // After the SYN_REPLY that is being queued now.
      asio::post(ioc_, [self = shared_from_this()] { self->StartProcess(); });
    }
    return true;
  }

  void OnData(uint32_t id, std::string_view d) {
    if (id == stdin_id_ && id != 0) {
      if (rp_ && rp_->proc.write_stdin)
        rp_->proc.write_stdin(d);
      else if (!rp_)
        pending_stdin_.append(d);
    } else if (id == resize_id_ && id != 0) {
      resize_buf_.append(d);
      ApplyResizes();
    }
    session_->Consumed(id, d.size());
  }

  void OnFin(uint32_t id) {
    if (id == stdin_id_ && id != 0) {
      stdin_eof_ = true;
      if (rp_) StdinEnded();
    }
  }

  // The client's stdin ended (after the process started).
  void StdinEnded() {
    if (rp_->proc.close_stdin) rp_->proc.close_stdin();
    if (rp_->proc.end_with_stdin) Finish();
  }

  void OnReset(uint32_t id) {
    // The client no longer wants this stream: stop sending to it (outputs are still drained).
    for (uint32_t* s : {&stdout_id_, &stderr_id_, &error_id_})
      if (*s == id) *s = 0;
  }

  void OnClosed() {
    done_ = true;
    timer_.cancel();
    for (auto& d : descs_) {
      boost::system::error_code ec;
      d->close(ec);
    }
    rp_.reset();  // kills an exec'd process that is still running
  }

  void ApplyResizes() {
    size_t nl;
    while ((nl = resize_buf_.find('\n')) != std::string::npos) {
      std::string line = resize_buf_.substr(0, nl);
      resize_buf_.erase(0, nl + 1);
      try {
        auto j = nlohmann::json::parse(line);
        if (rp_ && rp_->proc.resize) rp_->proc.resize(j.value("Height", 0), j.value("Width", 0));
        else pending_size_ = {j.value("Height", 0), j.value("Width", 0)};
      } catch (...) {
      }
    }
  }

  void StartProcess() {
    if (done_) return;
    auto rp = start_();
    if (!rp.ok()) {
      WriteStatusAndClose(false, FailureJson(rp.status().message()), rp.status().message());
      return;
    }
    rp_ = std::move(*rp);
    StreamProcess& proc = rp_->proc;
    if (!pending_stdin_.empty() && proc.write_stdin) proc.write_stdin(pending_stdin_);
    pending_stdin_.clear();
    if (pending_size_.first && proc.resize) proc.resize(pending_size_.first, pending_size_.second);
    ApplyResizes();
    if (stdin_eof_) {
      StdinEnded();
      if (finished_) return;
    }
    for (auto [fd, ch] : proc.outputs) {
      int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (d < 0) continue;
      auto sd = std::make_shared<asio::posix::stream_descriptor>(ioc_, d);
      descs_.push_back(sd);
      ++open_outputs_;
      ReadOutput(sd, ch);
    }
    if (open_outputs_ == 0) Finish();
  }

  void ReadOutput(std::shared_ptr<asio::posix::stream_descriptor> sd, uint8_t ch) {
    auto buf = std::make_shared<std::array<char, 32768>>();
    sd->async_read_some(asio::buffer(*buf), [self = shared_from_this(), sd, ch, buf](boost::system::error_code ec, size_t n) {
      if (self->done_ || self->finished_) return;
      if (ec || n == 0) {
        if (--self->open_outputs_ == 0) self->Finish();
        return;
      }
      uint32_t target;
      std::string data;
      if (self->rp_->proc.packets) {
        uint8_t s = static_cast<uint8_t>((*buf)[0]);
        target = (s == 3 && self->stderr_id_) ? self->stderr_id_ : self->stdout_id_;
        data.assign(buf->data() + 1, n - 1);
      } else {
        target = ch == 2 ? self->stderr_id_ : self->stdout_id_;
        data.assign(buf->data(), n);
      }
      if (target == 0 || data.empty()) {
        self->ReadOutput(sd, ch);  // not wanted: drain
        return;
      }
      // Read the next chunk once this one is on the wire (flow control / backpressure).
      self->session_->Send(target, std::move(data), false, [self, sd, ch] { self->ReadOutput(sd, ch); });
    });
  }

  void Finish() {
    if (finished_ || done_) return;
    finished_ = true;
    Result<int> rc = rp_ && rp_->proc.wait ? rp_->proc.wait() : Result<int>(0);
    if (!rc.ok()) {
      WriteStatusAndClose(false, FailureJson(rc.status().message()), rc.status().message());
    } else if (*rc == 0) {
      WriteStatusAndClose(true, ExitStatusJson(0), "");
    } else {
      WriteStatusAndClose(false, ExitStatusJson(*rc),
                          "command terminated with non-zero exit code: exit code " + std::to_string(*rc));
    }
  }

  void WriteStatusAndClose(bool success, const std::string& json, const std::string& text) {
    if (error_id_) {
      if (version_ >= 4)
        session_->Send(error_id_, json, true);
      else
        session_->Send(error_id_, success ? "" : text, true);
    }
    for (uint32_t id : {stdout_id_, stderr_id_})
      if (id) session_->Send(id, "", true);
    session_->Close();
  }

  asio::io_context& ioc_;
  RemoteCommandOptions opts_;
  std::function<Result<std::unique_ptr<RemoteProcess>>()> start_;
  asio::steady_timer timer_;
  std::shared_ptr<spdy::Session> session_;
  int version_ = 4;
  int expected_ = 1, received_ = 0;
  uint32_t error_id_ = 0, stdin_id_ = 0, stdout_id_ = 0, stderr_id_ = 0, resize_id_ = 0;
  bool started_ = false, finished_ = false, done_ = false, stdin_eof_ = false;
  std::string pending_stdin_, resize_buf_;
  std::pair<uint16_t, uint16_t> pending_size_{0, 0};
  std::unique_ptr<RemoteProcess> rp_;
  std::vector<std::shared_ptr<asio::posix::stream_descriptor>> descs_;
  int open_outputs_ = 0;
};

}  // namespace

void ServeSpdyRemoteCommand(asio::io_context& ioc, std::unique_ptr<ByteTransport> transport, const std::string& protocol,
                            const RemoteCommandOptions& o,
                            std::function<Result<std::unique_ptr<RemoteProcess>>()> start) {
  auto cmd = std::make_shared<SpdyCommand>(ioc, protocol, o, std::move(start));
  cmd->Begin(std::move(transport));
  ioc.restart();
  ioc.run();
}

}  // namespace tug::kubelet::server

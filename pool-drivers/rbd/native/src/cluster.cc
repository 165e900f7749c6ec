// Connecting to a cluster with the key in memory only, closing it, and pool handles.
#include <string.h>

#include <cerrno>

#include "common.h"

namespace vbc {

/** Overwrites key bytes in a way the compiler may not drop as a dead store. */
static void Wipe(std::vector<char>& v) {
  if (!v.empty()) explicit_bzero(v.data(), v.size());
}

static bool IsBase64(const std::vector<char>& key) {
  if (key.size() < 2) return false;  // [text..., '\0']
  for (size_t i = 0; i + 1 < key.size(); i++) {
    char ch = key[i];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
              ch == '/' || ch == '=';
    if (!ok) return false;
  }
  return true;
}

/** Settings of the in-memory configuration: no file, no log output anywhere, bounded waits. */
static std::vector<std::pair<std::string, std::string>> BaseConf(const std::string& monHost, bool cephx,
                                                                 uint32_t timeout) {
  std::string t = std::to_string(timeout);
  return {
      {"mon_host", monHost},
      {"auth_client_required", cephx ? "cephx" : "none"},
      {"auth_cluster_required", cephx ? "cephx" : "none"},
      {"auth_service_required", cephx ? "cephx" : "none"},
      // no keyring or key file is read, whatever the defaults or CEPH_ARGS say
      {"keyring", ""},
      {"keyfile", ""},
      // nothing printed, logged to a file or syslog, no admin socket to query the config through
      {"log_to_stderr", "false"},
      {"err_to_stderr", "false"},
      {"log_to_syslog", "false"},
      {"err_to_syslog", "false"},
      {"clog_to_syslog", "false"},
      {"log_to_file", "false"},
      {"log_file", ""},
      {"admin_socket", ""},
      // a dead or unreachable cluster fails instead of hanging
      {"client_mount_timeout", t},
      {"rados_mon_op_timeout", t},
      {"rados_osd_op_timeout", t},
  };
}

class ConnectOp : public Napi::AsyncWorker {
 public:
  ConnectOp(Napi::Env env, std::string monHost, std::optional<std::string> user, std::vector<char> key,
            uint32_t timeout)
      : Napi::AsyncWorker(env, "volback_ceph_connect"),
        monHost_(std::move(monHost)),
        user_(std::move(user)),
        key_(std::move(key)),
        timeout_(timeout),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  ~ConnectOp() override { Wipe(key_); }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::string name = "client." + (user_ ? *user_ : std::string("admin"));
    label_ = name + "@" + monHost_;
    if (user_ && !IsBase64(key_)) {
      Wipe(key_);
      err_.Own(EINVAL, "the cephx key of " + name + " is not base64 text (as `ceph auth get-key` prints it)");
      return SetError(err_.message);
    }
    rados_t r = nullptr;
    int rc = rados_create2(&r, "ceph", name.c_str(), 0);
    if (rc < 0) {
      Wipe(key_);
      err_.Set(rc, "rados_create2(" + name + ")");
      return SetError(err_.message);
    }
    for (const auto& [k, v] : BaseConf(monHost_, user_.has_value(), timeout_)) {
      rc = rados_conf_set(r, k.c_str(), v.c_str());
      if (rc < 0) {
        err_.Set(rc, "rados_conf_set(" + k + ")");
        break;
      }
    }
    if (rc >= 0 && user_) {
      rc = rados_conf_set(r, "key", key_.data());
      if (rc < 0) err_.Set(rc, "rados_conf_set(key)");  // the message names the option, never its value
    }
    Wipe(key_);
    if (rc >= 0) {
      rc = rados_connect(r);
      if (rc < 0)
        err_.Set(rc, "rados_connect: cannot connect to the Ceph monitors " + monHost_ + " as " + name + " within " +
                         std::to_string(timeout_) + " s");
    }
    if (rc < 0) {
      rados_shutdown(r);
      return SetError(err_.message);
    }
    rados_ = r;
  }

  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(Handle::New(Env(), std::make_shared<ClusterState>(rados_, label_), ""));
  }

  void OnError(const Napi::Error&) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(MakeError(Env(), err_).Value());
  }

 private:
  std::string monHost_;
  std::optional<std::string> user_;
  std::vector<char> key_;  // NUL-terminated copy, wiped as soon as librados has it
  uint32_t timeout_;
  std::string label_;
  rados_t rados_ = nullptr;
  CephErr err_;
  Napi::Promise::Deferred deferred_;
};

// connect(monHost, user | null, key: Buffer | null, timeoutSeconds)
VBC_FN(Connect) {
  Napi::Env env = info.Env();
  std::string monHost = ArgStr(info, 0, "monHost");
  std::optional<std::string> user;
  if (!info[1].IsNull() && !info[1].IsUndefined()) user = ArgStr(info, 1, "user");
  std::vector<char> key;
  if (user) {
    if (!info[2].IsBuffer()) throw Napi::TypeError::New(env, "key must be a Buffer when a user is given");
    auto b = info[2].As<Napi::Buffer<char>>();
    size_t n = b.Length();
    // the secret's text may end in a newline (a key file written by hand): not part of the key
    while (n > 0 && (b.Data()[n - 1] == '\n' || b.Data()[n - 1] == '\r' || b.Data()[n - 1] == ' ')) n--;
    key.reserve(n + 1);
    key.assign(b.Data(), b.Data() + n);
    key.push_back('\0');
  }
  uint64_t timeout = ArgU64(info, 3, "timeoutSeconds");
  if (timeout < 1 || timeout > 3600) throw Napi::RangeError::New(env, "timeoutSeconds must be 1..3600");
  auto* w = new ConnectOp(env, std::move(monHost), std::move(user), std::move(key), static_cast<uint32_t>(timeout));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

VBC_FN(Close) {
  Handle* h = ArgHandle(info, 0, false);
  Cluster c = h->cluster;
  return RunUncounted(info.Env(), c, [c](CephErr&) { c->Shutdown(); });
}

// poolOpen(cluster, name): checks the pool exists (and creates its I/O context) once.
VBC_FN(PoolOpen) {
  Handle* h = ArgHandle(info, 0, false);
  Cluster c = h->cluster;
  std::string name = ArgStr(info, 1, "pool name");
  return Run(
      info.Env(), c,
      [c, name](CephErr& err) {
        rados_ioctx_t io = nullptr;
        int r = c->IoCtx(name, &io);
        if (r < 0) err.Set(r, "rados_ioctx_create(" + name + ")");
      },
      [c, name](Napi::Env env) -> Napi::Value { return Handle::New(env, c, name); });
}

static Registrar reg({
    {"connect", Connect, {"rados_create2", "rados_conf_set", "rados_connect", "rados_shutdown"}},
    {"close", Close, {"rados_ioctx_destroy", "rados_shutdown"}},
    {"poolOpen", PoolOpen, {"rados_ioctx_create", "rados_ioctx_set_namespace"}},
});

}  // namespace vbc

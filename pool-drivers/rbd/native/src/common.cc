// The cluster state, handles, the async worker, errors and argument helpers of the Ceph addon.
#include "common.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>

namespace vbc {

bool CephErr::Set(int r, const std::string& what) {
  char buf[256];
  code = r < 0 ? -r : (r == 0 ? EIO : r);
  // GNU strerror_r: thread-safe, returns the text (maybe not in buf).
  message = what + ": " + strerror_r(code, buf, sizeof buf);
  return false;
}

bool CephErr::Own(int errnum, const std::string& text) {
  code = errnum;
  message = text;
  return false;
}

// ---------------------------------------------------------------- ClusterState

ClusterState::~ClusterState() {
  // The last reference went away without close() (GC): shut down off the caller's thread, since
  // rados_shutdown joins librados' threads and may wait on the network.
  if (!rados_) return;
  auto ioctxs = std::move(ioctxs_);
  rados_t r = rados_;
  rados_ = nullptr;
  std::thread([ioctxs, r] {
    for (auto& [name, io] : ioctxs) rados_ioctx_destroy(io);
    rados_shutdown(r);
  }).detach();
}

bool ClusterState::Enter() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  inflight_++;
  return true;
}

void ClusterState::Leave() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--inflight_ == 0) idle_.notify_all();
}

void ClusterState::Shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  closed_ = true;
  idle_.wait(lock, [this] { return inflight_ == 0; });
  if (!rados_) return;
  for (auto& [name, io] : ioctxs_) rados_ioctx_destroy(io);
  ioctxs_.clear();
  rados_shutdown(rados_);
  rados_ = nullptr;
}

int ClusterState::IoCtx(const std::string& pool, rados_ioctx_t* out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ioctxs_.find(pool);
  if (it != ioctxs_.end()) {
    *out = it->second;
    return 0;
  }
  rados_ioctx_t io = nullptr;
  int r = rados_ioctx_create(rados_, pool.c_str(), &io);
  if (r < 0) return r;
  rados_ioctx_set_namespace(io, "");
  ioctxs_[pool] = io;
  *out = io;
  return 0;
}

// ---------------------------------------------------------------- Handle

struct AddonData {
  Napi::FunctionReference handleCtor;
};

Napi::Function Handle::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "CephHandle", {InstanceAccessor<&Handle::GetPool>("pool")});
  auto* data = new AddonData();
  data->handleCtor = Napi::Persistent(ctor);
  env.SetInstanceData<AddonData>(data);
  return ctor;
}

Napi::Object Handle::New(Napi::Env env, Cluster cluster, const std::string& pool) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->handleCtor.New({});
  Handle* h = Handle::Unwrap(obj);
  h->cluster = std::move(cluster);
  h->pool = pool;
  return obj;
}

Napi::Value Handle::GetPool(const Napi::CallbackInfo& info) {
  return pool.empty() ? info.Env().Null() : Napi::String::New(info.Env(), pool);
}

// ---------------------------------------------------------------- errors, Op

Napi::Error MakeError(Napi::Env env, const CephErr& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Value().Set("cephErrno", Napi::Number::New(env, e.code));
  return err;
}

Op::Op(Napi::Env env, Cluster cluster, bool entered, Exec exec, Done done)
    : Napi::AsyncWorker(env, "volback_ceph"),
      cluster_(std::move(cluster)),
      entered_(entered),
      exec_(std::move(exec)),
      done_(std::move(done)),
      deferred_(Napi::Promise::Deferred::New(env)) {}

void Op::Execute() {
  exec_(err_);
  exec_ = nullptr;  // drop captured state (buffers, key copies) on this worker thread
  if (entered_) cluster_->Leave();
  if (err_) SetError(err_.message);
}

void Op::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    deferred_.Resolve(done_ ? done_(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
  done_ = nullptr;
}

void Op::OnError(const Napi::Error&) {
  Napi::HandleScope scope(Env());
  deferred_.Reject(MakeError(Env(), err_).Value());
  done_ = nullptr;
}

Napi::Value Run(Napi::Env env, const Cluster& cluster, Op::Exec exec, Op::Done done) {
  if (!cluster->Enter()) {
    auto d = Napi::Promise::Deferred::New(env);
    CephErr e;
    e.Own(ESHUTDOWN, "the Ceph cluster handle (" + cluster->label() + ") is closed");
    d.Reject(MakeError(env, e).Value());
    return d.Promise();
  }
  auto* w = new Op(env, cluster, true, std::move(exec), std::move(done));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value RunUncounted(Napi::Env env, const Cluster& cluster, Op::Exec exec) {
  auto* w = new Op(env, cluster, false, std::move(exec), nullptr);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---------------------------------------------------------------- arguments

Handle* ArgHandle(const Napi::CallbackInfo& info, size_t i, bool wantPool) {
  Napi::Env env = info.Env();
  Napi::FunctionReference& ctor = env.GetInstanceData<AddonData>()->handleCtor;
  Napi::Value v = info[i];
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(ctor.Value()))
    throw Napi::TypeError::New(env, "argument " + std::to_string(i) + " must be a Ceph handle");
  Handle* h = Handle::Unwrap(v.As<Napi::Object>());
  if (wantPool != !h->pool.empty())
    throw Napi::TypeError::New(env, std::string("argument ") + std::to_string(i) + " must be a " +
                                        (wantPool ? "pool" : "cluster") + " handle");
  return h;
}

std::string ArgStr(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos)
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a non-empty string without NUL");
  return s;
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d)
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

std::string Spec(const std::string& pool, const std::string& image) { return pool + "/" + image; }

bool OpenImage(ClusterState& c, const std::string& pool, const std::string& image, bool write, const char* snap,
               Image& out, CephErr& err) {
  rados_ioctx_t io = nullptr;
  int r = c.IoCtx(pool, &io);
  if (r < 0) return err.Set(r, "rados_ioctx_create(" + pool + ")");
  std::string what = Spec(pool, image) + (snap ? std::string("@") + snap : "");
  r = write ? rbd_open(io, image.c_str(), &out.img, snap) : rbd_open_read_only(io, image.c_str(), &out.img, snap);
  if (r < 0) {
    out.img = nullptr;
    return err.Set(r, std::string(write ? "rbd_open(" : "rbd_open_read_only(") + what + ")");
  }
  return true;
}

// ---------------------------------------------------------------- registry

std::vector<ExportEntry>& Registry() {
  static std::vector<ExportEntry> entries;
  return entries;
}

Registrar::Registrar(std::initializer_list<ExportEntry> entries) {
  for (const auto& e : entries) Registry().push_back(e);
}

}  // namespace vbc

// Shared machinery of the volback Ceph addon: the cluster handle's state, the JS handle, the async
// worker and Ceph errors.
//
// Threading contract (see docs/binding.md, "Ceph addon"):
//  - JS-facing functions run on the main thread; they copy arguments into plain C++ and register
//    the call with its cluster (Enter), then queue an Op.
//  - Op::Execute runs librados/librbd on a libuv pool thread; a failure is copied as errno plus a
//    message naming the image. JS values are built only in OnOK/OnError.
//  - close() waits until the calls in flight are done, then destroys the I/O contexts and shuts
//    the cluster handle down; later calls reject with ESHUTDOWN.
#pragma once

#include <napi.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vbc {

/** A failed librados/librbd call: positive errno and a message naming what it was acting on. */
struct CephErr {
  int code = 0;
  std::string message;
  explicit operator bool() const { return code != 0; }
  /** Records `r` (a negative errno) for `what`, e.g. "rbd_open(volback/img)". Returns false. */
  bool Set(int r, const std::string& what);
  /** Records an error of our own (bad argument, size over a limit). Returns false. */
  bool Own(int errnum, const std::string& message);
};

/** One connected cluster handle and the I/O contexts opened on it (one per pool name). */
class ClusterState {
 public:
  ClusterState(rados_t rados, std::string label) : rados_(rados), label_(std::move(label)) {}
  ~ClusterState();
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  /** Registers a call about to be queued; false once close() has begun. */
  bool Enter();
  /** Ends a call registered with Enter (worker thread). */
  void Leave();
  /** Waits for the calls in flight, then destroys every I/O context and shuts down. Idempotent. */
  void Shutdown();
  /** The I/O context of a pool, created on first use (worker thread, between Enter and Leave). */
  int IoCtx(const std::string& pool, rados_ioctx_t* out);
  const std::string& label() const { return label_; }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  rados_t rados_;
  std::string label_;
  int inflight_ = 0;
  bool closed_ = false;
  std::map<std::string, rados_ioctx_t> ioctxs_;
};
using Cluster = std::shared_ptr<ClusterState>;

/** The JS object for a cluster (pool empty) or a pool of one (pool set). */
class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, Cluster cluster, const std::string& pool);
  explicit Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {}

  Cluster cluster;
  std::string pool;

 private:
  Napi::Value GetPool(const Napi::CallbackInfo& info);
};

/** A JS Error carrying `cephErrno` (positive errno). */
Napi::Error MakeError(Napi::Env env, const CephErr& e);

/**
 * Generic async worker. `exec` runs on a pool thread, fills `err` on failure and touches no JS;
 * `done` builds the resolved value on the main thread. The call was registered with Enter().
 */
class Op : public Napi::AsyncWorker {
 public:
  using Exec = std::function<void(CephErr&)>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  /** `entered`: the call was registered with Enter() and leaves when Execute ends. */
  Op(Napi::Env env, Cluster cluster, bool entered, Exec exec, Done done);
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Cluster cluster_;
  bool entered_;
  Exec exec_;
  Done done_;
  CephErr err_;
  Napi::Promise::Deferred deferred_;
};

/** Queues an Op on `cluster` (rejects with ESHUTDOWN once it is closed) and returns its promise. */
Napi::Value Run(Napi::Env env, const Cluster& cluster, Op::Exec exec, Op::Done done = nullptr);
/** Queues an Op that is not counted as in flight (close(), which waits for those). */
Napi::Value RunUncounted(Napi::Env env, const Cluster& cluster, Op::Exec exec);

// ---- argument helpers (main thread; throw TypeError/RangeError on bad input) ----
Handle* ArgHandle(const Napi::CallbackInfo& info, size_t i, bool wantPool);
std::string ArgStr(const Napi::CallbackInfo& info, size_t i, const char* what);
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* what);

/** "pool/image" for messages. */
std::string Spec(const std::string& pool, const std::string& image);

/** An image opened for the length of one call; closed when this goes out of scope. */
struct Image {
  rbd_image_t img = nullptr;
  Image() = default;
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  ~Image() {
    if (img) rbd_close(img);
  }
};

/** Opens pool/image (read-only unless `write`; at `snap` if given); false with `err` set. */
bool OpenImage(ClusterState& c, const std::string& pool, const std::string& image, bool write, const char* snap,
               Image& out, CephErr& err);

// ---- export registry: which librados/librbd C functions each JS export calls ----
using NativeFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct ExportEntry {
  const char* js;
  NativeFn fn;
  std::vector<const char*> wraps;
};
std::vector<ExportEntry>& Registry();
struct Registrar {
  Registrar(std::initializer_list<ExportEntry> entries);
};

#define VBC_FN(name) static Napi::Value name(const Napi::CallbackInfo& info)

}  // namespace vbc

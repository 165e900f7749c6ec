// Shared machinery of the volback libvirt addon: handles, the async call worker, errors, registry.
//
// Threading contract (see docs/binding.md):
//  - JS-facing functions run on the main thread; they only parse arguments into plain C++
//    values and take a reference on each libvirt object they use (RefOf), then queue a Call.
//  - Call::Execute runs the libvirt function on a libuv pool thread and, on failure, copies
//    libvirt's per-thread last error right there. References captured by the exec lambda are
//    dropped on that same thread.
//  - Call::OnOK/OnError build JS values on the main thread and settle the promise.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vb {

/** The libvirt object kinds a Handle can own. */
enum class Kind { Connect, Domain, Pool, Volume, Checkpoint, Stream, Secret };

const char* KindName(Kind k);

/** Per-stream state: serialises data calls and remembers whether the transfer ended. */
struct StreamState {
  std::mutex io;                   // held for the whole of each recv/send/finish/abort
  std::atomic<bool> ended{false};  // finished or aborted: no abort needed on release
};

/** One counted reference to a libvirt object, released when the last copy goes away. */
struct Owned {
  Kind kind;
  void* ptr;
  std::shared_ptr<StreamState> stream;
  Owned(Kind k, void* p, std::shared_ptr<StreamState> s = nullptr) : kind(k), ptr(p), stream(std::move(s)) {}
  ~Owned();
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
};
using Ref = std::shared_ptr<Owned>;

template <typename T>
inline T Get(const Ref& r) {
  return static_cast<T>(r->ptr);
}

/** Adds one libvirt reference to ptr (virDomainRef, virConnectRef, ...). */
void AddRef(Kind k, void* ptr);
/** Drops one libvirt reference (virDomainFree, virConnectClose, ...). */
void DropRef(Kind k, void* ptr);

/**
 * The JS object wrapping one libvirt object. Owns exactly one libvirt reference until free()
 * (idempotent) or garbage collection; in-flight calls hold their own references, so freeing
 * while a call runs is safe.
 */
class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::Function Init(Napi::Env env);
  /** Wraps a fresh reference; takes ownership of the pointer held by `owned` (which becomes empty). */
  static Napi::Object New(Napi::Env env, const vb::Ref& owned);
  static Napi::Object NewFromRaw(Napi::Env env, Kind k, void* ptr);

  explicit Handle(const Napi::CallbackInfo& info);
  ~Handle() override;

  Kind kind = Kind::Connect;
  void* ptr = nullptr;
  std::shared_ptr<StreamState> stream;

  /** Gives up this handle's reference (stream: aborts an unfinished transfer first). */
  void Release();
  /** Hands this handle's reference to the caller and marks the handle freed (used by close). */
  vb::Ref Detach();

 private:
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value IsFreed(const Napi::CallbackInfo& info);
  Napi::Value GetKind(const Napi::CallbackInfo& info);
};

/** A libvirt error copied off the thread whose call failed. */
struct LvError {
  int code = VIR_ERR_INTERNAL_ERROR;
  int domain = VIR_FROM_NONE;
  int level = VIR_ERR_ERROR;
  std::string message;
  std::string function;  // the libvirt C function that failed
};

/** Copies (and resets) this thread's libvirt last error. Call right after the failing call. */
LvError CaptureLastError(const char* function);

/**
 * Records an error captured inside an exec lambda before cleanup calls that may clobber this
 * thread's slot; Call::Execute reports it instead of the then-current last error.
 */
void KeepError(LvError e);

/** A JS Error carrying libvirtCode/libvirtDomain/libvirtLevel/libvirtFunction properties. */
Napi::Error MakeLvError(Napi::Env env, const LvError& e);

/** The error a call on a freed handle raises (VIR_ERR_INVALID_DOMAIN and friends). */
[[noreturn]] void ThrowFreed(Napi::Env env, Kind k, const char* function);

/**
 * Generic lambda-based async worker. `exec` runs on a pool thread and returns false after a
 * libvirt failure (the last error is captured automatically) — it must touch no JS.
 * `done` runs on the main thread to build the resolved value.
 */
class Call : public Napi::AsyncWorker {
 public:
  using Exec = std::function<bool()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  Call(Napi::Env env, const char* function, Exec exec, Done done);
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  const char* function_;
  Exec exec_;
  Done done_;
  LvError error_;
  Napi::Promise::Deferred deferred_;
};

/** Queues a Call and returns its promise. */
Napi::Value Run(Napi::Env env, const char* function, Call::Exec exec, Call::Done done);

// ---- argument helpers (main thread; throw TypeError on bad input) ----
Ref RefOf(const Napi::CallbackInfo& info, size_t i, Kind k, const char* function);
/** Like RefOf but null/undefined gives an empty Ref. */
Ref OptRefOf(const Napi::CallbackInfo& info, size_t i, Kind k, const char* function);
std::string ArgStr(const Napi::CallbackInfo& info, size_t i);
std::optional<std::string> ArgOptStr(const Napi::CallbackInfo& info, size_t i);
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, uint32_t def = 0);
int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, int32_t def = 0);
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, uint64_t def = 0);
Napi::Value NullableStr(Napi::Env env, const std::optional<std::string>& s);

/** Takes a malloc'ed C string returned by libvirt: copies and frees it; nullptr → nullopt. */
std::optional<std::string> TakeStr(char* s);

/** Typed parameters copied into plain C++. */
struct TypedParam {
  std::string name;
  int type;
  double number = 0;
  bool boolean = false;
  std::string str;
};
std::vector<TypedParam> CopyTypedParams(virTypedParameterPtr params, int n);
Napi::Object TypedParamsToJS(Napi::Env env, const std::vector<TypedParam>& params);

// ---- export registry: which libvirt C functions each JS export wraps ----
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

/** Starts libvirt's default event loop on its own thread, once per process (addon.cc). */
void StartEventLoopOnce();
/** Stops event delivery into an environment being torn down (events.cc). */
void ShutdownEventsForEnv(napi_env env);

}  // namespace vb

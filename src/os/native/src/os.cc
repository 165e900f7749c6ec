// volback_os: what Node 20 lacks: OS primitives on file descriptors that Node opened, and zstd
// decompression (Node's zlib has no zstd before Node 22; qcow2 clusters volback reads can be zstd).
//
// Contract:
//  - Every call is synchronous and never blocks: flock() accepts only non-blocking operations
//    (LOCK_NB, or LOCK_UN), so it can run on the main thread without stalling the event loop.
//  - A system error is returned as its errno (0 on success), never thrown: the facade decides which
//    errno is an answer (EWOULDBLOCK: someone else holds the lock) and which is a failure.
//  - Bad arguments (not integers, a blocking operation) throw TypeError/RangeError.
#include <napi.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <string>

namespace {

// flock(fd, operation) -> 0 | errno
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "flock(fd: number, operation: number)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int op = info[1].As<Napi::Number>().Int32Value();
  const int kind = op & ~LOCK_NB;
  if (fd < 0) throw Napi::RangeError::New(env, "flock: fd must be >= 0");
  if (kind != LOCK_SH && kind != LOCK_EX && kind != LOCK_UN)
    throw Napi::RangeError::New(env, "flock: operation must be LOCK_SH, LOCK_EX or LOCK_UN");
  if (kind != LOCK_UN && (op & LOCK_NB) == 0)
    throw Napi::RangeError::New(env, "flock: LOCK_SH and LOCK_EX need LOCK_NB (a blocking lock would stall the event loop)");
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  return Napi::Number::New(env, rc == 0 ? 0 : errno);
}

// pipeHolding(bytes) -> read fd | -errno. A pipe whose write end already holds `bytes` and is closed:
// a child that inherits the read end reads them to EOF (a secret handed over without argv or a
// file). At most 4096 bytes, far under the pipe's capacity, so the write never blocks.
Napi::Value PipeHolding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "pipeHolding(bytes: Buffer)");
  auto bytes = info[0].As<Napi::Buffer<char>>();
  if (bytes.Length() > 4096) throw Napi::RangeError::New(env, "pipeHolding: at most 4096 bytes");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Napi::Number::New(env, -errno);
  size_t done = 0;
  while (done < bytes.Length()) {
    ssize_t n = write(fds[1], bytes.Data() + done, bytes.Length() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fds[0]);
      close(fds[1]);
      return Napi::Number::New(env, -e);
    }
    done += static_cast<size_t>(n);
  }
  close(fds[1]);
  return Napi::Number::New(env, fds[0]);
}

// zstdDecompressInto(input, output) -> undefined. Decodes one zstd frame from `input` until `output`
// is full, as QEMU reads a compressed qcow2 cluster: bytes after the frame (the rest of its last
// sector) are ignored, and a frame that ends early, runs out of input, or stops making progress is
// an Error naming why. The window is capped, so a hostile frame cannot make it allocate much.
constexpr int kZstdWindowLogMax = 23;  // 8 MiB; qcow2 clusters are at most 2 MiB

Napi::Value ZstdDecompressInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsBuffer() || !info[1].IsBuffer())
    throw Napi::TypeError::New(env, "zstdDecompressInto(input: Buffer, output: Buffer)");
  auto input = info[0].As<Napi::Buffer<uint8_t>>();
  auto output = info[1].As<Napi::Buffer<uint8_t>>();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) throw Napi::Error::New(env, "zstd: cannot allocate a decompression context");
  std::string problem;
  size_t rc = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, kZstdWindowLogMax);
  if (ZSTD_isError(rc)) problem = ZSTD_getErrorName(rc);
  ZSTD_inBuffer in = {input.Data(), input.Length(), 0};
  ZSTD_outBuffer out = {output.Data(), output.Length(), 0};
  while (problem.empty() && out.pos < out.size) {
    const size_t inBefore = in.pos, outBefore = out.pos;
    rc = ZSTD_decompressStream(dctx, &out, &in);
    if (ZSTD_isError(rc)) problem = ZSTD_getErrorName(rc);
    else if (rc == 0) break;  // the frame ended
    else if (in.pos == inBefore && out.pos == outBefore) problem = "the compressed data ends inside the frame";
  }
  ZSTD_freeDCtx(dctx);
  if (problem.empty() && out.pos < out.size)
    problem = "the frame holds " + std::to_string(out.pos) + " of " + std::to_string(out.size) + " bytes";
  if (!problem.empty()) throw Napi::Error::New(env, "zstd: " + problem);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("pipeHolding", Napi::Function::New(env, PipeHolding, "pipeHolding"));
  exports.Set("zstdDecompressInto", Napi::Function::New(env, ZstdDecompressInto, "zstdDecompressInto"));
  exports.Set("LOCK_SH", Napi::Number::New(env, LOCK_SH));
  exports.Set("LOCK_EX", Napi::Number::New(env, LOCK_EX));
  exports.Set("LOCK_NB", Napi::Number::New(env, LOCK_NB));
  exports.Set("LOCK_UN", Napi::Number::New(env, LOCK_UN));
  exports.Set("EWOULDBLOCK", Napi::Number::New(env, EWOULDBLOCK));
  return exports;
}

}  // namespace

NODE_API_MODULE(volback_os, Init)

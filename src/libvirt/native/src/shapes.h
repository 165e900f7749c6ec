// Call shapes: the few ways a libvirt function returns its result, each as one async helper.
// Exec lambdas run on a pool thread; they capture only Refs and plain C++ values.
#pragma once

#include "common.h"

namespace vb {

/** f returns a new libvirt object (owned) or nullptr on failure → resolves a Handle of kind `out`. */
inline Napi::Value HandleCall(Napi::Env env, const char* fn, Kind out, std::function<void*()> f) {
  auto res = std::make_shared<Ref>();
  return Run(
      env, fn,
      [f, res, out] {
        void* p = f();
        if (!p) return false;
        *res = std::make_shared<Owned>(out, p);
        return true;
      },
      [res](Napi::Env env) -> Napi::Value { return Handle::New(env, *res); });
}

/** f returns a malloc'ed string (freed here) or nullptr on failure. */
inline Napi::Value StrCall(Napi::Env env, const char* fn, std::function<char*()> f) {
  auto res = std::make_shared<std::string>();
  return Run(
      env, fn,
      [f, res] {
        auto s = TakeStr(f());
        if (!s) return false;
        *res = std::move(*s);
        return true;
      },
      [res](Napi::Env env) -> Napi::Value { return Napi::String::New(env, *res); });
}

/** f returns a string owned by the object (not freed) or nullptr on failure. */
inline Napi::Value ConstStrCall(Napi::Env env, const char* fn, std::function<const char*()> f) {
  auto res = std::make_shared<std::string>();
  return Run(
      env, fn,
      [f, res] {
        const char* s = f();
        if (!s) return false;
        *res = s;
        return true;
      },
      [res](Napi::Env env) -> Napi::Value { return Napi::String::New(env, *res); });
}

enum class IntResult { Undefined, Number, Boolean };
/** f returns an int, negative on failure; resolves undefined, the number, or (n != 0). */
inline Napi::Value IntCall(Napi::Env env, const char* fn, IntResult shape, std::function<long long()> f) {
  auto res = std::make_shared<long long>(0);
  return Run(
      env, fn,
      [f, res] {
        *res = f();
        return *res >= 0;
      },
      [res, shape](Napi::Env env) -> Napi::Value {
        if (shape == IntResult::Number) return Napi::Number::New(env, static_cast<double>(*res));
        if (shape == IntResult::Boolean) return Napi::Boolean::New(env, *res != 0);
        return env.Undefined();
      });
}

/** f is a virXxxListAll* call: fills a malloc'ed array of owned objects, returns the count or -1. */
inline Napi::Value ListCall(Napi::Env env, const char* fn, Kind out, std::function<int(void***)> f) {
  auto res = std::make_shared<std::vector<Ref>>();
  return Run(
      env, fn,
      [f, res, out] {
        void** list = nullptr;
        int n = f(&list);
        if (n < 0) return false;
        for (int i = 0; i < n; i++) res->push_back(std::make_shared<Owned>(out, list[i]));
        free(list);
        return true;
      },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, res->size());
        for (size_t i = 0; i < res->size(); i++) a.Set(i, Handle::New(env, (*res)[i]));
        return a;
      });
}

#define VB_FN(name) static Napi::Value name(const Napi::CallbackInfo& info)

}  // namespace vb

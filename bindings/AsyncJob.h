// The one AsyncWorker of the addon: runs a core call (a callable returning parm::status) on the
// libuv pool, keeps the JS arrays it touches referenced until it settles, and settles a promise.
// The callable must not touch N-API.
#pragma once
#include <napi.h>

#include <utility>
#include <vector>

#include "Errors.h"
#include "parm/status.h"

namespace parm_bind {

template <class Fn>
class AsyncJob final : public Napi::AsyncWorker {
 public:
  AsyncJob(Napi::Env env, Fn fn, std::vector<Napi::Object> keep, void (*done)(void*) = nullptr,
           void* done_arg = nullptr)
      : Napi::AsyncWorker(env, "parm:codec"),
        fn_(std::move(fn)),
        deferred_(Napi::Promise::Deferred::New(env)),
        done_(done),
        done_arg_(done_arg) {
    keep_.reserve(keep.size());
    for (auto& o : keep) keep_.push_back(Napi::Persistent(o));
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = fn_(); }

  void OnOK() override {
    if (done_) done_(done_arg_);
    if (status_.ok())
      deferred_.Resolve(Env().Undefined());
    else
      deferred_.Reject(StatusError(Env(), status_));
  }

  void OnError(const Napi::Error& e) override {
    if (done_) done_(done_arg_);
    deferred_.Reject(e.Value());
  }

 private:
  Fn fn_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  parm::status status_;
  void (*done_)(void*);
  void* done_arg_;
};

template <class Fn>
Napi::Promise RunAsync(Napi::Env env, Fn fn, std::vector<Napi::Object> keep,
                       void (*done)(void*) = nullptr, void* done_arg = nullptr) {
  auto* job = new AsyncJob<Fn>(env, std::move(fn), std::move(keep), done, done_arg);
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

}  // namespace parm_bind

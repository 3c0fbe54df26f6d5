// DeviceBuffer: a JS object owning one parm::cuda::buffer (device memory + pinned staging).
// Freed by dispose() or, failing that, by the finalizer. A buffer used by a pending async op
// cannot be disposed until the op settles (its JS object is referenced by the op meanwhile).
#pragma once
#include <napi.h>

#include <string>

#include "Convert.h"
#include "parm/cuda.h"

namespace parm_bind {

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  explicit DeviceBuffer(const Napi::CallbackInfo& info);
  ~DeviceBuffer() override;

  static Napi::Function Define(Napi::Env env);
  // The live buffer behind a JS value, or a TypeError naming `name`.
  static DeviceBuffer* FromValue(Napi::Value v, const std::string& name);

  parm::cuda::buffer* get() const { return buf_; }
  void Acquire() { ++pending_; }
  static void Release(void* self) { --static_cast<DeviceBuffer*>(self)->pending_; }

 private:
  struct Transfer {
    F32 host;
    std::size_t at = 0;  // element offset in the device buffer
  };
  Transfer ParseTransfer(const Napi::CallbackInfo& info, const char* host_name);

  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  parm::cuda::buffer* buf_ = nullptr;
  std::size_t length_ = 0;
  int pending_ = 0;  // async ops in flight using this buffer (main thread only)
};

void InitDeviceBuffer(Napi::Env env, Napi::Object exports);

}  // namespace parm_bind

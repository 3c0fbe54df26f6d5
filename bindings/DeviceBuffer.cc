// DeviceBuffer and the CUDA ops that take device buffers (see addon.cc for the export list).
#include "DeviceBuffer.h"

#include <memory>
#include <vector>

#include "AsyncJob.h"
#include "Convert.h"
#include "Errors.h"

namespace parm_bind {
DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  Napi::Env env = info.Env();
  const std::size_t n = AsSize(info[0], "length", 1, std::size_t{1} << 36);
  parm::cuda::buffer* b = nullptr;
  Check(env, parm::cuda::buffer_alloc(n, &b));
  buf_ = b;
  length_ = n;
}

DeviceBuffer::~DeviceBuffer() { parm::cuda::buffer_free(buf_); }

Napi::Function DeviceBuffer::Define(Napi::Env env) {
  return DefineClass(env, "DeviceBuffer",
                     {InstanceAccessor<&DeviceBuffer::Length>("length"),
                      InstanceAccessor<&DeviceBuffer::Disposed>("disposed"),
                      InstanceMethod<&DeviceBuffer::Upload>("upload"),
                      InstanceMethod<&DeviceBuffer::Download>("download"),
                      InstanceMethod<&DeviceBuffer::Dispose>("dispose")});
}

DeviceBuffer* DeviceBuffer::FromValue(Napi::Value v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) ThrowType(env, name + " must be a DeviceBuffer (got " + Describe(v) + ")");
  Napi::Object o = v.As<Napi::Object>();
  const Napi::FunctionReference& ctor = Data(env)->device_buffer;
  if (ctor.IsEmpty() || !o.InstanceOf(ctor.Value()))
    ThrowType(env, name + " must be a DeviceBuffer (got " + Describe(v) + ")");
  DeviceBuffer* b = nullptr;
  napi_status st = napi_unwrap(env, o, reinterpret_cast<void**>(&b));
  if (st != napi_ok || !b) ThrowType(env, name + " must be a DeviceBuffer (got " + Describe(v) + ")");
  if (!b->buf_) ThrowType(env, name + " is a disposed DeviceBuffer");
  return b;
}

Napi::Value DeviceBuffer::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(length_));
}

Napi::Value DeviceBuffer::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), buf_ == nullptr);
}

Napi::Value DeviceBuffer::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!buf_) ThrowType(env, "this DeviceBuffer was disposed");
  F32 src = AsF32(info[0], "src");
  const std::size_t at = info.Length() > 1 && !info[1].IsUndefined() ? AsSize(info[1], "offset", 0, length_) : 0;
  if (src.length > length_ - at)
    ThrowRange(env, "src has length " + std::to_string(src.length) + ", more than the " +
                        std::to_string(length_ - at) + " floats left in the buffer after offset " + std::to_string(at));
  Check(env, parm::cuda::buffer_upload(buf_, src.data, src.length, at));
  return env.Undefined();
}

Napi::Value DeviceBuffer::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!buf_) ThrowType(env, "this DeviceBuffer was disposed");
  F32 dst = AsF32(info[0], "dst");
  const std::size_t at = info.Length() > 1 && !info[1].IsUndefined() ? AsSize(info[1], "offset", 0, length_) : 0;
  if (dst.length > length_ - at)
    ThrowRange(env, "dst has length " + std::to_string(dst.length) + ", more than the " +
                        std::to_string(length_ - at) + " floats left in the buffer after offset " + std::to_string(at));
  Check(env, parm::cuda::buffer_download(buf_, dst.data, dst.length, at));
  return env.Undefined();
}

Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (pending_ > 0)
    Check(env, parm::status::error(parm::status_code::invalid_argument,
                                   "DeviceBuffer is in use by a pending operation; await it before dispose()"));
  parm::cuda::buffer_free(buf_);
  buf_ = nullptr;
  return env.Undefined();
}

namespace {

// The buffers an op uses; they are marked in use only when the op is queued (after every check
// passed), and released when it settles.
struct Uses {
  std::vector<DeviceBuffer*> list;
  std::vector<Napi::Object> keep;
  void Add(DeviceBuffer* b, Napi::Object o) {
    list.push_back(b);
    keep.push_back(o);
  }
};

void ReleaseAll(void* p) {
  std::unique_ptr<std::vector<DeviceBuffer*>> v(static_cast<std::vector<DeviceBuffer*>*>(p));
  for (DeviceBuffer* b : *v) DeviceBuffer::Release(b);
}

std::vector<parm::cuda::buffer*> BufferList(Napi::Value v, const std::string& label, Uses* uses,
                                            bool allow_null = false) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) ThrowType(env, label + " must be an array of DeviceBuffer (got " + Describe(v) + ")");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() == 0) ThrowRange(env, label + " must hold at least one buffer (k = 0)");
  std::vector<parm::cuda::buffer*> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (allow_null && e.IsNull()) {
      out.push_back(nullptr);
      continue;
    }
    DeviceBuffer* b = DeviceBuffer::FromValue(e, label + "[" + std::to_string(i) + "]");
    out.push_back(b->get());
    uses->Add(b, e.As<Napi::Object>());
  }
  return out;
}

template <class Fn>
Napi::Value Launch(Napi::Env env, Fn fn, Uses& uses) {
  for (DeviceBuffer* b : uses.list) b->Acquire();
  auto* list = new std::vector<DeviceBuffer*>(uses.list);
  return RunAsync(env, std::move(fn), std::move(uses.keep), ReleaseAll, list);
}

void CheckSizes(Napi::Env env, const std::vector<parm::cuda::buffer*>& bufs, const std::string& label,
                std::size_t n) {
  for (std::size_t i = 0; i < bufs.size(); ++i)
    if (bufs[i] && parm::cuda::buffer_size(bufs[i]) != n)
      ThrowRange(env, label + "[" + std::to_string(i) + "] has length " +
                          std::to_string(parm::cuda::buffer_size(bufs[i])) + ", expected " + std::to_string(n));
}

Napi::Value CudaEncodeSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uses uses;
  auto in = BufferList(info[0], "inputs", &uses);
  DeviceBuffer* out = DeviceBuffer::FromValue(info[2], "out");
  const std::size_t n = parm::cuda::buffer_size(out->get());
  CheckSizes(env, in, "inputs", n);
  std::vector<float> w;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    F32 wf = AsF32(info[1], "weights");
    if (wf.length != in.size())
      ThrowRange(env, "weights has length " + std::to_string(wf.length) + ", expected k = " + std::to_string(in.size()));
    w.assign(wf.data, wf.data + wf.length);
  }
  uses.Add(out, info[2].As<Napi::Object>());
  parm::cuda::buffer* o = out->get();
  std::vector<const parm::cuda::buffer*> cin(in.begin(), in.end());
  return Launch(env, [cin, w, o] {
    return parm::cuda::encode_sum_f32_cuda(cin.data(), w.empty() ? nullptr : w.data(), cin.size(), o);
  }, uses);
}

Napi::Value CudaEncodeConcat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uses uses;
  auto in = BufferList(info[0], "images", &uses);
  parm::image_shape shape;
  parm::grid g;
  constexpr std::size_t kMaxDim = std::size_t{1} << 20;
  shape.channels = AsSize(info[1], "shape.channels", 1, kMaxDim);
  shape.height = AsSize(info[2], "shape.height", 1, kMaxDim);
  shape.width = AsSize(info[3], "shape.width", 1, kMaxDim);
  const std::string layout = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  if (layout != "nchw" && layout != "nhwc") ThrowType(env, "layout must be 'nchw' or 'nhwc'");
  shape.order = layout == "nhwc" ? parm::layout::nhwc : parm::layout::nchw;
  g.rows = AsSize(info[5], "grid[0] (rows)", 0, shape.height);
  g.cols = AsSize(info[6], "grid[1] (cols)", 0, shape.width);
  DeviceBuffer* out = DeviceBuffer::FromValue(info[7], "out");
  const std::size_t n = shape.channels * shape.height * shape.width;
  CheckSizes(env, in, "images", n);
  if (parm::cuda::buffer_size(out->get()) != n) ThrowRange(env, "out has the wrong length, expected " + std::to_string(n));
  uses.Add(out, info[7].As<Napi::Object>());
  parm::cuda::buffer* o = out->get();
  std::vector<const parm::cuda::buffer*> cin(in.begin(), in.end());
  return Launch(env, [cin, shape, g, o] {
    return parm::cuda::encode_concat_f32_cuda(cin.data(), cin.size(), shape, g, o);
  }, uses);
}

Napi::Value CudaDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uses uses;
  auto parity = BufferList(info[0], "parityOutputs", &uses);
  auto data = BufferList(info[1], "dataOutputs", &uses, true);
  const std::size_t n = parm::cuda::buffer_size(parity[0]);
  CheckSizes(env, parity, "parityOutputs", n);
  CheckSizes(env, data, "dataOutputs", n);
  std::vector<float> coeff;
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    F32 c = AsF32(info[2], "coefficients");
    if (c.length != parity.size() * data.size()) ThrowRange(env, "coefficients must have r x k entries");
    coeff.assign(c.data, c.data + c.length);
  }
  auto outs = BufferList(info[3], "outs", &uses);
  CheckSizes(env, outs, "outs", n);
  std::vector<const parm::cuda::buffer*> cp(parity.begin(), parity.end()), cd(data.begin(), data.end());
  return Launch(env, [cp, cd, coeff, outs] {
    return parm::cuda::decode_f32_cuda(cp.data(), cp.size(), cd.data(), cd.size(),
                                       coeff.empty() ? nullptr : coeff.data(), outs.data(), outs.size());
  }, uses);
}

Napi::Value CudaCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Uses uses;
  DeviceBuffer* src = DeviceBuffer::FromValue(info[0], "src");
  DeviceBuffer* dst = DeviceBuffer::FromValue(info[1], "dst");
  if (parm::cuda::buffer_size(src->get()) != parm::cuda::buffer_size(dst->get()))
    ThrowRange(env, "dst has length " + std::to_string(parm::cuda::buffer_size(dst->get())) + ", expected " +
                        std::to_string(parm::cuda::buffer_size(src->get())));
  uses.Add(src, info[0].As<Napi::Object>());
  uses.Add(dst, info[1].As<Napi::Object>());
  const parm::cuda::buffer* s = src->get();
  parm::cuda::buffer* d = dst->get();
  return Launch(env, [s, d] { return parm::cuda::copy_f32_cuda(s, d); }, uses);
}

}  // namespace

void InitDeviceBuffer(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DeviceBuffer::Define(env);
  Data(env)->device_buffer = Napi::Persistent(ctor);
  exports.Set("DeviceBuffer", ctor);
  exports.Set("cudaEncodeSum", Napi::Function::New(env, CudaEncodeSum, "cudaEncodeSum"));
  exports.Set("cudaEncodeConcat", Napi::Function::New(env, CudaEncodeConcat, "cudaEncodeConcat"));
  exports.Set("cudaDecode", Napi::Function::New(env, CudaDecode, "cudaDecode"));
  exports.Set("cudaCopy", Napi::Function::New(env, CudaCopy, "cudaCopy"));
}

}  // namespace parm_bind

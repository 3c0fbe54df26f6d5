// DeviceBuffer and the CUDA ops that take device buffers (see addon.cc for the export list). Like
// addon.cc, each op parses info[] once into a named struct (TypeError for a wrong type, RangeError
// for a wrong size, naming the field and expected vs actual), then calls the core off the loop.
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
  const std::string wrong = name + " must be a DeviceBuffer (got " + Describe(v) + ")";
  if (!v.IsObject()) ThrowType(env, wrong);
  Napi::Object o = v.As<Napi::Object>();
  const Napi::FunctionReference& ctor = Data(env)->device_buffer;
  if (ctor.IsEmpty() || !o.InstanceOf(ctor.Value())) ThrowType(env, wrong);
  DeviceBuffer* b = nullptr;
  napi_status st = napi_unwrap(env, o, reinterpret_cast<void**>(&b));
  if (st != napi_ok || !b) ThrowType(env, wrong);
  if (!b->buf_) ThrowType(env, name + " is a disposed DeviceBuffer");
  return b;
}

Napi::Value DeviceBuffer::Length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(length_));
}

Napi::Value DeviceBuffer::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), buf_ == nullptr);
}

// upload(src, offset?) / download(dst, offset?): the host array and the element offset, checked
// against the floats left in the buffer after the offset.
DeviceBuffer::Transfer DeviceBuffer::ParseTransfer(const Napi::CallbackInfo& info, const char* host_name) {
  Napi::Env env = info.Env();
  if (!buf_) ThrowType(env, "this DeviceBuffer was disposed");
  Transfer t;
  t.host = AsF32(info[0], host_name);
  t.at = info.Length() > 1 && !info[1].IsUndefined() ? AsSize(info[1], "offset", 0, length_) : 0;
  if (t.host.length > length_ - t.at)
    ThrowRange(env, std::string(host_name) + " has length " + std::to_string(t.host.length) + ", more than the " +
                        std::to_string(length_ - t.at) + " floats left in the buffer after offset " +
                        std::to_string(t.at));
  return t;
}

Napi::Value DeviceBuffer::Upload(const Napi::CallbackInfo& info) {
  const Transfer t = ParseTransfer(info, "src");
  Check(info.Env(), parm::cuda::buffer_upload(buf_, t.host.data, t.host.length, t.at));
  return info.Env().Undefined();
}

Napi::Value DeviceBuffer::Download(const Napi::CallbackInfo& info) {
  const Transfer t = ParseTransfer(info, "dst");
  Check(info.Env(), parm::cuda::buffer_download(buf_, t.host.data, t.host.length, t.at));
  return info.Env().Undefined();
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

// The buffers an op uses, with their JS objects (kept alive until the op settles) and names (for
// messages). They are marked in use only when the op is queued, after every check passed.
struct Uses {
  std::vector<DeviceBuffer*> list;
  std::vector<Napi::Object> keep;
  std::vector<std::string> names;

  void Add(DeviceBuffer* b, Napi::Object o, std::string name) {
    list.push_back(b);
    keep.push_back(o);
    names.push_back(std::move(name));
  }
  // An output buffer must not also be an input or another output: the kernels read and write
  // element-wise in several passes (decode), so a shared buffer gives wrong results.
  void CheckDistinct(Napi::Env env, DeviceBuffer* out, const std::string& out_name) const {
    for (std::size_t i = 0; i < list.size(); ++i)
      if (list[i] == out)
        ThrowRange(env, out_name + " is the same DeviceBuffer as " + names[i] + "; use a separate output buffer");
  }
};

void ReleaseAll(void* p) {
  std::unique_ptr<std::vector<DeviceBuffer*>> v(static_cast<std::vector<DeviceBuffer*>*>(p));
  for (DeviceBuffer* b : *v) DeviceBuffer::Release(b);
}

// An array of DeviceBuffer of length `expected` floats each (0: the first one's length), recorded
// in `uses`. min_count 0 allows an empty array; allow_null lets entries be null (missing outputs).
struct BufferListOptions {
  std::size_t min_count = 1;
  bool allow_null = false;
  bool outputs = false;  // each entry must be distinct from the buffers already in `uses`
};

std::vector<parm::cuda::buffer*> AsBufferList(Napi::Value v, const std::string& label, std::size_t expected,
                                              Uses* uses, BufferListOptions opt = {}) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) ThrowType(env, label + " must be an array of DeviceBuffer (got " + Describe(v) + ")");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < opt.min_count) ThrowRange(env, label + " must hold at least one buffer (k = 0)");
  std::vector<parm::cuda::buffer*> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (opt.allow_null && e.IsNull()) {
      out.push_back(nullptr);
      continue;
    }
    const std::string name = label + "[" + std::to_string(i) + "]";
    DeviceBuffer* b = DeviceBuffer::FromValue(e, name);
    const std::size_t n = parm::cuda::buffer_size(b->get());
    if (expected == 0) expected = n;
    if (n != expected) ThrowLength(env, name, n, expected);
    if (opt.outputs) uses->CheckDistinct(env, b, name);
    out.push_back(b->get());
    uses->Add(b, e.As<Napi::Object>(), name);
  }
  return out;
}

// One output buffer of `expected` floats, distinct from every buffer already in `uses`.
parm::cuda::buffer* AsOutput(Napi::Value v, const std::string& name, std::size_t expected, Uses* uses) {
  DeviceBuffer* b = DeviceBuffer::FromValue(v, name);
  const std::size_t n = parm::cuda::buffer_size(b->get());
  if (n != expected) ThrowLength(v.Env(), name, n, expected);
  uses->CheckDistinct(v.Env(), b, name);
  uses->Add(b, v.As<Napi::Object>(), name);
  return b->get();
}

// Queues op (a callable returning parm::status) with every used buffer marked in use until it settles.
template <class Op>
Napi::Value Launch(Napi::Env env, Op op, Uses uses) {
  for (DeviceBuffer* b : uses.list) b->Acquire();
  auto* list = new std::vector<DeviceBuffer*>(uses.list);
  return RunAsync(env, std::move(op), std::move(uses.keep), ReleaseAll, list);
}

// cudaEncodeSum(inputs, weights, out)
struct CudaSumArgs {
  std::vector<const parm::cuda::buffer*> in;
  Floats weights;
  parm::cuda::buffer* out = nullptr;
  Uses uses;
  parm::status operator()() const {
    return parm::cuda::encode_sum_f32_cuda(in.data(), weights.data(), in.size(), out);
  }
};

CudaSumArgs ParseCudaSum(const Napi::CallbackInfo& info) {
  CudaSumArgs a;
  const auto in = AsBufferList(info[0], "inputs", 0, &a.uses);
  a.in.assign(in.begin(), in.end());
  a.weights = AsWeights(info[1], in.size());
  a.out = AsOutput(info[2], "out", parm::cuda::buffer_size(in[0]), &a.uses);
  return a;
}

// cudaEncodeConcat(images, channels, height, width, layout, rows, cols, out)
struct CudaConcatArgs {
  std::vector<const parm::cuda::buffer*> images;
  ImageArgs image;
  parm::cuda::buffer* out = nullptr;
  Uses uses;
  parm::status operator()() const {
    return parm::cuda::encode_concat_f32_cuda(images.data(), images.size(), image.shape, image.g, out);
  }
};

CudaConcatArgs ParseCudaConcat(const Napi::CallbackInfo& info) {
  CudaConcatArgs a;
  const auto images = AsBufferList(info[0], "images", 0, &a.uses);
  a.images.assign(images.begin(), images.end());
  a.image = AsImage(info, 1, images.size());
  const std::size_t n = a.image.shape.channels * a.image.shape.height * a.image.shape.width;
  const std::size_t first = parm::cuda::buffer_size(images[0]);
  if (first != n) ThrowImageLength(info.Env(), "images[0]", first, n);
  a.out = AsOutput(info[7], "out", n, &a.uses);
  return a;
}

// cudaDecode(parity, data, coefficients, outs)
struct CudaDecodeArgs {
  std::vector<const parm::cuda::buffer*> parity, data;
  Floats coeff;
  std::vector<parm::cuda::buffer*> outs;
  Uses uses;
  parm::status operator()() const {
    return parm::cuda::decode_f32_cuda(parity.data(), parity.size(), data.data(), data.size(), coeff.data(),
                                       outs.data(), outs.size());
  }
};

CudaDecodeArgs ParseCudaDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaDecodeArgs a;
  const auto parity = AsBufferList(info[0], "parityOutputs", 0, &a.uses);
  const std::size_t n = parm::cuda::buffer_size(parity[0]);
  const auto data = AsBufferList(info[1], "dataOutputs", n, &a.uses, {1, /*allow_null=*/true, false});
  a.parity.assign(parity.begin(), parity.end());
  a.data.assign(data.begin(), data.end());
  a.coeff = AsCoefficients(info[2], parity.size(), data.size());
  std::size_t missing = 0;
  for (const parm::cuda::buffer* d : data) missing += d == nullptr;
  if (!info[3].IsArray()) ThrowType(env, "outs must be an array of DeviceBuffer (got " + Describe(info[3]) + ")");
  CheckOutCount(env, info[3].As<Napi::Array>().Length(), missing);
  a.outs = AsBufferList(info[3], "outs", n, &a.uses, {0, false, /*outputs=*/true});
  return a;
}

// cudaCopy(src, dst)
struct CudaCopyArgs {
  const parm::cuda::buffer* src = nullptr;
  parm::cuda::buffer* dst = nullptr;
  Uses uses;
  parm::status operator()() const { return parm::cuda::copy_f32_cuda(src, dst); }
};

CudaCopyArgs ParseCudaCopy(const Napi::CallbackInfo& info) {
  CudaCopyArgs a;
  DeviceBuffer* src = DeviceBuffer::FromValue(info[0], "src");
  a.uses.Add(src, info[0].As<Napi::Object>(), "src");
  a.src = src->get();
  a.dst = AsOutput(info[1], "dst", parm::cuda::buffer_size(a.src), &a.uses);
  return a;
}

// Parses, then runs the op on the libuv pool with its buffers in use until it settles.
template <class Args, Args (*Parse)(const Napi::CallbackInfo&)>
Napi::Value Run(const Napi::CallbackInfo& info) {
  Args a = Parse(info);
  Uses uses = std::move(a.uses);
  return Launch(info.Env(), std::move(a), std::move(uses));
}

}  // namespace

void InitDeviceBuffer(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DeviceBuffer::Define(env);
  Data(env)->device_buffer = Napi::Persistent(ctor);
  exports.Set("DeviceBuffer", ctor);
  exports.Set("cudaEncodeSum", Napi::Function::New(env, Run<CudaSumArgs, ParseCudaSum>, "cudaEncodeSum"));
  exports.Set("cudaEncodeConcat", Napi::Function::New(env, Run<CudaConcatArgs, ParseCudaConcat>, "cudaEncodeConcat"));
  exports.Set("cudaDecode", Napi::Function::New(env, Run<CudaDecodeArgs, ParseCudaDecode>, "cudaDecode"));
  exports.Set("cudaCopy", Napi::Function::New(env, Run<CudaCopyArgs, ParseCudaCopy>, "cudaCopy"));
}

}  // namespace parm_bind

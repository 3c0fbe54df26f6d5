// Thread pool used by the dispatching kernels (see thread_pool.h for the contract).
#include "thread_pool.h"

#include <cstdlib>

namespace parm {

thread_pool::~thread_pool() { stop_workers(); }

void thread_pool::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  stop_ = false;
}

void thread_pool::resize(unsigned threads) {
  if (threads < 1) threads = 1;
  std::lock_guard<std::mutex> job(job_mutex_);
  stop_workers();
  // New workers start at the current generation, so they wait for the next job.
  const unsigned long gen = generation_;
  for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this, gen] { worker_loop(gen); });
  size_ = threads;
}

unsigned thread_pool::size() { return size_.load(); }

void thread_pool::drain(const std::function<void(std::size_t)>& fn, std::size_t chunks) {
  for (std::size_t i = next_.fetch_add(1); i < chunks; i = next_.fetch_add(1)) fn(i);
}

void thread_pool::worker_loop(unsigned long seen) {
  for (;;) {
    const std::function<void(std::size_t)>* fn;
    std::size_t chunks;
    {
      std::unique_lock<std::mutex> lk(m_);
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      chunks = chunks_;
    }
    drain(*fn, chunks);
    {
      std::lock_guard<std::mutex> lk(m_);
      if (--busy_ == 0) done_.notify_all();
    }
  }
}

void thread_pool::run(std::size_t chunks, const std::function<void(std::size_t)>& fn) {
  std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
  if (!job.owns_lock() || workers_.empty() || chunks < 2) {
    for (std::size_t i = 0; i < chunks; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(m_);
    fn_ = &fn;
    chunks_ = chunks;
    next_ = 0;
    busy_ = workers_.size();
    ++generation_;
  }
  wake_.notify_all();
  drain(fn, chunks);
  std::unique_lock<std::mutex> lk(m_);
  done_.wait(lk, [&] { return busy_ == 0; });
  fn_ = nullptr;
}

thread_pool& global_pool() {
  static thread_pool* pool = [] {
    auto* p = new thread_pool();  // never destroyed: workers may outlive static destructors
    unsigned n = std::thread::hardware_concurrency();
    if (const char* env = std::getenv("PARM_THREADS")) {
      const long v = std::strtol(env, nullptr, 10);
      if (v >= 1 && v <= 1024) n = static_cast<unsigned>(v);
    }
    p->resize(n ? n : 1);
    return p;
  }();
  return *pool;
}

}  // namespace parm

// A small fixed pool of worker threads that splits one job of `chunks` independent pieces across
// the workers and the calling thread. One job runs at a time; a caller that finds the pool busy
// (another thread's job in flight) runs its own job alone instead of waiting.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace parm {

class thread_pool {
 public:
  thread_pool() = default;
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  // Total threads including the caller (>= 1). Waits for any running job before resizing.
  void resize(unsigned threads);
  unsigned size();

  // Calls fn(i) for every i in [0, chunks), in any order, possibly concurrently; returns when
  // all are done. fn must not throw.
  void run(std::size_t chunks, const std::function<void(std::size_t)>& fn);

 private:
  void worker_loop(unsigned long seen);
  void stop_workers();
  void drain(const std::function<void(std::size_t)>& fn, std::size_t chunks);

  std::mutex job_mutex_;  // held by the one caller whose job is in flight
  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(std::size_t)>* fn_ = nullptr;
  std::size_t chunks_ = 0;
  std::atomic<std::size_t> next_{0};
  std::size_t busy_ = 0;           // workers still inside the current job
  unsigned long generation_ = 0;   // bumped per job so workers see each job once
  bool stop_ = false;
  std::atomic<unsigned> size_{1};
};

thread_pool& global_pool();

}  // namespace parm

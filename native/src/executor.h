// One compute thread for all libtorch work. libuv runs each async call on any of
// its pool threads, and with OpenMP each such thread would get its own team of
// workers; those teams spin after every parallel region and fight over the cores
// (measured: 0.5–0.9x Python's speed). Funnelling every call through one thread keeps
// one team, as in a Python process. The calling pool thread sleeps until it is done.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace cxr {

class Executor {
 public:
  static Executor& get() {
    static Executor* e = new Executor();  // never destroyed: the thread lives as long as the process
    return *e;
  }
  // Runs f on the compute thread and waits; an exception thrown by f is rethrown here.
  void run(const std::function<void()>& f) {
    std::packaged_task<void()> task(f);
    auto done = task.get_future();
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.push_back([&task] { task(); });
    }
    cv_.notify_one();
    done.get();
  }

 private:
  Executor() : thread_([this] { loop(); }) { thread_.detach(); }
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
};

}  // namespace cxr

// status.h — the outcome of an asynchronous operation, handed to its completion
// callback: ok, or failed with a one-line message. Synchronous code throws
// ft::Error instead; a Status carries the same message across a thread hand-off.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <utility>

namespace ft {

class Status {
 public:
  Status() = default;  // ok
  static Status failed(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  // The status of a caught exception (its what()); ok for a null pointer.
  static Status from_exception(const std::exception_ptr& e);
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }  // empty when ok
  // Throws ft::Error(message()) when failed.
  void throw_if_failed() const;

 private:
  bool ok_ = true;
  std::string message_;
};

// Completion callback of an asynchronous operation; called exactly once.
using DoneFn = std::function<void(const Status&)>;

}  // namespace ft

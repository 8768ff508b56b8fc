// status.cpp
#include "core/status.h"

#include "core/tensor.h"

namespace ft {

Status Status::from_exception(const std::exception_ptr& e) {
  if (!e) return Status();
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return failed(x.what());
  } catch (...) {
    return failed("unknown exception");
  }
}

void Status::throw_if_failed() const {
  if (!ok_) throw Error(message_);
}

}  // namespace ft

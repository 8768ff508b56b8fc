// input_stager.cpp — see input_stager.h.
#include "core/input_stager.h"

#include <string>


namespace ft {

InputStager::InputStager(Device& dev) : dev_(dev) {
  if (dev.is_host()) throw Error("InputStager: device " + dev.name() + " is host memory (nothing to stage)");
}

void InputStager::stage(const std::vector<Tensor>& batch) {
  if (staged_ == 2) throw Error("InputStager: two batches staged and neither taken (current() not called)");
  std::vector<Tensor>& set = sets_[next_];
  set.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const Tensor& h = batch[i];
    if (h.device_ptr()) throw Error("InputStager: input " + std::to_string(i) + " is already on " + h.device());
    Tensor& d = set[i];
    if (d.raw() == nullptr || d.shape() != h.shape() || d.dtype() != h.dtype())
      d = Tensor::empty_on(dev_, h.shape(), h.dtype());
    upload_to(dev_, d.raw(), h.raw(), h.bytes());
  }
  next_ = 1 - next_;
  ++staged_;
}

const std::vector<Tensor>& InputStager::current() {
  if (staged_ == 0) throw Error("InputStager: no batch staged");
  const int oldest = staged_ == 2 ? next_ : 1 - next_;
  --staged_;
  return sets_[oldest];
}

}  // namespace ft

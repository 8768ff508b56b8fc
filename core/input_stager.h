// input_stager.h — a step's inputs on the device, uploaded one step ahead.
//
// The trainer of a run whose state is resident on a device (core/executor.h
// ResidentVariables) feeds its executor device tensors instead of host ones.
// stage(batch) queues the upload of the next step's host batch into one of two
// sets of device buffers (Device::upload: on a GPU, pinned staging and the
// copy stream, alongside the step that runs meanwhile) and returns that set;
// wait() orders the device's compute after every upload staged so far
// (Device::wait_uploads), without the host waiting. The two sets take turns:
// an upload into a set is ordered after the compute that last read it, which
// is the step before the one it overlaps.
//
//   stager.stage(loader.next());                  // step 0's batch
//   for each step:
//     stager.wait();                              // the compute reads the staged batch
//     feeds = stager.current();
//     if (another step follows) stager.stage(loader.next());  // overlaps this step
//     executor.run(feeds, ...);
//
// Buffers are allocated on the first stage() of a set and again when a batch's
// shapes or dtypes change. Bytes uploaded count in device_traffic() as h2d.
#pragma once

#include <cstddef>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace ft {

class InputStager {
 public:
  explicit InputStager(Device& dev);  // dev: a non-host device (else ft::Error)
  InputStager(const InputStager&) = delete;
  InputStager& operator=(const InputStager&) = delete;

  // Queues the upload of `batch` (host tensors) into the next set of device buffers.
  void stage(const std::vector<Tensor>& batch);
  // Orders the device's compute after every upload staged so far.
  void wait() { dev_.wait_uploads(); }
  // The set that the first stage() not yet handed out filled: the step's inputs.
  // Valid for compute queued after wait(); ft::Error when nothing was staged.
  const std::vector<Tensor>& current();
  Device& device() const { return dev_; }

 private:
  Device& dev_;
  std::vector<Tensor> sets_[2];
  int staged_ = 0;  // sets filled and not yet handed out by current() (0..2)
  int next_ = 0;    // the set the next stage() fills
};

}  // namespace ft

// idx.cpp — IDX reading/writing and MNIST loading.
#include "data/idx.h"

#include <fstream>

#include "core/checked.h"

namespace ft {
namespace data {
namespace {

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void put_be32(std::ofstream& f, uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  f.write(b, 4);
}

std::string hex32(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

}  // namespace

IdxArray read_idx_u8(const std::string& path, int ndim) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("IDX file " + path + ": cannot open (run scripts/fetch_mnist.sh?)");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());

  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < 4) throw Error("IDX file " + path + ": truncated: " + std::to_string(bytes.size()) + " bytes, no magic number");
  const uint32_t want = 0x00000800u | static_cast<uint32_t>(ndim);
  const uint32_t magic = read_be32(bytes.data());
  if (magic != want)
    throw Error("IDX file " + path + ": bad magic " + hex32(magic) + ", expected " + hex32(want) + " (u8, " +
                std::to_string(ndim) + " dims)");
  if (bytes.size() < header)
    throw Error("IDX file " + path + ": truncated header: " + std::to_string(bytes.size()) + " bytes, need " +
                std::to_string(header));

  IdxArray a;
  for (int i = 0; i < ndim; ++i) a.dims.push_back(read_be32(bytes.data() + 4 + 4 * i));
  int64_t n;
  if (!checked_numel(a.dims, &n))
    throw Error("IDX file " + path + ": dims " + shape_str(a.dims) + " hold more than 2^63-1 elements");
  const size_t have = bytes.size() - header;
  if (have < static_cast<size_t>(n))
    throw Error("IDX file " + path + ": truncated: dims " + shape_str(a.dims) + " need " + std::to_string(n) +
                " data bytes, file has " + std::to_string(have));
  if (have > static_cast<size_t>(n))
    throw Error("IDX file " + path + ": " + std::to_string(have - n) + " unexpected bytes after the data of dims " +
                shape_str(a.dims));
  a.values.assign(bytes.begin() + header, bytes.end());
  return a;
}

void write_idx_u8(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& values) {
  FT_CHECK(static_cast<int64_t>(values.size()) == numel(dims),
           "write_idx_u8: " + std::to_string(values.size()) + " values for dims " + shape_str(dims));
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error("IDX file " + path + ": cannot open for writing");
  put_be32(f, 0x00000800u | static_cast<uint32_t>(dims.size()));
  for (int64_t d : dims) put_be32(f, static_cast<uint32_t>(d));
  f.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size()));
  if (!f) throw Error("IDX file " + path + ": write failed");
}

Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path) {
  IdxArray img = read_idx_u8(images_path, 3);
  IdxArray lab = read_idx_u8(labels_path, 1);
  const int64_t n = img.dims[0];
  if (lab.dims[0] != n)
    throw Error("IDX files " + images_path + " and " + labels_path + ": count mismatch: " + std::to_string(n) +
                " images but " + std::to_string(lab.dims[0]) + " labels");
  if (n == 0) throw Error("IDX file " + images_path + ": holds no images");
  if (img.dims[1] == 0 || img.dims[2] == 0)
    throw Error("IDX file " + images_path + ": images of " + std::to_string(img.dims[1]) + "x" +
                std::to_string(img.dims[2]) + " pixels");

  Dataset ds;
  ds.rows = img.dims[1];
  ds.cols = img.dims[2];
  ds.images = Tensor::empty({n, ds.rows * ds.cols}, DType::F32);
  ds.labels = Tensor::empty({n}, DType::I32);
  float* x = ds.images.data<float>();
  for (size_t i = 0; i < img.values.size(); ++i) x[i] = img.values[i] * (1.0f / 255.0f);
  int32_t* y = ds.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) y[i] = lab.values[static_cast<size_t>(i)];
  return ds;
}

Dataset load_mnist(const std::string& dir, const std::string& split) {
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test" || split == "t10k") prefix = "t10k";
  else throw Error("load_mnist: unknown split '" + split + "' (expected train or test)");
  return load_idx_dataset(dir + "/" + prefix + "-images-idx3-ubyte", dir + "/" + prefix + "-labels-idx1-ubyte");
}

}  // namespace data
}  // namespace ft

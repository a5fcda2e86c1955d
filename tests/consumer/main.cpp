// A downstream program: configures a pipeline from YAML and runs it on a tensor.
#include <ATen/ATen.h>
#include <cardiotorch/core/config.h>
#include <cardiotorch/core/runtime.h>
#include <cardiotorch/signal/pipeline.h>

#include <iostream>

int main() {
  auto node = cardiotorch::ConfigNode::parse("[]");
  auto pipeline = cardiotorch::signal::Pipeline::from_config(node);
  at::Tensor x = at::ones({2, 12, 100});
  at::Tensor y = pipeline(x, 500.0);
  std::cout << cardiotorch::version_string() << " " << y.sizes() << "\n";
  return y.equal(x) ? 0 : 1;
}

// Precompiled header for library and CLI translation units (never included by hand).
#pragma once
#include <ATen/ATen.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>
#include <torch/nn/module.h>

#include "cardiotorch/data/beat_windows.h"

namespace cardiotorch::data {

Registry<BeatWindower>& beat_windower_registry() {
  static Registry<BeatWindower> r("beat_windower",
                                  "how a beat dataset cuts its windows from a new record (predict with a beat model)");
  return r;
}

}  // namespace cardiotorch::data

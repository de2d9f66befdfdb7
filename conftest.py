"""Settings for every pytest run, unit tests and notebooks (nbval) alike."""

import os

# notebooks run in their quick profile under pytest unless asked otherwise
os.environ.setdefault("RNPA_PROFILE", "quick")
# fewer TensorFlow C++ log lines in the kernels nbval starts (absl lines remain)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

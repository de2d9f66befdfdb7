"""Settings for every pytest run, unit tests and notebooks (nbval) alike."""

import os

# notebooks run in their quick profile under pytest unless asked otherwise
os.environ.setdefault("RNPA_PROFILE", "quick")
# fewer TensorFlow C++ log lines in the kernels nbval starts (absl lines remain)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# the learner's exercise notebooks stop at their stubs (NotImplementedError) by design:
# nbval runs the solutions in notebooks/solutions/, and tests/test_exercises.py executes
# these and checks that only the stubs raise
# notebooks/runs/ holds run folders and executed sweep jobs (git-ignored): not lessons
collect_ignore_glob = ["notebooks/exercises/*", "notebooks/runs/*"]

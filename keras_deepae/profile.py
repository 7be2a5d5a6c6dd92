"""The run profile of the course: one switch between a laptop and a GPU run."""

import dataclasses
import os

PROFILES = ("quick", "full")


@dataclasses.dataclass(frozen=True)
class RunProfile:
    """How much data and training the course notebooks use.

    The profile is read from the `DEEPAE_PROFILE` environment variable:
    `"quick"` (the default) uses the embedded 5,000 MNIST digits and few
    epochs, so that the whole course runs on a laptop CPU in minutes;
    `"full"` uses the full MNIST from tensorflow-datasets (downloaded once,
    beforehand) and the epochs a student would run on a GPU.

    Args:
        name: `"quick"` or `"full"`.

    Example:

    >>> profile = RunProfile.from_env()
    >>> epochs = profile.pick(quick=10, full=50)
    """

    name: str = "quick"

    def __post_init__(self):
        if self.name not in PROFILES:
            raise ValueError(
                f"The run profile must be one of {', '.join(map(repr, PROFILES))}. "
                f"Received: DEEPAE_PROFILE={self.name!r}"
            )

    @classmethod
    def from_env(cls):
        """The profile named by `DEEPAE_PROFILE` (default `"quick"`)."""
        return cls(os.environ.get("DEEPAE_PROFILE", "quick").strip().lower())

    @property
    def is_quick(self):
        return self.name == "quick"

    @property
    def digits(self):
        """Name of the digits data set for `keras_deepae.datasets.load`."""
        return "mnist5k" if self.is_quick else "mnist"

    def pick(self, quick, full):
        """`quick` in the quick profile, `full` in the full one."""
        return quick if self.is_quick else full

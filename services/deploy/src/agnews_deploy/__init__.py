"""agnews operations on Kubernetes: rollouts, training Jobs and the champion each inference pod serves."""

__version__ = "0.1.0"

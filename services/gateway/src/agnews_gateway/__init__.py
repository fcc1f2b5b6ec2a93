"""agnews public REST gateway: classification proxy, batch and training jobs, model registry views."""

__version__ = "0.1.0"

"""Alternative array backends (torch, dask) with the interface of somkit._kernels."""

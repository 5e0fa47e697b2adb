"""One way to run an exported ONNX file on the CPU, in onnxruntime or in OpenVINO.

:func:`load_onnx` returns a plain function: numpy arrays in (one per graph input, in the graph's
input order, e.g. an image ``(N, C, H, W)`` float32), a list of numpy arrays out (one per graph
output, in the graph's output order, e.g. a segmentor's ``(N, num_classes, H, W)`` logits or a
backbone's four ``(N, C_i, H / s_i, W / s_i)`` maps). Axes exported as dynamic stay dynamic in
both runtimes, so one loaded graph runs at any batch and image size.

Both runtimes compute in float32: the exported graphs are compared with the float32 PyTorch
model at a relative tolerance of about 1e-4, which reduced-precision arithmetic would not meet.
"""
import os.path as osp
from typing import Callable, List, Optional

import numpy as np

__all__ = ['RUNTIMES', 'load_onnx']

RUNTIMES = ('onnxruntime', 'openvino')

# What a user types to get both runtimes (setup.py's `deploy` extra).
_INSTALL_HINT = "pip install 'mmvitplug[deploy]'"


def _import_runtime(runtime: str):
    """The runtime's Python module, or an ImportError that says how to install it."""
    try:
        if runtime == 'onnxruntime':
            import onnxruntime
            return onnxruntime
        import openvino
        return openvino
    except ImportError as err:
        raise ImportError(f'running an ONNX file in {runtime} needs the {runtime} package, '
                          f'which is not installed: {_INSTALL_HINT}') from err


def _onnxruntime_runner(module, path: str,
                        threads: Optional[int]) -> Callable[..., List[np.ndarray]]:
    options = module.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # The CPU provider named explicitly: a GPU build of onnxruntime would otherwise pick CUDA
    # first, and this module promises CPU results.
    session = module.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    names = [i.name for i in session.get_inputs()]

    def run(*arrays) -> List[np.ndarray]:
        _check_count(arrays, names)
        return session.run(None, {n: np.ascontiguousarray(a) for n, a in zip(names, arrays)})

    return run


def _openvino_runner(module, path: str,
                     threads: Optional[int]) -> Callable[..., List[np.ndarray]]:
    import openvino.properties.hint as hints
    core = module.Core()
    # read_model parses the ONNX file directly (no conversion to OpenVINO IR on disk); dynamic
    # ONNX dimensions become dynamic OpenVINO dimensions, which the CPU plugin compiles once.
    model = core.read_model(path)
    # The CPU plugin picks bf16 by default on CPUs with AMX / AVX512-BF16 (Sapphire Rapids and
    # newer), which costs about three decimal digits; the hint keeps every op in float32.
    config = {hints.inference_precision: module.Type.f32}
    if threads:
        import openvino.properties as props
        config[props.inference_num_threads] = threads
    compiled = core.compile_model(model, 'CPU', config)
    names = [i.any_name for i in compiled.inputs]
    outputs = list(compiled.outputs)
    request = compiled.create_infer_request()

    def run(*arrays) -> List[np.ndarray]:
        _check_count(arrays, names)
        result = request.infer([np.ascontiguousarray(a) for a in arrays])
        # The request owns the output buffers and overwrites them on its next call: copy.
        return [np.array(result[o], copy=True) for o in outputs]

    return run


def _check_count(arrays, names) -> None:
    if len(arrays) != len(names):
        raise ValueError(f'the graph takes {len(names)} input(s) {names}, got {len(arrays)}')


def load_onnx(path: str, runtime: str = 'onnxruntime',
              threads: Optional[int] = None) -> Callable[..., List[np.ndarray]]:
    """Load the ONNX file ``path`` into ``runtime`` (one of :data:`RUNTIMES`) on the CPU.

    Args:
        path: an ``.onnx`` file, e.g. from :func:`mmvitplug.utils.deployment.export_onnx`.
        runtime: ``'onnxruntime'`` or ``'openvino'``.
        threads: intra-op threads (default: the runtime's own choice, about one per core);
            benchmarks set PyTorch's count, so that all runtimes get the same cores.

    Returns:
        ``run(*arrays) -> list of np.ndarray``: one array per graph input in, one per graph
        output out (see the module docstring for the shapes). Not thread-safe: the OpenVINO
        runner reuses one inference request.

    Raises:
        ValueError: ``runtime`` is not one of :data:`RUNTIMES`.
        ImportError: the runtime is not installed (the message says how to install it).
        FileNotFoundError: ``path`` does not exist.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
    module = _import_runtime(runtime)
    if not osp.isfile(path):
        raise FileNotFoundError(path)
    path = str(path)
    if runtime == 'onnxruntime':
        return _onnxruntime_runner(module, path, threads)
    return _openvino_runner(module, path, threads)

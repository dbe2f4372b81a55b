"""Grad-CAM explanations for image classifiers: where in the image the model looked.

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of the last convolution by the mean
gradient of the class score, keeps the positive part and upsamples it to the image. The score is
the logit before the final softmax when the model ends in a softmax `Dense` (or `Activation`), so
that a confident prediction (probability rounded to 1.0) still has a gradient.

TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from core.data.validation import describe_value
from core.inference.heatmaps import COLORMAPS, apply_colormap, heatmap_overlay, heatmap_peak

__all__ = [
    "COLORMAPS",
    "apply_colormap",
    "find_last_convolution_layer",
    "grad_cam",
    "grad_cam_batch",
    "heatmap_overlay",
    "heatmap_peak",
]

CONVOLUTION_LAYER_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
# Layers that keep the spatial layout of a convolution's output and only transform it element by
# element (or normalize it): their output still counts as "the convolution's feature maps".
ACTIVATION_LAYER_TYPES = ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Add")
NORMALIZATION_LAYER_TYPES = ("BatchNormalization", "LayerNormalization", "GroupNormalization")
FOLLOW_UP_LAYER_TYPES = ACTIVATION_LAYER_TYPES + NORMALIZATION_LAYER_TYPES
BATCH_SIZE = 32

# One compiled Grad-CAM function per (model, layer name). Weak keys: the cache never keeps a model
# alive once the application drops it.
_FUNCTION_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _is_nested_model(layer) -> bool:
    import keras  # Lazy: loads TensorFlow.

    return isinstance(layer, keras.Model)


def _has_spatial_output(model, layer) -> bool:
    try:
        shape = _layer_output(model, layer).shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4


def _model_node(model, layer):
    """Returns the call (node) of `layer` that belongs to `model`'s graph, or None.

    A layer shared by several models (a backbone reused in a bigger model) has one node per call;
    `layer.output` is only the first one's.
    """
    nodes = getattr(layer, "_inbound_nodes", [])
    graph = model if hasattr(model, "_nodes_by_depth") else getattr(model, "_functional", None)
    # Keras keys the nodes of a graph as f"{id(layer)}_ib-{index}" (keras.src.ops.function).
    keys = getattr(graph, "_nodes", None) or set()
    for index, node in enumerate(nodes):
        if f"{id(layer)}_ib-{index}" in keys:
            return node
    return nodes[0] if nodes else None


def _layer_output(model, layer):
    node = _model_node(model, layer)
    return layer.output if node is None else node.output_tensors[0]


def _layer_input(model, layer):
    node = _model_node(model, layer)
    return layer.input if node is None else node.input_tensors[0]


def _parent_layers(model, layer) -> list:
    """Returns the layers whose outputs `layer` consumes in `model`."""
    node = _model_node(model, layer)
    if node is None:
        return []
    return [tensor._keras_history.operation for tensor in node.input_tensors]


def _is_convolution_output(model, layer) -> bool:
    """True for a 2-D convolution, or a follow-up layer fed (through follow-ups) by one."""
    if not _has_spatial_output(model, layer):
        return False
    from keras import layers  # Lazy: loads TensorFlow.

    if isinstance(layer, tuple(getattr(layers, name) for name in CONVOLUTION_LAYER_TYPES)):
        return True
    if type(layer).__name__ not in FOLLOW_UP_LAYER_TYPES:
        return False
    return any(_is_convolution_output(model, parent) for parent in _parent_layers(model, layer))


def _layer_names(model) -> list[str]:
    return [layer.name for layer in model.layers]


def find_last_convolution_layer(model) -> str:
    """Returns the name of the layer whose output Grad-CAM should explain.

    Walks the layers from the output backwards and stops at the first layer with a 4-D output
    `(batch, height, width, channels)` that is a `Conv2D`, `SeparableConv2D` or
    `DepthwiseConv2D`, or an activation, normalization or `Add` fed by one. A nested model (a
    pretrained backbone) is searched too; its layer is named `"backbone_name/layer_name"`.

    Args:
        model: A built Keras model.

    Returns:
        The layer name, e.g. `"conv2d_3"` or `"re_lu_2"`.

    Raises:
        ValueError: If the model has no 2-D convolution.
    """
    for layer in reversed(model.layers):
        if _is_nested_model(layer):
            try:
                return f"{layer.name}/{find_last_convolution_layer(layer)}"
            except ValueError:
                continue
        if _is_convolution_output(model, layer):
            return layer.name
    raise ValueError(
        "Expected a model with at least one 2-D convolution layer. "
        f"Received: model={model.name!r} with layers {_layer_names(model)}"
    )


def _resolve_layer(model, layer_name: str) -> tuple[object | None, object]:
    """Returns `(nested model or None, layer)` for `"name"` or `"nested_name/name"`."""
    parts = layer_name.split("/") if isinstance(layer_name, str) else []
    try:
        if len(parts) == 1:
            layer = model.get_layer(parts[0])
            if _has_spatial_output(model, layer):
                return None, layer
        elif len(parts) == 2:
            nested = model.get_layer(parts[0])
            if _is_nested_model(nested):
                layer = nested.get_layer(parts[1])
                if _has_spatial_output(nested, layer):
                    return nested, layer
    except ValueError:
        pass
    raise ValueError(
        "Expected layer_name to name a layer with a 4-D output (batch, height, width, channels), "
        "as 'name' or 'nested_model/name'. "
        f"Received: layer_name={describe_value(layer_name)}; the model has layers "
        f"{_layer_names(model)}"
    )


def _score_head(model):
    """Returns `(last layer, mode)`: mode is "dense_logits", "activation_input" or "output"."""
    from keras import activations, layers  # Lazy: loads TensorFlow.

    last_layer = model.outputs[0]._keras_history.operation
    if isinstance(last_layer, layers.Dense) and last_layer.activation is activations.softmax:
        return last_layer, "dense_logits"
    if isinstance(last_layer, layers.Softmax) or (
        isinstance(last_layer, layers.Activation) and last_layer.activation is activations.softmax
    ):
        return last_layer, "activation_input"
    return last_layer, "output"


def _is_linear_chain(model) -> bool:
    previous = None
    for layer in model.layers:
        parents = _parent_layers(model, layer)
        if previous is not None and (len(parents) != 1 or parents[0] is not previous):
            return False
        previous = layer
    return True


def _build_gradient_model(model, layer_name: str):
    """Returns a Keras model mapping images to `[feature maps, head input or output]`."""
    import keras  # Lazy: loads TensorFlow.

    nested, layer = _resolve_layer(model, layer_name)
    last_layer, mode = _score_head(model)
    if nested is None:
        head = model.outputs[0] if mode == "output" else _layer_input(model, last_layer)
        features = _layer_output(model, layer)
        return keras.Model(model.inputs[0], [features, head]), last_layer, mode
    # The feature maps live inside a nested model, whose inner tensors are not connected to the
    # outer graph: replay the outer layers on a fresh input, with the nested model swapped for one
    # that also returns the feature maps. This needs the outer model to be a simple chain.
    if not _is_linear_chain(model):
        raise ValueError(
            "Expected the layers around a nested model to form a simple chain (each layer fed by "
            "the one before) to explain a layer inside it. Pass a top-level layer_name instead. "
            f"Received: layer_name={layer_name!r} in model={model.name!r}"
        )
    nested_with_features = keras.Model(
        nested.inputs[0], [_layer_output(nested, layer), nested.outputs[0]]
    )
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)
    tensor, features = inputs, None
    for outer_layer in model.layers:
        if type(outer_layer).__name__ == "InputLayer":
            continue
        if outer_layer is last_layer and mode != "output":
            break
        if outer_layer is nested:
            features, tensor = nested_with_features(tensor)
        else:
            tensor = outer_layer(tensor)
    return keras.Model(inputs, [features, tensor]), last_layer, mode


def _compiled_grad_cam(model, layer_name: str):
    """Returns the cached `tf.function(images, class_indices) -> (heatmaps, class_indices)`."""
    with _CACHE_LOCK:
        per_model = _FUNCTION_CACHE.setdefault(model, {})
        if layer_name not in per_model:
            per_model[layer_name] = _make_grad_cam_function(model, layer_name)
        return per_model[layer_name]


def _make_grad_cam_function(model, layer_name: str):
    import tensorflow as tf  # Lazy: loads TensorFlow.

    gradient_model, last_layer, mode = _build_gradient_model(model, layer_name)
    input_shape = [None, *model.inputs[0].shape[1:]]

    @tf.function(
        input_signature=[
            tf.TensorSpec(input_shape, tf.float32),
            tf.TensorSpec([None], tf.int32),
        ]
    )
    def compute(images, class_indices):
        with tf.GradientTape() as tape:
            features, head = gradient_model(images, training=False)
            if mode == "dense_logits":
                scores = tf.matmul(head, last_layer.kernel)
                if last_layer.bias is not None:
                    scores = scores + last_layer.bias
            else:
                scores = head
            predicted = tf.argmax(scores, axis=-1, output_type=tf.int32)
            chosen = tf.where(class_indices < 0, predicted, class_indices)
            # Samples are independent at inference, so the gradient of the sum holds each
            # sample's own gradient.
            target = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))
        gradients = tape.gradient(target, features)
        weights = tf.reduce_mean(gradients, axis=(1, 2))
        maps = tf.nn.relu(tf.einsum("bhwc,bc->bhw", features, weights))
        size = tf.shape(images)[1:3]
        maps = tf.image.resize(maps[..., tf.newaxis], size, method="bilinear")[..., 0]
        # Normalize after resizing so that every non-empty heatmap reaches exactly 1.
        maximum = tf.reduce_max(maps, axis=(1, 2), keepdims=True)
        maps = tf.math.divide_no_nan(maps, maximum)
        return tf.clip_by_value(maps, 0.0, 1.0), chosen

    return compute


def _as_image_batch(model, images, name: str) -> np.ndarray:
    """Returns `images` as float32 `(N, H, W, C)` matching the model's input, or raises."""
    array = np.asarray(images)
    expected = tuple(model.inputs[0].shape[1:])
    if array.ndim == len(expected) - 1 and expected[-1] == 1:
        array = array[..., np.newaxis]
    if array.ndim == len(expected):
        array = array[np.newaxis]
    matches = array.ndim == len(expected) + 1 and all(
        want is None or want == have for want, have in zip(expected, array.shape[1:], strict=True)
    )
    if not matches or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"Expected {name} of raw pixels with shape {expected} (or a batch of them) for model "
            f"{model.name!r}. Received: {name}.shape={array.shape}, dtype={array.dtype}"
        )
    return array.astype(np.float32, copy=False)


def _check_class_index(model, class_index) -> int:
    classes = int(model.outputs[0].shape[-1])
    if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
        valid = False
    else:
        valid = 0 <= int(class_index) < classes
    if not valid:
        raise ValueError(
            f"Expected class_index to be an integer in [0, {classes}). "
            f"Received: class_index={describe_value(class_index)}"
        )
    return int(class_index)


def grad_cam_batch(
    model, images, class_indices=None, *, layer_name: str | None = None
) -> np.ndarray:
    """Computes Grad-CAM heatmaps for a batch of images.

    Args:
        model: A Keras image classifier taking raw 0-255 pixels.
        images: Array `(N, H, W, C)` of raw pixels (uint8 or float).
        class_indices: One class index per image, or None to explain each predicted class.
            Default: None.
        layer_name: The layer to explain; None finds the last convolution. Default: None.

    Returns:
        float32 array `(N, H, W)` with values in [0, 1] (all zeros when nothing in the image
        raises the class score).

    Raises:
        ValueError: If the images do not fit the model, a class index is out of range, or the
            layer cannot be found.
    """
    batch = _as_image_batch(model, images, "images")
    if class_indices is None:
        indices = np.full(len(batch), -1, dtype=np.int32)
    else:
        indices_list = list(np.atleast_1d(class_indices))
        if len(indices_list) != len(batch):
            raise ValueError(
                "Expected one class index per image. "
                f"Received: {len(indices_list)} class_indices for {len(batch)} images"
            )
        indices = np.array([_check_class_index(model, item) for item in indices_list], np.int32)
    if layer_name is None:
        layer_name = find_last_convolution_layer(model)
    compute = _compiled_grad_cam(model, layer_name)
    heatmaps = [
        compute(batch[start : start + BATCH_SIZE], indices[start : start + BATCH_SIZE])[0].numpy()
        for start in range(0, len(batch), BATCH_SIZE)
    ]
    if not heatmaps:
        return np.zeros((0, *batch.shape[1:3]), dtype=np.float32)
    return np.concatenate(heatmaps).astype(np.float32, copy=False)


def grad_cam(
    model, image, *, class_index: int | None = None, layer_name: str | None = None
) -> np.ndarray:
    """Computes the Grad-CAM heatmap of one image.

    Args:
        model: A Keras image classifier taking raw 0-255 pixels.
        image: Raw pixels `(H, W, C)` or `(1, H, W, C)` (`(H, W)` for one channel).
        class_index: The class to explain; None explains the predicted class. Default: None.
        layer_name: The layer to explain; None finds the last convolution. Default: None.

    Returns:
        float32 array `(H, W)` with values in [0, 1].

    Raises:
        ValueError: If the image does not fit the model, `class_index` is out of range, or the
            layer cannot be found.
    """
    batch = _as_image_batch(model, image, "image")
    if len(batch) != 1:
        raise ValueError(
            "Expected one image (H, W, C) or (1, H, W, C); use grad_cam_batch for several. "
            f"Received: image.shape={np.shape(image)}"
        )
    indices = None if class_index is None else [_check_class_index(model, class_index)]
    return grad_cam_batch(model, batch, indices, layer_name=layer_name)[0]

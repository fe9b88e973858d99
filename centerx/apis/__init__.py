"""Using a trained model the way mmdet users do: build it from a config and a checkpoint
(:func:`init_detector`) and run it on images (:func:`inference_detector`)."""
from .config import load_model_config
from .export_json import predictions_to_json
from .inference import ImageInput, inference_detector, init_detector, inference_pipeline_of
from .pipeline import LoadImageFromArray
from .targets import TargetMap, target_maps

__all__ = ['ImageInput', 'LoadImageFromArray', 'inference_detector', 'init_detector', 'load_model_config', 'predictions_to_json',
           'inference_pipeline_of', 'target_maps', 'TargetMap']

# CenterNet ctdet on COCO 2017 with the paper's settings: 512x512 input, ResNet-18 + deconv neck,
# Adam lr 5e-4 at batch 128 (scaled linearly for other batch sizes by auto_scale_lr),
# 140 epochs with x0.1 drops at 90 and 120, flip + random crop + colour augmentation.
# Data layout: data/coco/annotations/instances_{train,val}2017.json, data/coco/{train,val}2017/.
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/centernet_resnet18.py',
    '_base_/datasets/coco_detection.py',
    '_base_/schedules/adam_140e.py',
]

classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
    'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
    'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase',
    'scissors', 'teddy bear', 'hair drier', 'toothbrush')

model = dict(classes=classes)
train_dataloader = dict(batch_size=32, dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

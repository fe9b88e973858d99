"""Property-based: a COCO keypoints json with hostile values gives valid items or a ValueError naming the file."""
from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from centerx_tasks.keypoints.coco_keypoints_dataset import CocoKeypointsDataset

NAMES = ('nose', 'left_eye', 'right_eye')


@pytest.mark.parametrize('on_invalid', ['raise', 'skip'])
@given(data=st.data())
def test_hostile_keypoints_json_gives_items_or_a_named_error(hostile, on_invalid, data) -> None:
    coco = data.draw(hostile.coco_files(NAMES))
    with tempfile.TemporaryDirectory() as folder:
        ds = hostile.load_or_named_error(CocoKeypointsDataset, hostile.write_json(coco, folder), on_invalid=on_invalid)
    if ds is None:
        return
    for i in range(len(ds)):
        inst = ds.get_data_info(i)['instances']
        n = len(inst['labels'])
        hostile.check_instances(inst)
        assert inst['keypoints'].shape == (n, len(NAMES), 3) and inst['keypoints'].dtype == np.float32
        assert np.isfinite(inst['keypoints']).all() and np.isin(inst['keypoints'][..., 2], (0, 1, 2)).all()


@pytest.mark.parametrize('value', [1e39, -1e300, 3.5e38])
def test_keypoints_beyond_float32_are_a_named_error(hostile, tmp_path, value) -> None:
    coco = dict(images=[dict(id=1, file_name='a.jpg', height=10, width=10)],
                annotations=[dict(id=7, image_id=1, category_id=1, bbox=[1, 1, 3, 3],
                                  keypoints=[value, 1, 2, 0, 0, 0, 0, 0, 0])],
                categories=[dict(id=1, name='cat', keypoints=list(NAMES))])
    path = hostile.write_json(coco, str(tmp_path))
    with pytest.raises(ValueError, match='float32') as err:
        CocoKeypointsDataset(ann_file=path, test_mode=True)
    assert path in str(err.value) and 'annotation id 7' in str(err.value)
    assert json.loads(open(path).read())['annotations'][0]['keypoints'][0] == value

"""Property-based: a COCO json with hostile values gives valid items or a ValueError naming the file."""
from __future__ import annotations

import math
import tempfile

import pytest
from hypothesis import given, strategies as st

from centerx_tasks.box2d.coco_dataset import CocoDetDataset


def check_box_items(hostile, ds) -> None:
    """Every item holds finite, positive-size float32 boxes, labels of known classes, a positive size."""
    for i in range(len(ds)):
        d = ds.get_data_info(i)
        inst = d['instances']
        n = len(inst['labels'])
        assert isinstance(d['height'], int) and isinstance(d['width'], int) and min(d['height'], d['width']) > 0
        assert ((inst['labels'] >= 0) & (inst['labels'] < len(ds.metainfo['classes']))).all()
        assert inst['ignore'].shape == (n,) and isinstance(d['img_path'], str)
        hostile.check_instances(inst)


@pytest.mark.parametrize('on_invalid', ['raise', 'skip'])
@given(data=st.data())
def test_hostile_coco_json_gives_items_or_a_named_error(hostile, on_invalid, data) -> None:
    coco = data.draw(hostile.coco_files())
    with tempfile.TemporaryDirectory() as folder:
        ds = hostile.load_or_named_error(CocoDetDataset, hostile.write_json(coco, folder), on_invalid=on_invalid)
    if ds is not None:
        check_box_items(hostile, ds)
        assert ds.num_skipped_boxes <= len(coco['annotations'])


def base_coco(**image) -> dict:
    img = dict(id=1, file_name='a.jpg', height=10, width=10, **image)
    return dict(images=[img], annotations=[], categories=[dict(id=1, name='cat')])


@pytest.mark.parametrize('image, message', [
    (dict(height=0), 'height'), (dict(height=-3), 'height'), (dict(width='10'), 'width'),
    (dict(width=10.5), 'width'), (dict(height=True), 'height'), (dict(file_name=3), 'file_name'),
    (dict(file_name=''), 'file_name')])
def test_image_sizes_and_names_are_checked(hostile, tmp_path, image, message) -> None:
    data = base_coco()
    data['images'][0].update(image)
    with pytest.raises(ValueError, match=message) as err:
        CocoDetDataset(ann_file=hostile.write_json(data, str(tmp_path)), test_mode=True)
    assert 'image id 1' in str(err.value)


@pytest.mark.parametrize('field, value', [('id', [1]), ('id', {'a': 1}), ('id', None), ('id', 1.5)])
def test_unhashable_or_odd_image_ids_are_named_errors(hostile, tmp_path, field, value) -> None:
    data = base_coco()
    data['images'][0][field] = value
    with pytest.raises(ValueError, match='image record') as err:
        CocoDetDataset(ann_file=hostile.write_json(data, str(tmp_path)), test_mode=True)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize('ann, message', [
    (dict(id=[1]), 'annotation record'), (dict(image_id=[1]), 'image id'), (dict(category_id=[1]), 'category_id'),
    (dict(category_id={'a': 1}), 'category_id'), (dict(iscrowd=2), 'iscrowd'), (dict(iscrowd='yes'), 'iscrowd')])
def test_annotation_fields_of_wrong_types_are_named_errors(hostile, tmp_path, ann, message) -> None:
    data = base_coco()
    data['annotations'] = [dict(dict(id=5, image_id=1, category_id=1, bbox=[1, 1, 2, 2]), **ann)]
    with pytest.raises(ValueError, match=message) as err:
        CocoDetDataset(ann_file=hostile.write_json(data, str(tmp_path)), test_mode=True)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize('name', [['cat'], 3, None])
def test_category_names_must_be_strings(hostile, tmp_path, name) -> None:
    data = base_coco()
    data['categories'][0]['name'] = name
    with pytest.raises(ValueError, match='category'):
        CocoDetDataset(ann_file=hostile.write_json(data, str(tmp_path)), test_mode=True)


@pytest.mark.parametrize('bbox', [[1e308, 0, 1e308, 1], [0, 0, 1e39, 1], [3e38, 0, 3e38, 1], [1e10, 0, 1e-5, 1]])
def test_boxes_beyond_float32_or_lost_in_rounding_are_degenerate(hostile, tmp_path, bbox) -> None:
    data = base_coco()
    data['annotations'] = [dict(id=5, image_id=1, category_id=1, bbox=bbox)]
    path = hostile.write_json(data, str(tmp_path))
    with pytest.raises(ValueError, match='annotation id 5') as err:
        CocoDetDataset(ann_file=path, test_mode=True)
    assert path in str(err.value)
    ds = CocoDetDataset(ann_file=path, test_mode=True, on_invalid='skip')
    assert ds.num_skipped_boxes == 1 and len(ds.get_data_info(0)['instances']['labels']) == 0


def test_zero_and_ten_thousand_objects_and_duplicates_and_off_image(hostile, tmp_path) -> None:
    data = base_coco()
    data['images'].append(dict(id=2, file_name='b/a.jpg', height=10, width=10))
    data['annotations'] = [dict(id=k, image_id=1, category_id=1, bbox=[-5.0 + k % 7, 3.0, 40.0, 2.5])
                           for k in range(10_000)]
    ds = CocoDetDataset(ann_file=hostile.write_json(data, str(tmp_path)), test_mode=True)
    check_box_items(hostile, ds)
    first, second = ds.get_data_info(0)['instances'], ds.get_data_info(1)['instances']
    assert len(first['labels']) == 10_000 and len(second['labels']) == 0
    assert first['bboxes'][:, 0].min() == -5.0 and first['bboxes'][:, 2].max() == 41.0  # off-image kept as given
    assert math.isclose(float(first['bboxes'][0, 3]), 5.5)

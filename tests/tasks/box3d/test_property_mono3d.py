"""Property-based: a nuScenes mono-3D json with hostile values gives valid items or a ValueError naming the file."""
from __future__ import annotations

import tempfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from centerx_tasks.box3d.mono3d_dataset import CENTERX_FORMAT, NuScenesMono3DDataset

CAM2IMG = [[500.0, 0.0, 32.0], [0.0, 500.0, 24.0], [0.0, 0.0, 1.0]]
EYE = np.eye(4).tolist()


def mono3d_files(hostile, centerx_format: bool):
    """mono-3D json dicts (two images, up to five annotations) whose fields are sometimes hostile."""
    image = st.fixed_dictionaries(dict(
        id=hostile.sane_or(st.integers(0, 2)), file_name=hostile.sane_or(st.just('samples/CAM_FRONT/a.jpg')),
        height=hostile.sane_or(st.integers(1, 48)), width=hostile.sane_or(st.integers(1, 64)),
        cam2img=hostile.sane_or(st.just(CAM2IMG)), cam2ego=hostile.sane_or(st.just(EYE)),
        ego2global=hostile.sane_or(st.just(EYE)), token=hostile.sane_or(st.sampled_from(['s0', 's1'])),
        cam_name=hostile.sane_or(st.just('CAM_FRONT')), timestamp=hostile.sane_or(st.integers(0, 10 ** 15))))
    sane3d = st.tuples(st.floats(-5, 5), st.floats(-2, 2), st.floats(1, 40), st.floats(0, 5), st.floats(0, 3),
                       st.floats(0, 3), st.floats(-4, 4)).map(list)
    sane2d = st.tuples(st.floats(-10, 60), st.floats(-10, 40), st.floats(0, 40), st.floats(0, 40)).map(list)
    annotation = st.fixed_dictionaries(dict(
        id=hostile.sane_or(st.integers(0, 6)), image_id=hostile.sane_or(st.integers(0, 2)),
        category_id=hostile.sane_or(st.sampled_from([0, 1])),
        bbox=st.one_of(sane2d, hostile.numbers(4)), bbox_cam3d=st.one_of(sane3d, hostile.numbers(7)),
        velo_cam3d=hostile.sane_or(st.none()), attribute_name=hostile.sane_or(st.sampled_from([None, 'vehicle.moving'])),
        visibility=hostile.sane_or(st.sampled_from([1, 4])), iscrowd=hostile.sane_or(st.just(0)),
        num_lidar_pts=hostile.sane_or(st.integers(0, 5)), num_radar_pts=hostile.sane_or(st.integers(0, 5))))
    category = st.fixed_dictionaries(dict(id=hostile.sane_or(st.sampled_from([0, 1])),
                                          name=hostile.sane_or(st.sampled_from(['car', 'pedestrian']))))
    return st.fixed_dictionaries(dict(
        info=st.just(dict(format=CENTERX_FORMAT) if centerx_format else {}),
        images=st.lists(image, max_size=2), annotations=st.lists(annotation, max_size=5),
        categories=st.lists(category, min_size=1, max_size=2)))


@pytest.mark.parametrize('on_invalid', ['raise', 'skip'])
@pytest.mark.parametrize('centerx_format', [True, False])
@given(data=st.data())
def test_hostile_mono3d_json_gives_items_or_a_named_error(hostile, centerx_format, on_invalid, data) -> None:
    coco = data.draw(mono3d_files(hostile, centerx_format))
    with tempfile.TemporaryDirectory() as folder:
        ds = hostile.load_or_named_error(NuScenesMono3DDataset, hostile.write_json(coco, folder),
                                         on_invalid=on_invalid, ignore_without_points=True)
    if ds is None:
        return
    for i in range(len(ds)):
        d = ds.get_data_info(i)
        inst = d['instances']
        assert min(d['height'], d['width']) > 0 and isinstance(d['img_path'], str)
        hostile.check_instances(inst)
        assert ((inst['visibility'] == -1) | ((inst['visibility'] >= 1) & (inst['visibility'] <= 4))).all()

"""Backbones (ResNet, DLA-34, TinyBackbone) and necks (DeconvNeck, DLAUpNeck, SkipUpNeck)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from centerx.models.backbones import DLA, ResNet, TinyBackbone
from centerx.models.necks import DeconvNeck, DLAUpNeck, SkipUpNeck
from centerx.models.necks.dla_up import IDAUp


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _resnet_params_by_arithmetic(depth: int, w: int = 64) -> int:
    """Independent count: conv weights (no bias) + BN weight & bias, fc excluded."""
    bn = lambda c: 2 * c  # noqa: E731
    total = 7 * 7 * 3 * w + bn(w)
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    c_in = w
    for stage, n in enumerate(blocks):
        p = w * 2**stage
        for b in range(n):
            if depth == 50:
                c_out = 4 * p
                total += c_in * p + bn(p) + 9 * p * p + bn(p) + p * c_out + bn(c_out)
            else:
                c_out = p
                total += 9 * c_in * p + bn(p) + 9 * p * p + bn(p)
            if b == 0 and (stage > 0 or c_in != c_out):
                total += c_in * c_out + bn(c_out)  # downsample 1x1 conv + BN
            c_in = c_out
    return total


# ----------------------------------------------------------------------------- shapes


def test_tiny_backbone_shapes() -> None:
    m = TinyBackbone((8, 16, 32, 64))
    feats = m(torch.randn(2, 3, 64, 64))
    assert m.out_channels == (8, 16, 32, 64)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]


@pytest.mark.parametrize('depth,expansion', [(18, 1), (34, 1), (50, 4)])
def test_resnet_shapes(depth: int, expansion: int) -> None:
    m = ResNet(depth, base_channels=8)
    feats = m(torch.randn(2, 3, 64, 64))
    chans = tuple(8 * 2**i * expansion for i in range(4))
    assert m.out_channels == chans
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // s, 64 // s) for c, s in zip(chans, (4, 8, 16, 32))]


def test_resnet_out_indices_select_stages() -> None:
    m = ResNet(18, base_channels=8, out_indices=(3, 1))
    feats = m(torch.randn(1, 3, 64, 64))
    assert m.out_channels == (64, 16)
    assert [tuple(f.shape) for f in feats] == [(1, 64, 2, 2), (1, 16, 8, 8)]


def test_resnet_torchvision_parameter_names() -> None:
    names = set(ResNet(50, base_channels=8).state_dict())
    for key in ('conv1.weight', 'bn1.running_mean', 'layer1.0.conv3.weight', 'layer1.0.downsample.0.weight',
                'layer2.0.downsample.1.bias', 'layer4.2.bn3.weight'):
        assert key in names


def test_resnet_frozen_stages_and_norm_eval() -> None:
    m = ResNet(18, base_channels=8, frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for p in m.conv1.parameters())
    assert not any(p.requires_grad for p in m.layer1.parameters())
    assert all(p.requires_grad for p in m.layer2.parameters())
    assert not m.bn1.training and not m.layer3[0].bn1.training
    assert m.layer3[0].conv1.training


def test_dla_shapes() -> None:
    m = DLA(34)
    feats = m(torch.randn(1, 3, 64, 64))
    assert m.out_channels == (16, 32, 64, 128, 256, 512)
    assert [tuple(f.shape) for f in feats] == [(1, c, 64 >> i, 64 >> i) for i, c in enumerate(m.out_channels)]


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize('depth,expected', [(18, 11_176_512), (34, 21_284_672), (50, 23_508_032)])
def test_resnet_param_count_matches_imagenet_minus_fc(depth: int, expected: int) -> None:
    # torchvision totals 11,689,512 / 21,797,672 / 25,557,032 minus fc (512*1000+1000, 2048*1000+1000)
    assert _resnet_params_by_arithmetic(depth) == expected
    assert _n_params(ResNet(depth)) == expected


def test_dla34_param_count() -> None:
    """DLA-34 without classifier: 15,229,104 parameters.

    By hand: base_layer 2,384 + level0 2,336 + level1 4,672 + level2 140,032
    + level3 1,207,040 + level4 4,822,528 + level5 9,050,112. Adding the ImageNet
    classifier (1x1 conv 512 -> 1000 with bias, 513,000) gives 15,742,104: the
    "15.7M" quoted for DLA-34. (The original code also builds two never-used outer
    projections, level3/level4.project, 41,728 more; we omit them.)
    """
    n = _n_params(DLA(34))
    print(f'DLA-34 backbone parameters: {n:,}')
    assert n == 15_229_104
    assert round((n + 512 * 1000 + 1000) / 1e6, 1) == 15.7


# ----------------------------------------------------------------------------- pretrained loading


def _perturbed(model: nn.Module) -> nn.Module:
    """Give every parameter and BN buffer a non-default value."""
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t))
            else:
                t.fill_(7)
    return model


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_resnet_pretrained_roundtrip(tmp_path) -> None:
    src = _perturbed(ResNet(18, base_channels=8))
    path = tmp_path / 'r18.pth'
    torch.save(src.state_dict(), path)
    _assert_same_state(src, ResNet(18, base_channels=8, pretrained=str(path)))


def test_resnet_pretrained_strips_prefixes_and_fc(tmp_path) -> None:
    src = _perturbed(ResNet(18, base_channels=8))
    state = {f'module.backbone.{k}': v for k, v in src.state_dict().items()}
    state['module.backbone.fc.weight'] = torch.zeros(1000, 64)
    state['module.neck.conv.weight'] = torch.zeros(1)  # non-backbone keys of a detector checkpoint
    path = tmp_path / 'detector.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    _assert_same_state(src, ResNet(18, base_channels=8, pretrained=str(path)))


def test_dla_pretrained_roundtrip_ignores_dead_projections(tmp_path) -> None:
    src = _perturbed(DLA(34))
    state = dict(src.state_dict())
    state['level3.project.0.weight'] = torch.zeros(128, 64, 1, 1)  # present in original checkpoints, unused
    state['fc.weight'] = torch.zeros(1000, 512, 1, 1)
    path = tmp_path / 'dla34.pth'
    torch.save(state, path)
    _assert_same_state(src, DLA(34, pretrained=str(path)))


@pytest.mark.parametrize('build', [lambda p: ResNet(18, base_channels=8, pretrained=p),
                                   lambda p: DLA(34, pretrained=p)])
def test_pretrained_missing_file_raises(tmp_path, build) -> None:
    path = str(tmp_path / 'nope' / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth') as info:
        build(path)
    assert path in str(info.value)


# ----------------------------------------------------------------------------- necks


def test_deconv_neck_shape_from_resnet() -> None:
    backbone = ResNet(18, base_channels=8)
    neck = DeconvNeck(backbone.out_channels[-1], out_channels=(32, 16, 8))
    out = neck(backbone(torch.randn(2, 3, 64, 64)))
    assert neck.out_channels == 8
    assert tuple(out.shape) == (2, 8, 16, 16)


def test_deconv_neck_int_channels_and_tiny_backbone() -> None:
    backbone = TinyBackbone()
    neck = DeconvNeck(backbone.out_channels[-1], out_channels=12)
    assert neck.out_channels == 12
    assert DeconvNeck(backbone.out_channels, out_channels=12).layers[0].in_channels == 64  # sequence: last entry
    assert tuple(neck(backbone(torch.randn(1, 3, 96, 64))).shape) == (1, 12, 24, 16)


def test_dla_up_neck_shape_from_dla() -> None:
    backbone = DLA(34)
    neck = DLAUpNeck(backbone.out_channels, first_level=2, out_channels=64)
    out = neck(backbone(torch.randn(2, 3, 64, 64)))
    assert neck.out_channels == 64
    assert tuple(out.shape) == (2, 64, 16, 16)


def test_dla_up_neck_other_out_channels() -> None:
    feats = [torch.randn(1, c, 64 >> i, 64 >> i) for i, c in enumerate((4, 4, 8, 16, 32, 64))]
    neck = DLAUpNeck((4, 4, 8, 16, 32, 64), out_channels=24)
    assert tuple(neck(feats).shape) == (1, 24, 16, 16)


def test_deconv_bilinear_init_keeps_constant_interior() -> None:
    neck = DeconvNeck(8, out_channels=(6, 6, 6))
    ups = [m for m in neck.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == 3
    for up in ups:
        y = up(torch.full((1, 6, 8, 8), 3.0))
        assert y.shape[-2:] == (16, 16)
        assert torch.allclose(y[..., 1:-1, 1:-1], torch.full_like(y[..., 1:-1, 1:-1], 3.0))
        # and it is bilinear upsampling (align_corners=False) away from the zero-padded border
        x = torch.randn(1, 6, 8, 8)
        ref = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
        assert torch.allclose(up(x)[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-5)


@pytest.mark.parametrize('hw', [(64, 64), (72, 40)])
def test_skip_up_neck_shape_any_input(hw) -> None:
    backbone = ResNet(18, base_channels=8)
    neck = SkipUpNeck(backbone.out_channels, out_channels=(24, 16, 12))
    out = neck(backbone(torch.randn(2, 3, *hw)))
    assert neck.out_channels == 12 and neck.first_level == 0
    assert tuple(out.shape) == (2, 12, -(-hw[0] // 4), -(-hw[1] // 4))  # the stride-4 level's size
    two = SkipUpNeck(backbone.out_channels, out_channels=10, final_conv=False)
    assert tuple(two(backbone(torch.randn(1, 3, 64, 64))).shape) == (1, 10, 16, 16)
    assert SkipUpNeck((8, 16, 32), out_channels=(8, 8)).first_level == 0
    with pytest.raises(ValueError, match='3 stages need 4 backbone levels'):
        SkipUpNeck((8, 16, 32))


def test_skip_up_neck_uses_the_fine_levels() -> None:
    """A change in the stride-4 backbone map reaches the output through the skip (the deconv
    neck, which reads only stride 32, cannot see it)."""
    torch.manual_seed(0)
    neck = SkipUpNeck((4, 8, 16, 32), out_channels=(8, 8, 8), final_conv=False).eval()
    feats = [torch.randn(1, c, 32 >> i, 32 >> i) for i, c in enumerate((4, 8, 16, 32))]
    base = neck(feats)
    feats[0] = feats[0].clone()
    feats[0][..., 5, 7] += 10.0
    diff = (neck(feats) - base).abs().sum(1)[0]
    assert diff[5, 7] > 0 and diff.count_nonzero() == 1  # 1x1 lateral, no final conv: that cell only
    up = neck.stages[0].up
    x = torch.randn(1, 8, 6, 6)
    ref = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    assert torch.allclose(up(x)[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-5)


@pytest.mark.parametrize('factor', [2, 4])
def test_ida_up_bilinear_upsamplers(factor: int) -> None:
    up = IDAUp(4, (4, 4), (1, factor)).up[1]
    x = torch.randn(1, 4, 6, 6)
    y = up(x)
    ref = F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=False)
    b = factor // 2 + factor // 4  # border touched by the zero padding
    assert y.shape == ref.shape
    assert torch.allclose(y[..., b:-b, b:-b], ref[..., b:-b, b:-b], atol=1e-5)


# ----------------------------------------------------------------------------- registry / DDP hygiene


def test_registered_in_models_registry() -> None:
    from centerx.registry import MODELS
    neck = MODELS.build(dict(type='DeconvNeck', in_channels=8, out_channels=4))
    backbone = MODELS.build(dict(type='TinyBackbone'))
    assert isinstance(neck, DeconvNeck) and isinstance(backbone, TinyBackbone)
    for name in ('ResNet', 'DLA', 'DLAUpNeck', 'SkipUpNeck'):
        assert MODELS.get(name) is not None


def test_dla_with_neck_has_no_unused_parameters() -> None:
    """Every parameter gets a gradient (DDP without find_unused_parameters needs this)."""
    backbone = DLA(34)
    neck = DLAUpNeck(backbone.out_channels)
    neck(backbone(torch.randn(1, 3, 64, 64))).mean().backward()
    unused = [n for n, p in [*backbone.named_parameters(), *neck.named_parameters()] if p.grad is None]
    assert unused == []
    backbone = ResNet(18, base_channels=8)
    neck = SkipUpNeck(backbone.out_channels, out_channels=8)
    neck(backbone(torch.randn(1, 3, 64, 64))).mean().backward()
    assert [n for n, p in [*backbone.named_parameters(), *neck.named_parameters()] if p.grad is None] == []

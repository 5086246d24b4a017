"""benchmarks/bench_iteration.py run for real at a toy size: both SoftTeachers train on the same batches,
the R-CNN call counts differ as designed, and --cfg-options reaches both model configs."""
from tests.scripts import load_script

bench_iteration = load_script('benchmarks/bench_iteration.py')


def test_cfg_options_reach_both_model_configs():
    args = bench_iteration.parse_args(
        ['--cfg-options', 'detector.train_cfg.rcnn.sampler.num=32', 'detector.test_cfg.rpn.max_per_img=40'])
    for implementation in bench_iteration.IMPLEMENTATIONS:
        cfg = bench_iteration.model_config(implementation, args)
        assert cfg['type'] == f'{implementation}.SoftTeacher'
        assert cfg['detector']['train_cfg']['rcnn']['sampler']['num'] == 32
        assert cfg['detector']['test_cfg']['rpn']['max_per_img'] == 40
        assert cfg['semi_train_cfg']['cls_pseudo_thr'] == 0.05  # --pseudo-thr default in both


def test_toy_run_measures_both_implementations(capsys):
    result = bench_iteration.main(
        ['--iters', '1', '--warmup', '0', '--mem-iters', '0', '--batch', '3', '--labeled', '1',
         '--image-size', '64', '--device', 'cpu',
         '--cfg-options', 'detector.train_cfg.rcnn.sampler.num=16'])
    out = capsys.readouterr().out
    assert 'ratio ssod / mmdet: time' in out
    assert 'model overrides: detector.train_cfg.rcnn.sampler.num=16' in out
    assert all(len(result['times'][name]) == 1 and result['times'][name][0] > 0
               for name in ('ssod', 'mmdet'))
    # One student R-CNN pass for the labeled images + one (ssod) or two (mmdet) for the unlabeled ones.
    assert result['student_calls'] == {'ssod': [2], 'mmdet': [3]}
    assert result['teacher_calls']['ssod'][0] <= 2 and result['teacher_calls']['mmdet'] == [3]
    assert result['saved_bytes']['ssod'][0] > 0 and result['saved_bytes']['mmdet'][0] > 0
    # the same detector's supervised iteration on as many labeled images, and the ratios to it
    assert len(result['supervised_times']) == 1 and result['supervised_times'][0] > 0
    assert 'Soft Teacher iteration / supervised iteration of the same detector (3 labeled images' in out


def test_lite0_detector_runs_in_both_implementations(capsys):
    """--detector lite0: the EfficientNet-Lite0 Faster R-CNN (ImageNet weights) in both SoftTeachers;
    ssod's ignore regions are off so that both do the paper's work."""
    args = bench_iteration.parse_args(['--detector', 'lite0'])
    for implementation in bench_iteration.IMPLEMENTATIONS:
        cfg = bench_iteration.model_config(implementation, args)
        assert cfg['detector']['backbone']['type'] == 'EfficientNetLite'
        assert 'ignore_score_thr' not in cfg['semi_train_cfg']
    result = bench_iteration.main(
        ['--detector', 'lite0', '--iters', '1', '--warmup', '0', '--mem-iters', '0', '--batch', '2',
         '--labeled', '1', '--image-size', '64', '--device', 'cpu'])
    assert result['student_calls'] == {'ssod': [2], 'mmdet': [3]}
    assert 'Soft Teacher iteration / supervised iteration' in capsys.readouterr().out

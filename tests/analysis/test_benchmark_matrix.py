"""Tests of ssod/analysis/benchmark_matrix.py and tools/analysis/benchmark_matrix.py on fake
work dirs with mmengine-style scalar logs.

Layout of the fake runs (``<root>/st_{percent}pct/fold{fold}/<timestamp>/vis_data/scalars.json``), with
teacher + student validation lines as ssod's SemiValLoop writes them:

* 1 %: folds 1-5, teacher mAP 0.199 / 0.201 / 0.195 / 0.203 / 0.197 (last evaluation); fold 1 had
  0.250 at an earlier evaluation (for ``--select best``), fold 2 was resumed (two timestamp folders);
* 2 %: fold 1 only (0.249);
* 5 %: nothing;
* 10 %: folds 1, 2, 4 (0.338 / 0.342 / 0.334); fold 3 has no folder, fold 5 a log without evaluation.
"""
import json
import math
import os
import statistics
from pathlib import Path

import pytest

from ssod.analysis import benchmark_matrix as bm
from tests.scripts import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
tool = load_script('tools/analysis/benchmark_matrix.py')

CONFIG_10PCT = 'configs/soft_teacher/soft_teacher_faster_rcnn_r50_caffe_fpn_coco_10pct_180k.py'


def write_log(run_dir, timestamp, evaluations, train_steps=(50,), name='scalars.json'):
    """A scalars.json with training lines and one teacher + student validation line per evaluation.

    ``evaluations``: (step, teacher mAP) pairs; the student is 0.010 lower, mAP_50 is 0.400."""
    vis = Path(run_dir) / timestamp / 'vis_data'
    vis.mkdir(parents=True)
    lines = [dict(lr=0.01, loss=1.5, sup_loss_cls=0.5, iter=step, step=step) for step in train_steps]
    for step, teacher in evaluations:
        lines.append({'teacher/coco/bbox_mAP': teacher, 'teacher/coco/bbox_mAP_50': 0.4,
                      'student/coco/bbox_mAP': round(teacher - 0.01, 3),
                      'student/coco/bbox_mAP_50': 0.4, 'data_time': 0.01, 'time': 0.2, 'step': step})
    (vis / name).write_text(''.join(json.dumps(line) + '\n' for line in lines))


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / 'work_dirs'
    one = root / 'st_1pct'
    write_log(one / 'fold1', '20260101_000000', [(1000, 0.250), (2000, 0.199)])
    write_log(one / 'fold2', '20260101_000000', [(1000, 0.100)])
    write_log(one / 'fold2', '20260102_000000', [(2000, 0.201)], train_steps=(1050,))  # resumed
    for fold, value in ((3, 0.195), (4, 0.203), (5, 0.197)):
        write_log(one / f'fold{fold}', '20260101_000000', [(2000, value)])
    write_log(root / 'st_2pct' / 'fold1', '20260101_000000', [(2000, 0.249)])
    for fold, value in ((1, 0.338), (2, 0.342), (4, 0.334)):
        write_log(root / 'st_10pct' / f'fold{fold}', '20260101_000000', [(2000, value)])
    write_log(root / 'st_10pct' / 'fold5', '20260101_000000', [])  # still training, no evaluation yet
    return root


def run_tool(capsys, *argv):
    code = tool.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def row_of(out, percent_label):
    for line in out.splitlines():
        if line.startswith(f'{percent_label} ') or line.startswith(f'| {percent_label} '):
            separator = '|' if line.startswith('|') else '  '
            return [cell.strip() for cell in line.strip('|').split(separator) if cell.strip()]
    raise AssertionError(f'no row {percent_label!r} in\n{out}')


def test_plain_table_has_exact_means_stds_and_counts(runs, capsys):
    code, out, err = run_tool(capsys, '--work-dirs', runs / 'st_{percent}pct' / 'fold{fold}')
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header == ['percent', 'fold', '1', 'fold', '2', 'fold', '3', 'fold', '4', 'fold', '5',
                      'mean', '±', 'std', 'n']
    # 1 %: 19.9 20.1 19.5 20.3 19.7 -> mean 19.90, sample std sqrt(0.4 / 4) = 0.316
    assert row_of(out, '1 %') == ['1 %', '19.90', '20.10', '19.50', '20.30', '19.70', '19.90 ± 0.32',
                                  '5']
    assert row_of(out, '2 %') == ['2 %', '24.90', '-', '-', '-', '-', '24.90 ± -', '1']
    assert row_of(out, '5 %') == ['5 %', '-', '-', '-', '-', '-', '-', '0']
    # 10 %: 33.8 34.2 33.4 -> mean 33.80, sample std sqrt(0.32 / 2) = 0.40
    assert row_of(out, '10 %') == ['10 %', '33.80', '34.20', '-', '33.40', '-', '33.80 ± 0.40', '3']
    assert 'last value of teacher/coco/bbox_mAP' in out
    assert 'every value is from iteration 2000' in out
    assert '11 missing run(s), shown as - and excluded from the mean:' in out
    assert f'  10 % fold 3: no work dir ({runs}/st_10pct/fold3)' in out
    assert f'  10 % fold 5: no bbox_mAP logged yet ({runs}/st_10pct/fold5)' in out


def test_the_std_is_the_sample_std(runs):
    percents, folds, cells = bm.collect([str(runs / 'st_{percent}pct' / 'fold{fold}')], None, None,
                                        'bbox_mAP', 'teacher/', 'last')
    values = [cells[(1.0, fold)].value * 100 for fold in folds]
    mean, std = bm.mean_std(values)
    assert math.isclose(mean, 19.9, abs_tol=1e-9)
    assert math.isclose(std, statistics.stdev(values), rel_tol=1e-12)
    assert math.isclose(std, math.sqrt(0.1), rel_tol=1e-9)
    assert bm.mean_std([]) == (None, None) and bm.mean_std([3.0]) == (3.0, None)


def test_best_selects_the_highest_evaluation(runs, capsys):
    code, out, _ = run_tool(capsys, '--work-dirs', runs / 'st_{percent}pct' / 'fold{fold}',
                            '--select', 'best', '--percents', '1')
    assert code == 0
    # fold 1: best 25.0 (iteration 1000) instead of the last 19.9; mean 20.92, std 2.30
    values = [25.0, 20.1, 19.5, 20.3, 19.7]
    summary = f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'
    assert summary == '20.92 ± 2.30'
    assert row_of(out, '1 %') == ['1 %', '25.00', '20.10', '19.50', '20.30', '19.70', summary, '5']
    assert 'best value of teacher/coco/bbox_mAP' in out
    assert '2 %' not in out  # explicit --percents are exactly the rows


def test_resumed_run_reads_every_timestamp_folder_in_order(runs):
    cell = bm.metric_of_run(str(runs / 'st_1pct' / 'fold2'), 'bbox_mAP', 'teacher/', 'last')
    assert (cell.value, cell.step, cell.key) == (0.201, 2000, 'teacher/coco/bbox_mAP')
    best = bm.metric_of_run(str(runs / 'st_1pct' / 'fold2'), 'bbox_mAP', 'teacher/', 'best')
    assert best.value == 0.201


def test_prefix_choice_and_full_keys(runs, capsys):
    pattern = runs / 'st_{percent}pct' / 'fold{fold}'
    _, student, _ = run_tool(capsys, '--work-dirs', pattern, '--prefer', 'student/', '--percents', '10')
    assert row_of(student, '10 %')[1:4] == ['32.80', '33.20', '-']
    _, full, _ = run_tool(capsys, '--work-dirs', pattern, '--metric', 'student/coco/bbox_mAP',
                          '--percents', '10')
    assert row_of(full, '10 %') == row_of(student, '10 %')
    _, map50, _ = run_tool(capsys, '--work-dirs', pattern, '--metric', 'bbox_mAP_50', '--percents', '10',
                           '--digits', '1')
    assert row_of(map50, '10 %') == ['10 %', '40.0', '40.0', '-', '40.0', '-', '40.0 ± 0.0', '3']


def test_ambiguous_metric_is_an_error(runs, capsys):
    pattern = runs / 'st_{percent}pct' / 'fold{fold}'
    code, _, err = run_tool(capsys, '--work-dirs', pattern, '--prefer', '')
    assert code == 2
    assert "matches ['student/coco/bbox_mAP', 'teacher/coco/bbox_mAP']" in err
    assert 'pass one of them as --metric' in err


def test_plain_coco_keys_and_the_json_log_fallback(tmp_path, capsys):
    vis = tmp_path / 'run_5pct_fold2' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    # Only LoggerHook's <timestamp>.json, with single-model keys.
    lines = [{'coco/bbox_mAP': 0.305, 'coco/bbox_mAP_50': 0.5, 'coco/bbox_mAP_s': 0.1, 'step': 500}]
    (vis / '20260101_000000.json').write_text(''.join(json.dumps(x) + '\n' for x in lines))
    code, out, _ = run_tool(capsys, '--work-dirs', tmp_path / 'run_5pct_fold2', '--percents', '5',
                            '--folds', '2')
    assert code == 0
    assert row_of(out, '5 %') == ['5 %', '30.50', '30.50 ± -', '1']
    assert 'last value of coco/bbox_mAP;' in out


def test_markdown_table(runs, capsys):
    code, out, _ = run_tool(capsys, '--work-dirs', runs / 'st_{percent}pct' / 'fold{fold}', '--format',
                            'markdown', '--percents', '1', '10')
    assert code == 0
    lines = out.split('\n\n')[0].splitlines()
    assert len(lines) == 4
    assert [c.strip() for c in lines[0].strip('|').split('|')] == [
        'percent', 'fold 1', 'fold 2', 'fold 3', 'fold 4', 'fold 5', 'mean ± std', 'n']
    assert set(lines[1]) <= set('|-:') and lines[1].count('|') == 9
    assert [c.strip() for c in lines[3].strip('|').split('|')] == [
        '10 %', '33.80', '34.20', '-', '33.40', '-', '33.80 ± 0.40', '3']
    assert len({len(line) for line in lines}) == 1  # aligned


def test_listed_run_dirs_take_percent_and_fold_from_the_saved_config_or_path(runs, tmp_path, capsys):
    # A run whose path says nothing; its saved config (with --cfg-options merged) says 5 % fold 2.
    other = tmp_path / 'elsewhere' / 'run_a'
    write_log(other, '20260101_000000', [(2000, 0.304)])
    (other / '20260101_000000' / 'vis_data' / 'config.py').write_text(
        "default_scope = 'ssod'\nfold = 2\npercent = 5\nmodel = dict(type='SoftTeacher')\n")
    code, out, err = run_tool(capsys, '--work-dirs', f'{runs}/st_*pct/fold*', other)
    assert code == 0, err
    assert row_of(out, '5 %') == ['5 %', '-', '30.40', '-', '-', '-', '30.40 ± -', '1']
    assert row_of(out, '1 %')[-2:] == ['19.90 ± 0.32', '5']
    assert row_of(out, '10 %')[-2:] == ['33.80 ± 0.40', '3']
    # the folder of 10 % fold 5 exists but has no evaluation
    assert '10 % fold 5: no bbox_mAP logged yet' in out


def test_two_runs_for_one_cell_is_an_error(runs, tmp_path, capsys):
    copy = tmp_path / 'copy_1pct_fold3'
    write_log(copy, '20260101_000000', [(2000, 0.2)])
    code, _, err = run_tool(capsys, '--work-dirs', runs / 'st_1pct' / 'fold3', copy)
    assert code == 2 and '1 % fold 3 has two runs' in err


def test_run_without_percent_or_fold_is_an_error(tmp_path, capsys):
    write_log(tmp_path / 'mystery', '20260101_000000', [(2000, 0.2)])
    code, _, err = run_tool(capsys, '--work-dirs', tmp_path / 'mystery')
    assert code == 2 and 'cannot tell the percent and fold of run' in err
    code, _, err = run_tool(capsys, '--work-dirs', tmp_path / 'absent')
    assert code == 2 and 'does not exist' in err


def test_unreadable_log_line_names_the_file_and_line(tmp_path, capsys):
    run = tmp_path / 'st_1pct' / 'fold1'
    write_log(run, '20260101_000000', [(2000, 0.2)])
    log = run / '20260101_000000' / 'vis_data' / 'scalars.json'
    log.write_text(log.read_text() + '{"broken": \n')
    code, _, err = run_tool(capsys, '--work-dirs', tmp_path / 'st_{percent}pct' / 'fold{fold}')
    assert code == 2 and f'{log}:3 is not a JSON object' in err


def test_bad_arguments(runs, capsys):
    pattern = runs / 'st_{percent}pct' / 'fold{fold}'
    code, _, err = run_tool(capsys, '--work-dirs', pattern, '--percents', '0')
    assert code == 2 and '--percents must lie in (0, 100)' in err
    code, _, err = run_tool(capsys, '--work-dirs', pattern, '--fold-regex', 'fold')
    assert code == 2 and 'needs a group' in err


def test_print_commands_for_missing_runs(runs, capsys):
    pattern = runs / 'st_{percent}pct' / 'fold{fold}'
    code, out, _ = run_tool(capsys, '--work-dirs', pattern, '--print-commands', '--percents', '2', '10')
    assert code == 0
    commands = out.split('commands for the missing runs:\n')[1].strip().splitlines()
    assert len(commands) == 6  # 2 %: folds 2-5, 10 %: folds 3 and 5
    config = 'configs/soft_teacher/soft_teacher_faster_rcnn_r50_caffe_fpn_coco_{}pct_180k.py'
    assert commands[0] == (f'python tools/train.py {config.format(2)} --work-dir {runs}/st_2pct/fold2 '
                           '--cfg-options fold=2')
    assert commands[-1] == (f'python tools/train.py {config.format(10)} '
                            f'--work-dir {runs}/st_10pct/fold5 --cfg-options fold=5')

    code, out, _ = run_tool(capsys, '--work-dirs', pattern, '--print-commands', '--percents', '10',
                            '--config-pattern', 'configs/st_{percent}percent.py',
                            '--train-command', 'bash tools/dist_train.sh {config} 8')
    commands = out.split('commands for the missing runs:\n')[1].strip().splitlines()
    assert commands == [
        f'bash tools/dist_train.sh configs/st_10percent.py 8 --work-dir {runs}/st_10pct/fold3 '
        '--cfg-options fold=3',
        f'bash tools/dist_train.sh configs/st_10percent.py 8 --work-dir {runs}/st_10pct/fold5 '
        '--cfg-options fold=5']

    code, out, _ = run_tool(capsys, '--work-dirs', pattern, '--print-commands', '--percents', '1')
    assert 'no missing runs' in out


def test_fractional_percents_fill_patterns_like_the_split_files(tmp_path, capsys):
    write_log(tmp_path / 'st_0.5pct' / 'fold1', '20260101_000000', [(100, 0.05)])
    code, out, _ = run_tool(capsys, '--work-dirs', tmp_path / 'st_{percent}pct' / 'fold{fold}',
                            '--percents', '0.5', '--folds', '1')
    assert code == 0 and row_of(out, '0.5 %') == ['0.5 %', '5.00', '5.00 ± -', '1']
    assert bm.format_percent(10.0) == '10' and bm.format_percent(0.5) == '0.5'


def test_default_work_dirs_are_those_of_the_coco_configs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / 'work_dirs' / 'soft_teacher_faster_rcnn_r50_caffe_fpn_coco_10pct_180k' / 'fold3'
    write_log(run, '20260101_000000', [(180000, 0.341)])
    code, out, _ = run_tool(capsys)
    assert code == 0
    assert row_of(out, '10 %') == ['10 %', '-', '-', '34.10', '-', '-', '34.10 ± -', '1']
    assert 'every value is from iteration 180000' in out
    assert bm.fill(bm.DEFAULT_CONFIG_PATTERN, 10, 1) == CONFIG_10PCT
    assert os.path.isfile(os.path.join(REPO_ROOT, CONFIG_10PCT))

"""Never lose a trained map: checkpoints, resume after SIGKILL, Ctrl-C.

The reference is always the uninterrupted run with the same seed: a run
killed with SIGKILL at a random moment and resumed from its checkpoint must
end with the very same codebook (bit for bit) for batch, minibatch and
online, because the checkpoint holds the codebook, the schedule position and
the random stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from somkit import SOM, load
from somkit.cli import cli

ALGORITHMS = ["batch", "minibatch", "online"]


def data(n=3000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + rng.integers(0, 4, size=(n, 1))


def params(algorithm, **kw):
    return {
        "grid": (6, 6),
        "algorithm": algorithm,
        "n_epochs": 8,
        "random_state": 3,
        "batch_size": 64 if algorithm == "minibatch" else None,
        **kw,
    }


def _same(a, b):
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.n_iter_ == b.n_iter_
    for key in ("epoch", "radius", "learning_rate", "quantization_error"):
        assert a.history_[key] == b.history_[key], key
    assert a.outlier_threshold_ == b.outlier_threshold_


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checkpoint_then_resume_equals_uninterrupted(tmp_path, algorithm):
    X = data()
    ref = SOM(**params(algorithm)).fit(X)
    path = tmp_path / "run.npz"

    def stop_at_5(som, epoch, logs):
        return epoch < 5

    som = SOM(**params(algorithm, callbacks=[stop_at_5]))
    som.fit(X, checkpoint=path, checkpoint_every=2)
    assert som.n_iter_ == 5
    back = SOM.resume(path, X)  # the checkpoint of epoch 5 (on stop)
    _same(back, ref)


def test_checkpoint_files_are_not_models_and_need_the_same_data(tmp_path):
    X = data(500)
    path = tmp_path / "run.npz"
    SOM(**params("batch")).fit(X, checkpoint=path, checkpoint_every=3)
    with pytest.raises(ValueError, match="checkpoint"):
        load(path)
    with pytest.raises(ValueError, match="not the data"):
        SOM.resume(path, X[::-1])
    with pytest.raises(ValueError, match="not the data"):
        SOM.resume(path, X[:, :5])
    with pytest.raises(ValueError, match="checkpoint_every"):
        SOM().fit(X, checkpoint=path, checkpoint_every=0)


_KILLED = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from test_checkpoint import data, params
    from somkit import SOM
    slow = [lambda som, epoch, logs: time.sleep(0.01)]  # results unchanged
    SOM(**params(sys.argv[1], n_epochs=100, callbacks=slow)).fit(
        data(), checkpoint=sys.argv[2], checkpoint_every=3
    )
    """
)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sigkill_at_a_random_moment_then_resume(tmp_path, algorithm):
    from somkit._checkpoint import read_checkpoint

    X = data()
    ref = SOM(**params(algorithm, n_epochs=100)).fit(X)
    path = tmp_path / "run.npz"
    rng = np.random.default_rng(ALGORITHMS.index(algorithm))
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, algorithm, str(path), os.path.dirname(__file__)]
    )
    try:
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, 0.5)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]  # no orphan temp files
    assert 3 <= read_checkpoint(path)["epoch"] < 100  # killed mid-run
    back = SOM.resume(path, X)
    _same(back, ref)


def test_resume_keeps_writing_checkpoints(tmp_path):
    from somkit._checkpoint import read_checkpoint

    X = data(800)
    ref = SOM(**params("minibatch")).fit(X)
    path = tmp_path / "run.npz"
    som = SOM(**params("minibatch", callbacks=[lambda s, e, logs: e < 2]))
    som.fit(X, checkpoint=path)
    assert read_checkpoint(path)["epoch"] == 2
    back = SOM.resume(path, X)
    assert read_checkpoint(path)["epoch"] == 8
    _same(back, ref)
    _same(SOM.resume(path, X), ref)  # a finished run resumes to the same map


# ------------------------------------------------------------ Ctrl-C
def _interrupt_at(epoch, times=1):
    def cb(som, e, logs):
        if e == epoch:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)

    return cb


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_ctrl_c_finishes_the_epoch_and_returns_the_map(algorithm):
    X = data(600)
    som = SOM(**params(algorithm, callbacks=[_interrupt_at(3)]))
    with pytest.warns(UserWarning, match="interrupted after 3 of 8 epochs"):
        som.fit(X)
    assert som.n_iter_ == 3 and len(som.history_["epoch"]) == 3
    ref = SOM(**params(algorithm, n_epochs=8))
    # the map is the state after 3 epochs of the 8-epoch plan
    ref.set_params(callbacks=[lambda s, e, logs: e < 3]).fit(X)
    _same(som, ref)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_raises_at_once_and_keeps_the_old_map():
    X = data(600)
    som = SOM(**params("batch")).fit(X)
    W = som.codebook_.copy()
    som.set_params(grid=(3, 3), callbacks=[_interrupt_at(2, times=2)])
    with pytest.raises(KeyboardInterrupt):
        som.fit(X)
    np.testing.assert_array_equal(som.codebook_, W)
    assert som.grid_.n_units == 36
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_writes_a_checkpoint_to_resume_from(tmp_path):
    X = data(600)
    ref = SOM(**params("online")).fit(X)
    path = tmp_path / "run.npz"
    som = SOM(**params("online", callbacks=[_interrupt_at(4)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        som.fit(X, checkpoint=path, checkpoint_every=100)
    _same(SOM.resume(path, X), ref)


# ------------------------------------------------------------- the CLI
def _csv(path, X):
    np.savetxt(path, X, delimiter=",", header="a,b,c,d,e,f", comments="")
    return path


def test_cli_checkpoint_and_resume(tmp_path):
    X = data(1500)
    csv = _csv(tmp_path / "d.csv", X)
    common = ["--grid", "5x5", "--epochs", "6", "--algorithm", "minibatch", "-q"]
    ref = tmp_path / "ref.npz"
    assert (
        CliRunner().invoke(cli, ["fit", str(csv), "-o", str(ref), *common]).exit_code
        == 0
    )
    ck = tmp_path / "run.npz"
    out = tmp_path / "m.npz"
    result = CliRunner().invoke(
        cli,
        ["fit", str(csv), "-o", str(out), *common, "--checkpoint", str(ck)]
        + ["--checkpoint-every", "2"],
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(
        load(out).steps[-1][1].codebook_, load(ref).steps[-1][1].codebook_
    )
    resumed = tmp_path / "r.npz"
    result = CliRunner().invoke(cli, ["resume", str(ck), str(csv), "-o", str(resumed)])
    assert result.exit_code == 0, result.output
    a, b = load(resumed), load(ref)
    np.testing.assert_array_equal(a.steps[-1][1].codebook_, b.steps[-1][1].codebook_)
    np.testing.assert_array_equal(a.steps[-1][1].labels_, b.steps[-1][1].labels_)


def test_python_resume_of_a_cli_checkpoint_on_float32_rows(tmp_path):
    # the command line scales an .npy of float32 as float64; SOM.resume on the
    # file's own float32 rows refused them as "not the data of this run"
    X = data(1500).astype(np.float32)
    npy = tmp_path / "d.npy"
    np.save(npy, X)
    common = ["--grid", "5x5", "--epochs", "6", "-q"]
    ck, ref = tmp_path / "run.npz", tmp_path / "ref.npz"
    args = ["fit", str(npy), "-o", str(ref), *common, "--checkpoint", str(ck)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    resumed = SOM.resume(ck, np.load(npy))
    np.testing.assert_array_equal(
        resumed.steps[-1][1].codebook_, load(ref).steps[-1][1].codebook_
    )


_CLI_CTRL_C = textwrap.dedent(
    """
    import sys
    from somkit.cli import main
    main(sys.argv[1:])
    """
)


def test_cli_ctrl_c_saves_the_map_and_exits_130(tmp_path):
    X = data(20000, 8)
    csv = _csv(tmp_path / "d.csv", X)
    np.savetxt(csv, X, delimiter=",", header=",".join("abcdefgh"), comments="")
    out = tmp_path / "m.npz"
    ck = tmp_path / "run.npz"
    with subprocess.Popen(
        [sys.executable, "-c", _CLI_CTRL_C, "fit", str(csv), "-o", str(out)]
        + ["--grid", "12x12", "--epochs", "400", "--checkpoint", str(ck)],
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("epoch 2/"):
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        assert proc.wait(timeout=120) == 130, "".join(lines) + rest
    assert "saved" in rest and str(out) in rest
    model = load(out)
    som = model.steps[-1][1]
    assert 2 <= som.n_iter_ < 400
    pd = pytest.importorskip("pandas")
    scaled = model.steps[0][1].transform(pd.DataFrame(X[:50], columns=list("abcdefgh")))
    np.testing.assert_array_equal(som.predict(scaled), som.labels_[:50])
    # and the run continues from the checkpoint written on the interrupt
    from somkit._checkpoint import read_checkpoint

    assert read_checkpoint(ck)["epoch"] == som.n_iter_


def test_cli_resume_keeps_the_data_options_and_one_hot_step(tmp_path):
    """A checkpoint remembers how DATA was read (separator, text columns)."""
    rng = np.random.default_rng(0)
    X = data(600, 3)
    kinds = rng.choice(["red", "green", "blue"], len(X))
    path = tmp_path / "d.csv"
    with open(path, "w") as fh:
        fh.write("a;b;c;kind\n")
        for row, kind in zip(X, kinds, strict=True):
            fh.write(";".join(f"{v:.6f}".replace(".", ",") for v in row))
            fh.write(f";{kind}\n")
    common = ["--grid", "4x4", "--epochs", "5", "--sep", ";", "--decimal", ","]
    common += ["--categorical", "onehot", "-q"]
    ref = tmp_path / "ref.npz"
    result = CliRunner().invoke(cli, ["fit", str(path), "-o", str(ref), *common])
    assert result.exit_code == 0, result.output
    ck = tmp_path / "run.npz"
    result = CliRunner().invoke(
        cli,
        ["fit", str(path), "-o", str(tmp_path / "m.npz"), *common]
        + ["--checkpoint", str(ck)],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "r.npz"
    result = CliRunner().invoke(cli, ["resume", str(ck), str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    a, b = load(out), load(ref)
    assert [n for n, _ in a.steps] == [n for n, _ in b.steps]
    np.testing.assert_array_equal(a.steps[-1][1].codebook_, b.steps[-1][1].codebook_)


def test_layered_and_masked_runs_resume_exactly(tmp_path):
    from somkit import Layer

    X = data(800, 6)
    X[::9, 2] = np.nan
    for extra in (
        {"layers": [Layer("a", 3), Layer("b", 3, metric="manhattan", weight=0.5)]},
        {"missing": "ignore", "algorithm": "online"},
    ):
        kw = {**params("batch"), **extra}
        ref = SOM(**kw).fit(X if "missing" in extra else np.nan_to_num(X))
        path = tmp_path / "run.npz"
        Xi = X if "missing" in extra else np.nan_to_num(X)
        SOM(**kw, callbacks=[lambda s, e, logs: e < 3]).fit(Xi, checkpoint=path)
        _same(SOM.resume(path, Xi), ref)

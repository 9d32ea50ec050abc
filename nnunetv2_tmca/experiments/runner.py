"""Run nnU-Net's command lines for experiments: logged subprocesses, one console line per epoch, and
jobs side by side on pinned CPU cores.

Every step runs nnU-Net's stock command lines or ours in subprocesses whose nnU-Net paths point
into one working folder. Reports are never printed: logs name case ids and counts only.
"""
from __future__ import annotations

import os
import re
import subprocess
import time


def step(msg: str):
    print(f"\n[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def nnunet_env(out: str) -> dict:
    """Environment with nnU-Net's three folders inside ``out`` and the CPU-friendly process settings."""
    env = dict(os.environ, nnUNet_raw=os.path.join(out, "nnUNet_raw"),
               nnUNet_preprocessed=os.path.join(out, "nnUNet_preprocessed"),
               nnUNet_results=os.path.join(out, "nnUNet_results"), MPLBACKEND="Agg")
    env.setdefault("nnUNet_def_n_proc", "1")
    env.pop("nnUNet_n_proc_DA", None)  # planning crashes with 0 (design brief); training sets it below
    return env


def run_logged(cmd, env, log_file, on_line=None):
    """Run ``cmd`` with its output appended to ``log_file``; ``on_line(line)`` sees each output line."""
    with open(log_file, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        if on_line is None:
            returncode = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        else:
            with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  bufsize=1) as p:
                for line in p.stdout:
                    log.write(line)
                    on_line(line)
            returncode = p.returncode
    if returncode != 0:
        raise SystemExit(f"'{' '.join(cmd)}' failed; see {log_file}")


class EpochProgress:
    """Turns nnU-Net's training output into one console line per epoch (no report text is ever in it)."""

    def __init__(self, label: str = ""):
        self.epoch, self.dice, self.prefix = None, None, f"{label}: " if label else ""

    def __call__(self, line: str):
        text = line.split(": ", 1)[-1].strip()
        if text.startswith("Epoch ") and text[6:].isdigit():
            self.epoch = int(text[6:])
        elif text.startswith("Pseudo dice"):  # "Pseudo dice [np.float32(0.6359)]", one value per class
            self.dice = " ".join(f"{float(v):.3f}" for v in re.findall(r"\d+\.\d+", text))
        elif text.startswith("Epoch time:") and self.epoch is not None:
            print(f"      {self.prefix}epoch {self.epoch}: pseudo Dice {self.dice}, "
                  f"{text[len('Epoch time:'):].strip()}", flush=True)
        elif text.startswith("Mean Validation Dice"):
            print(f"      {self.prefix}fold-0 validation Dice {float(text.split(':')[1]):.3f}", flush=True)


def cores_for_side_by_side(device: str) -> list:
    """CPU cores to pin parallel jobs to (at least 2), or [] to run them one after the other.

    Small nnU-Net jobs spend much of their time single-threaded (start-up, trainer lookup, data
    augmentation with nnUNet_n_proc_DA=0, the export pool of the final validation), so two jobs at once,
    each pinned to its own core, finish sooner than one after the other with two threads each.
    nnUNet_tmca_side_by_side=0 turns it off.
    """
    if device != "cpu" or os.environ.get("nnUNet_tmca_side_by_side", "1") == "0" or \
            not hasattr(os, "sched_getaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    return cores if len(cores) >= 2 else []


def run_jobs(jobs, log_file: str, cores=()):
    """Run ``(label, cmd, env, on_line)`` jobs: one after the other, or ``len(cores)`` at a time, each pinned to
    one core (torch still starts nnU-Net's threads; OMP_WAIT_POLICY=PASSIVE keeps them from spinning). Each
    job's output is appended to ``log_file`` as a block once it ends."""
    import tempfile
    import threading

    if len(cores) < 2:
        for label, cmd, env, on_line in jobs:
            t0 = time.time()
            run_logged(cmd, env, log_file, on_line)
            print(f"    {label}: {time.time() - t0:.0f} s", flush=True)
        return
    for start in range(0, len(jobs), len(cores)):
        wave, running = jobs[start:start + len(cores)], []
        t0 = time.time()
        for (label, cmd, env, on_line), core in zip(wave, cores):
            buffer = tempfile.TemporaryFile("w+")
            p = subprocess.Popen(cmd, env=dict(env, OMP_WAIT_POLICY="PASSIVE"), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, bufsize=1,
                                 preexec_fn=lambda c=core: os.sched_setaffinity(0, {c}))
            pump = threading.Thread(target=_pump, args=(p, buffer, on_line), daemon=True)
            pump.start()
            running.append((label, cmd, p, pump, buffer))
        failed = []
        for label, cmd, p, pump, buffer in running:
            p.wait()
            pump.join()
            print(f"    {label}: {time.time() - t0:.0f} s", flush=True)
            buffer.seek(0)
            with open(log_file, "a") as log:
                log.write(f"\n$ {' '.join(cmd)}\n")
                log.write(buffer.read())
            buffer.close()
            if p.returncode != 0:
                failed.append(cmd)
        if failed:
            raise SystemExit(f"'{' '.join(failed[0])}' failed; see {log_file}")


def _pump(process, buffer, on_line):
    for line in process.stdout:
        buffer.write(line)
        if on_line is not None:
            on_line(line)



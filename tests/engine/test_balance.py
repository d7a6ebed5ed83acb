"""Decoders are balanced against the model by measuring both, not by a fixed number."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest

from engine.imaging.walk import find_images
from engine.inference.balance import DecodeBalancer, DecodeGate, decoders_needed
from engine.inference.batch import classify_files
from engine.inference.loader import load_classifier


def spin(seconds: float) -> None:
    """Keep this thread's core busy for ``seconds`` of its own CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def drive(balancer: DecodeBalancer, decode_s: float, model_s: float, batches: int = 8) -> None:
    """Run ``batches`` of 4 images: decode on the balancer's threads, then the model here."""
    decode = balancer.wrap(lambda _: spin(decode_s))
    with ThreadPoolExecutor(balancer.maximum) as pool:
        for _ in range(batches):
            futures = [pool.submit(decode, i) for i in range(4)]
            with balancer.waiting():
                wait(futures)
            with balancer.model(4):
                spin(4 * model_s)


def test_decoders_needed_follows_the_share_of_the_work() -> None:
    # 12 MP JPEGs in draft mode (23 ms) against ONNX Runtime fp32 ResNet-50 (75 ms) on 2 cores
    assert decoders_needed(0.023, 0.075, cores=2) == 1
    # the same photos against INT8 (22 ms): decoding is half the work, one core's worth
    assert decoders_needed(0.023, 0.022, cores=2) == 2
    # a GPU costs the CPU almost nothing per image: every core decodes
    assert decoders_needed(0.023, 0.0005, cores=16) == 16
    # tiny thumbnails against a CPU model: one decoder is plenty
    assert decoders_needed(0.001, 0.075, cores=16) == 1
    assert decoders_needed(0.0, 0.075, cores=4) == 1


def test_gate_lets_through_no_more_than_its_limit_and_follows_a_new_one() -> None:
    gate = DecodeGate(2)
    lock, running, most = threading.Lock(), [0], [0]

    def work(_: int) -> None:
        with gate.slot():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(12)))
    assert most[0] == 2
    gate.set_limit(4)
    most[0] = 0
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(12)))
    assert most[0] == 4


def test_expensive_decoding_and_a_cheap_model_get_every_core_decoding() -> None:
    """Like a GPU fed 12 MP JPEGs: the model costs the CPU little, decoding a lot."""
    balancer = DecodeBalancer(cores=4)
    drive(balancer, decode_s=0.01, model_s=0.0002)
    assert balancer.decode_s == pytest.approx(0.01, rel=0.5)
    assert balancer.model_s is not None and balancer.model_s < 0.003
    assert balancer.decoders == 4


def test_cheap_decoding_and_an_expensive_model_leave_the_cores_to_the_model() -> None:
    """Like thumbnails on a CPU model: one decoder keeps up, the other cores classify."""
    balancer = DecodeBalancer(cores=4)
    drive(balancer, decode_s=0.0005, model_s=0.02, batches=6)
    assert balancer.model_s == pytest.approx(0.02, rel=0.5)
    assert balancer.decoders == 1
    assert "1 of 4 decoders" in balancer.describe()


def test_a_model_kept_waiting_gets_more_decoders_than_the_figures_alone() -> None:
    """In ``drive`` the model always waits for a whole batch to decode: the balancer adds
    decoders beyond the share the CPU figures give, up to the cores."""
    balancer = DecodeBalancer(cores=4)
    drive(balancer, decode_s=0.003, model_s=0.009)
    assert balancer.decode_s is not None and balancer.model_s is not None
    assert decoders_needed(balancer.decode_s, balancer.model_s, 4) < 4
    assert balancer.decoders == 4


def test_fixed_decoders_stay_fixed(tiny_model_file: Path, image_folder: Path) -> None:
    classifier = load_classifier(tiny_model_file, device="cpu")
    images = [p for p in find_images([image_folder])[0] if p.name != "broken.jpg"]
    fixed = DecodeBalancer(cores=4, fixed=3)
    by_three = list(classify_files(classifier, images, batch_size=2, balancer=fixed))
    assert fixed.decoders == 3 and fixed.decode_s is not None
    measured = DecodeBalancer()
    balanced = list(classify_files(classifier, images, batch_size=2, balancer=measured))
    assert measured.decode_s is not None and measured.model_s is not None
    assert 1 <= measured.decoders <= measured.cores
    assert [r.prediction for r in balanced] == [r.prediction for r in by_three]

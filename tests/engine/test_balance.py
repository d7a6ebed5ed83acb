"""Decoders are balanced against the model by measuring both, not by a fixed number."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.imaging.walk import find_images
from engine.inference.balance import (
    REPROBE_WINDOWS,
    DecodeBalancer,
    DecodeGate,
    DecoderSearch,
    decoders_needed,
)
from engine.inference.batch import classify_files
from engine.inference.loader import load_classifier
from engine.jobs import ordered_map


def drive(balancer: DecodeBalancer, decode_s: float, model_s: float, images: int) -> None:
    """A pipeline like classify_files: decodes run ahead on the balancer's threads while
    batches of 4 go through the "model" here. Sleeping stands for a decode waiting on a
    slow disk or network share and for a GPU: both leave the CPU free."""
    decode = balancer.wrap(lambda _: time.sleep(decode_s))
    stream = ordered_map(decode, range(images), workers=balancer.maximum, in_flight=12)
    batch: list[int] = []
    for item, _ in stream:
        batch.append(item)
        if len(batch) == 4:
            with balancer.model(4):
                time.sleep(4 * model_s)
            batch.clear()


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


def test_search_keeps_two_decoders_where_two_measured_faster_than_the_figures_say() -> None:
    """Two cores, ONNX Runtime fp32 and 12 MP photos, as bench/pipeline.py measured them."""
    search = DecoderSearch(maximum=2)
    rates = {1: 10.9, 2: 12.2}
    counts = [search.current]
    for _ in range(3 * REPROBE_WINDOWS):
        counts.append(search.measured(rates[counts[-1]], suggested=1))
    assert counts[:3] == [2, 1, 2]  # tries the suggestion once, comes back
    # then runs two, trying one again only once every REPROBE_WINDOWS windows
    assert counts[-1] == 2 and counts.count(1) <= 4


def test_search_finds_the_fastest_count_among_many_cores() -> None:
    """16 cores, a CPU model: the figures suggest 5 decoders, and 6 is in fact the fastest."""
    search = DecoderSearch(maximum=16)

    def rate(count: int) -> float:
        return 100 - 3 * (count - 6) ** 2

    seen = [search.current]
    for _ in range(8):
        seen.append(search.measured(rate(seen[-1]), suggested=5))
    assert seen[:3] == [16, 5, 4]  # the suggestion first, then the neighbours
    assert seen[-1] == 6 and 16 not in seen[2:]


def test_search_ignores_noise_and_follows_a_real_change() -> None:
    search = DecoderSearch(maximum=2)
    rates = {1: 20.0, 2: 20.3}  # within the margin: no flapping between the two
    counts = [search.measured(rates[search.current]) for _ in range(4)]
    assert len(set(counts[1:])) == 1
    rates = {1: 30.0, 2: 15.0}  # the photos changed: one decoder is now much faster
    for _ in range(2 * REPROBE_WINDOWS + 2):
        search.measured(rates[search.current])
    assert search.current == 1


def test_a_decoder_bound_run_gets_every_decoder() -> None:
    """Decodes wait on a slow share while the model (a GPU) costs little: throughput grows
    with each decoder, and after trying fewer the balancer runs them all."""
    balancer = DecodeBalancer(cores=4)
    drive(balancer, decode_s=0.012, model_s=0.0005, images=4 * 40)
    tried = dict(balancer.search.history)  # the last figure for each count
    assert balancer.decoders == 4
    assert min(tried) < 4  # it measured fewer (the CPU figures suggest one) before choosing
    assert tried[4] > 1.1 * max(rate for count, rate in tried.items() if count < 4)
    assert "4 of 4 decoders" in balancer.describe()


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

"""maple.plan.decode_rate: the decode roofline with the KV cache counted, against hand arithmetic on
the anchors' H100 figures, and what it does to the plan at long contexts."""

import pytest

from maple.plan import decode_rate, published_rates
from maple.plan.grid_cost import anchors

G = anchors()["generation"]
GPU = {**G["decode_gpu"], "matmul_flops_per_s": G["prefill_tokens_per_s"]["matmul_tflops"] * 1e12}
BOUNDS = published_rates.token_bounds(G["published_run"], G["published_prefill_run"], GPU["matmul_flops_per_s"])
COMPUTE_BOUND, FLOOR = BOUNDS["compute_bound"], BOUNDS["prefill_floor"]
PUBLISHED_DECODE = published_rates.slow_end_rates(G["published_run"], COMPUTE_BOUND, FLOOR)["decode"]
MISTRAL, LLAMA = G["architecture"]["mistral"], G["architecture"]["llama"]


def test_kv_bytes_per_token_follow_the_model_cards():
    assert decode_rate.kv_bytes_per_token(MISTRAL) == 2 * 32 * 8 * 128 * 2 == 131072  # grouped-query attention
    assert decode_rate.kv_bytes_per_token(LLAMA) == 4 * 131072  # Llama-2-7B: a KV head per query head


def test_long_context_is_memory_bound_with_the_batch_the_kv_memory_allows():
    # 3,000 tokens each, nothing shared: 0.92 x 85.03e9 - 2 x 7.24e9 = 63.75e9 bytes of KV cache hold
    # 162.1 sequences of 3,000 x 131,072 bytes; a step reads the weights and all of it: 78.23e9 / 3e12
    # = 26.08 ms for 162.1 tokens
    rate = decode_rate.step_bound(0, 3000, 7.24e9, MISTRAL, GPU, shared_read_once=False)
    assert rate == pytest.approx(6217, rel=1e-3)
    # the same context with 4x the KV per token: a quarter of the batch in the same step time
    assert decode_rate.step_bound(0, 3000, 6.74e9, LLAMA, GPU, False) == pytest.approx(1580, rel=0.02)


def test_short_context_hits_max_num_seqs_and_the_compute_roofline():
    # 100 tokens: 1,024 sequences (vLLM's H100 default) read 27.9 GB in 9.3 ms, but 2N FLOPs each take
    # 1,024 x 2 x 7.24e9 / 796e12 = 18.6 ms: compute-bound at 796e12 / (2 x 7.24e9) tokens/s
    rate = decode_rate.step_bound(0, 100, 7.24e9, MISTRAL, GPU, False)
    assert rate == pytest.approx(796e12 / (2 * 7.24e9), rel=1e-6)


def test_a_shared_prefix_read_once_is_faster_and_rates_fall_with_context():
    per_sequence = decode_rate.step_bound(2500, 500, 7.24e9, MISTRAL, GPU, False)
    once = decode_rate.step_bound(2500, 500, 7.24e9, MISTRAL, GPU, True)
    assert once > per_sequence
    rates = [decode_rate.step_bound(0, n, 7.24e9, MISTRAL, GPU, False) for n in (500, 1000, 2000, 4000)]
    assert rates == sorted(rates, reverse=True)


def test_the_published_rate_is_capped_only_where_the_roofline_is_slower():
    published = PUBLISHED_DECODE
    xlsum = dict(prompt=2834, uncached=2331, new_tokens_high=400, new_tokens_low=147)
    xnli = dict(prompt=700, uncached=90, new_tokens_high=100, new_tokens_low=3)
    mistral = decode_rate.decode_rates(**xlsum, params=7.24e9, arch=MISTRAL, gpu=GPU, published=published)
    llama = decode_rate.decode_rates(**xlsum, params=6.74e9, arch=LLAMA, gpu=GPU, published=published)
    short = decode_rate.decode_rates(**xnli, params=7.24e9, arch=MISTRAL, gpu=GPU, published=published)
    # XL-Sum's ~3,000-token contexts: the roofline with the prefix read per sequence is below the published
    # short-prompt rate for both models, Llama-2's (4x the KV per token) far below
    per_sequence = decode_rate.step_bound(2834 - 2331, 2331 + 200, 7.24e9, MISTRAL, GPU, False,
                                          GPU["non_kv_reserve_bytes"])
    assert mistral["high"] == pytest.approx(per_sequence) and per_sequence < published
    assert mistral["low"] > mistral["high"]
    assert llama["high"] < mistral["high"] / 3
    assert llama["low"] > llama["high"]
    assert short["high"] == published < short["low"]  # short contexts: the published rate stands


def test_the_slow_end_leaves_vllms_reserve_out_of_the_kv_cache_and_the_fast_end_does_not():
    # the anchors' reserve: the logged Llama-3.1-8B start (vLLM 0.19, H100) with its 8,192-token profile
    # pass's activation peak counted twice for maple's 16,384-token steps, plus non-torch and CUDA graphs
    gib = 2**30
    assert GPU["non_kv_reserve_bytes"] == pytest.approx((2 * 1.89 + 0.25 + 0.84) * gib, rel=1e-3)
    assert GPU["memory_bytes"] == pytest.approx(79.19 * gib, rel=1e-3)
    # XL-Sum's shape, nothing shared: 3,000 tokens a sequence. Slow end: 0.92 x 85.03e9 - 14.48e9 -
    # 5.229e9 = 58.52e9 bytes hold 148.8 sequences, a step reads 73.0e9 bytes in 24.33 ms; fast end: 162.1
    slow_batch, slow_s = decode_rate.step(0, 3000, 7.24e9, MISTRAL, GPU, False, GPU["non_kv_reserve_bytes"])
    fast_batch, _ = decode_rate.step(0, 3000, 7.24e9, MISTRAL, GPU, False)
    assert slow_batch == pytest.approx(148.8, abs=0.1) and fast_batch == pytest.approx(162.1, abs=0.1)
    assert slow_s == pytest.approx((14.48e9 + slow_batch * 3000 * 131072) / 3e12, rel=1e-9)
    rates = decode_rate.decode_rates(prompt=3000, uncached=3000, new_tokens_high=2, new_tokens_low=2,
                                     params=7.24e9, arch=MISTRAL, gpu=GPU, published=1e9)
    assert rates["high"] == pytest.approx(decode_rate.step_bound(0, 3001, 7.24e9, MISTRAL, GPU, False,
                                                                 GPU["non_kv_reserve_bytes"]))
    assert rates["low"] == pytest.approx(decode_rate.step_bound(0, 3001, 7.24e9, MISTRAL, GPU, True))


def test_a_sequence_that_does_not_fit_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        decode_rate.step_bound(0, 200_000, 6.74e9, LLAMA, GPU, False)


def test_the_published_runs_overhead_per_step_by_hand():
    # the traced request: 872.09 steps in 17.158 s, 19.67 ms each. The run's decoding read 86.53e6 tokens
    # of KV cache over its 23.31 s of decoding, 1,184.9 steps at that mean: 73,030 tokens (9.57e9 bytes,
    # 3.19 ms at 3e12 bytes/s) a step; its weights, 7.25e9 x 2 bytes, 4.83 ms; 11.65 ms are left
    run = G["published_run"]
    assert published_rates.mean_step_s(run) == pytest.approx(17.158 / 872.09, abs=1e-6)
    kv_tokens = published_rates.kv_tokens_per_step(run, COMPUTE_BOUND, FLOOR)
    assert kv_tokens == pytest.approx(86_533_274 / (23.3130 / 0.0196750), rel=1e-4)
    overhead = decode_rate.step_overhead(published_rates.mean_step_s(run), kv_tokens, run["params"], MISTRAL, GPU)
    assert overhead == pytest.approx(17.158 / 872.09 - (14.5e9 + kv_tokens * 131072) / 3e12, abs=1e-6)
    assert overhead == pytest.approx(0.01165, abs=1e-5)
    # the run's own KV reads are not overhead: counting them in would add them twice at a task's context
    assert overhead < decode_rate.step_overhead(published_rates.mean_step_s(run), 0, run["params"], MISTRAL, GPU)
    # a step shorter than its reads leaves no overhead
    assert decode_rate.step_overhead(0.004, 0, run["params"], MISTRAL, GPU) == 0.0
    # XL-Sum's slow end: 0.92 x 85.03e9 - 14.48e9 - 5.229e9 (vLLM's reserve) - 503 shared x 131,072 =
    # 58.45e9 bytes hold 176.2 sequences of 2,531 own tokens; a step reads 14.48e9 + 176.2 x 3,034 x
    # 131,072 = 84.55e9 bytes (28.18 ms), plus the overhead
    xlsum = decode_rate.decode_rates(2834, 2331, 400, 147, 7.24e9, MISTRAL, GPU, PUBLISHED_DECODE, overhead)
    batch, seconds = decode_rate.step(503, 2531, 7.24e9, MISTRAL, GPU, False, GPU["non_kv_reserve_bytes"])
    assert (batch, seconds) == (pytest.approx(176.2, abs=0.1), pytest.approx(0.02818, abs=1e-4))
    assert xlsum["high"] == pytest.approx(batch / (seconds + overhead)) == pytest.approx(4423, abs=2)
    # with no overhead the slow end would be the roofline itself: the fastest the card allows
    assert xlsum["high"] < decode_rate.decode_rates(2834, 2331, 400, 147, 7.24e9, MISTRAL, GPU, PUBLISHED_DECODE)["high"]

"""What vLLM's automatic prefix caching reuses when one engine is sent prompts in a given order.

vLLM (v1 KVCacheManager) hashes each full block of `block_size` prompt tokens together with the
hash of the block before it; a request reuses the longest run of leading full blocks some earlier
request of the same engine computed, at most `len(prompt) - 1` tokens (the last token is always
recomputed for its logits: kv_cache_manager.get_computed_blocks). Requests that ask for prompt
logprobs skip the cache (Request.skip_reading_prefix_cache). Counted here without eviction: a job's
shared prefixes are sent together (maple.generate.order), so LRU keeps them while they are used.
"""

from __future__ import annotations

# vllm.config.cache.CacheConfig.DEFAULT_BLOCK_SIZE on CUDA; vllm.platforms.cpu sets 128 when unset
BLOCK_SIZE = {"cuda": 16, "cpu": 128}


class PrefixCache:
    """One engine's cache: feed prompts in the order sent, read the tokens found cached."""

    def __init__(self, block_size: int):
        self.block_size = block_size
        self._blocks: dict[tuple, int] = {}  # (parent block id, block tokens) -> block id

    def add(self, ids: list[int], read: bool = True) -> int:
        """Tokens of `ids` found cached; the prompt's full blocks are cached from now on."""
        bs = self.block_size
        limit = (len(ids) - 1) // bs if read else 0  # full blocks a hit may cover
        parent, hits, hitting = -1, 0, True
        for b in range(len(ids) // bs):
            key = (parent, tuple(ids[b * bs : (b + 1) * bs]))
            block = self._blocks.get(key)
            if hitting and block is not None and b < limit:
                hits += 1
            else:
                hitting = False
            if block is None:
                block = self._blocks[key] = len(self._blocks)
            parent = block
        return hits * bs


def cached_tokens(prompts: list[list[int]], block_size: int) -> list[int]:
    """Per prompt, the tokens one engine finds cached when sent `prompts` in this order."""
    cache = PrefixCache(block_size)
    return [cache.add(ids) for ids in prompts]

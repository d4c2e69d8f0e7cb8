"""How often streamed text differs from a one-call decode at the token limit (docs/protocols.md,
decoding): Mistral-7B's tokenizer on real XQuAD zh/th contexts, cut every 7 tokens from 20 to 400;
at each cut inside a character, tokens streamed through tokenizers' DecodeStream (vLLM's incremental
detokenizer) against `backends.output_text`: `streamed_differs` counts any difference (the one-call
decode ends in U+FFFD the stream holds back), `differs_beyond_trailing_replacement` those that remain
once that trailing U+FFFD is dropped. Prints one JSON line.

    python benchmarks/detokenize_cuts.py [--data-dir ../shared/data]
"""

import argparse
import json
from pathlib import Path

from tokenizers.decoders import DecodeStream

from maple.generate.backends import output_text
from maple.plan.tokenizer import load_tokenizer, mistral_v1_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    tok = load_tokenizer(mistral_v1_model())
    fast = tok.backend_tokenizer
    counts = {"cuts": 0, "inside_a_character": 0, "streamed_differs": 0, "differs_beyond_trailing_replacement": 0}
    for lang in ("zh", "th"):
        with open(Path(args.data_dir) / "xquad" / f"validation.{lang}.jsonl", encoding="utf-8") as fh:
            contexts = [json.loads(line)["context"] for line in fh][:10]
        for context in contexts:
            ids = tok(context, add_special_tokens=False)["input_ids"][:400]
            for k in range(20, len(ids), 7):
                counts["cuts"] += 1
                decoded = output_text(tok, ids[:k], [])
                if not decoded.endswith("\ufffd"):
                    continue
                counts["inside_a_character"] += 1
                stream, streamed = DecodeStream(skip_special_tokens=True), ""
                for token in ids[:k]:
                    streamed += stream.step(fast, token) or ""
                counts["streamed_differs"] += streamed != decoded
                counts["differs_beyond_trailing_replacement"] += streamed != decoded.rstrip("\ufffd")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What a user would run instead of kiln on the same GPU: Hugging Face transformers on PyTorch,
a random-weight model of the default model's shape (SmolLM2-135M: llama, 30 layers, 576 wide,
9 heads of 64, 3 KV heads, 1536 FFN, 49152 tokens, tied embeddings), bf16, greedy generation
with the KV cache. Prints one JSON line: the median tokens/s of single-sequence decoding over
three runs of N new tokens after a 16-token prompt. No network: the model is built from a
config, never downloaded. Usage: hf_bench.py [N]"""
import json
import sys
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    n_new = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                      num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                      head_dim=64, max_position_embeddings=8192, rms_norm_eps=1e-5,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                      pad_token_id=0)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device="cuda", dtype=torch.bfloat16).eval()
    prompt = torch.randint(300, cfg.vocab_size, (1, 16), device="cuda")
    kw = dict(do_sample=False, min_new_tokens=n_new, max_new_tokens=n_new, pad_token_id=0)
    with torch.inference_mode():
        model.generate(prompt, **dict(kw, min_new_tokens=16, max_new_tokens=16))
        runs = []
        for _ in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model.generate(prompt, **kw)
            torch.cuda.synchronize()
            runs.append((out.shape[1] - prompt.shape[1]) / (time.perf_counter() - t0))
    runs.sort()
    print(json.dumps({"check": "hf", "decode_tok_s": round(runs[1], 1),
                      "torch": torch.__version__, "transformers": transformers.__version__,
                      "new_tokens": n_new}))


if __name__ == "__main__":
    main()

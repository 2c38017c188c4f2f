#!/usr/bin/env python3
"""Prints the table of kernels/cuda/check.sh from the JSON lines of its steps (stdin)."""
import json
import sys


def main():
    rows = []
    for line in sys.stdin:
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    by = lambda kind: [r for r in rows if r.get("check") == kind]
    dev = next((r["name"] for r in by("device")), "none found")
    print(f"device: {dev}")
    print("| model | rel err prompt | rel err step max | rel err unfused | rel err 8 seqs "
          "| 3 tokens vs 1 | greedy same (teacher-forced) | free-run same | pass |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in by("parity"):
        print(f"| {r['model']} | {r['rel_prompt']:.2e} | {r['rel_step_max']:.2e} "
              f"| {r['rel_unfused_step_max']:.2e} | {r['rel_batch8_max']:.2e} "
              f"| {r.get('rel_tok3_max', float('nan')):.1e} "
              f"| {r['greedy_same']}/{r['steps']} | {r['free_run_same']}/{r['steps']} "
              f"| {'yes' if r['pass'] else 'NO'} |")
    for r in by("memcheck"):
        print("compute-sanitizer memcheck on the small models: "
              + ("clean" if r["rc"] == 0 else f"FAILED (rc {r['rc']})"))
    sp = next(iter(by("speed")), None)
    hf = next(iter(by("hf")), None)
    bench = next(iter(by("bench")), None)
    if not sp:
        print("no speed figures")
        return
    print()
    print("| figure (SmolLM2-135M shape, Q4_1, H200 target) | kiln | target | ratio |")
    print("|---|---|---|---|")
    rowf = lambda name, v, t: print(f"| {name} | {v:.0f} | >= {t} | {v / t:.2f}x |")
    rowf("decode, 1 sequence (tok/s)", sp["decode_tok_s"], 2000)
    rowf("decode, 64 sequences (tok/s, aggregate)", sp["batch64_tok_s"], 30000)
    rowf("prompt, 512 tokens (tok/s)", sp["pp512_tok_s"], 50000)
    print(f"| fused / --no-fuse decode | {sp['decode_tok_s']:.0f} / "
          f"{sp['decode_unfused_tok_s']:.0f} | >= 2x | {sp['fusion_gain']:.2f}x |")
    if hf:
        print(f"| kiln / transformers {hf['transformers']} decode | {sp['decode_tok_s']:.0f} / "
              f"{hf['decode_tok_s']:.0f} | >= 5x | {sp['decode_tok_s'] / hf['decode_tok_s']:.2f}x |")
    print(f"| Gemma-3-270M shape (Q8_0) decode, 1 sequence (tok/s) | "
          f"{sp['gemma3_decode_tok_s']:.0f} | | |")
    if "us_per_token" in sp:
        print(f"| time per decoded token (us) / kernels per token | {sp['us_per_token']:.0f} / "
              f"{sp['kernels_per_token']} | | |")


if __name__ == "__main__":
    main()

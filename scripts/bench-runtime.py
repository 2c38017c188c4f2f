#!/usr/bin/env python3
"""Side-by-side runtime benchmark: kiln against llama.cpp (through llama-cpp-python).

Measures, in one run and alternating the two runtimes so that load drifts on the shared
machine hit both, for one model and each thread count:
  - prompt processing tok/s at 128 and 512 tokens (pp128, pp512), from an empty cache;
  - generation tok/s for 128 tokens, one token per call, from an empty cache (tg128);
  - aggregate tok/s of 8 sequences decoding together (batch8) and its ratio to tg128;
  - start to first token of a fresh process (`kiln run -n 1 -t 2` against a fresh Python
    process running llama-cpp-python; Python's own start and import are reported apart);
  - peak RSS of `kiln run` (through GNU time) against model file + KV cache + 64 MiB;
  - with --baseline OLD_KILN, the start to first token of another kiln binary (an older build)
    in the same loop, alternating with kiln, and the ratio; --ttft-only measures only that;
  - the decode bandwidth ceiling: bytes read per token against memory bandwidth, and the share
    of it each runtime reaches.
Before each measurement it waits for an idle machine (/proc/stat under --idle-busy for
--idle-window seconds, capped by --idle-cap and a total --wait-budget so it never hangs) and
it records how busy other processes kept the machine during each run. Medians with min-max
spread are reported; the table comes last (with --json: JSON on stdout, the table on stderr).

Token ids are the same fixed pseudo-random values `kiln bench` uses. llama.cpp runs with
n_ctx=1024, n_batch=n_ubatch=512 and flash attention off, as in the project's llama-bench
reference measurements, and with use_extra_bufts = False: llama-cpp-python 0.3.36 built with
native flags segfaults in its first decode on CPUs with AMX tiles when the model is loaded with
its extra (AMX-repacked) buffer types, so llama.cpp runs its AVX-512 kernels there. kiln runs as
`kiln bench ... -r 1` child processes, one per measurement (--kernels picks its variant). Where
the CPU has AMX tiles (amx_tile in /proc/cpuinfo), kiln's pp512 with --kernels avx512 is measured
too, and AMX against AVX-512 is printed after the table.

Usage: python3 scripts/bench-runtime.py [--model PATH] [--threads 1,2] [--reps 5] [--quick]
                                        [--kiln PATH] [--kernels NAME] [--json]
                                        [--baseline OLD_KILN] [--ttft-only]
Needs llama-cpp-python (pip install llama-cpp-python==0.3.36) and a Release build of kiln
(cmake --preset release && cmake --build --preset release --target kiln). Not run by CI.
"""
import argparse
import collections
import json
import mmap
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    import llama_cpp
    import numpy as np
except ImportError as e:
    sys.exit(
        f"bench-runtime.py: the Python package '{e.name or 'llama_cpp'}' is missing "
        "(llama-cpp-python, which brings numpy); install it with:\n"
        "    pip install llama-cpp-python==0.3.36"
    )

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
TTFT_PROMPT = "def add(a, b):"
# DRAM bandwidth of the project's 2-vCPU machine kind, GB/s, from the CPU performance reference
# (STREAM-style triad/read over 3 GiB).
REF_BW_GBS = {1: 14.4, 2: 28.4}
MIB = 1 << 20
GNU_TIME = "/usr/bin/time"
NO_EXTRA_BUFTS = ("llama.cpp loaded with use_extra_bufts = False (llama-cpp-python 0.3.36 "
                  "segfaults on AMX CPUs otherwise): no AMX-repacked weights")


def no_extra_bufts():
    """Makes every later Llama() load its model with use_extra_bufts = False (the class has no
    argument for it): its default model parameters come from this function."""
    low = llama_cpp.llama_cpp
    default = low.llama_model_default_params
    if not any(f[0] == "use_extra_bufts" for f in low.llama_model_params._fields_):
        return False

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    low.llama_model_default_params = params
    llama_cpp.llama_model_default_params = params
    return True


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_has_amx():
    try:
        with open("/proc/cpuinfo") as f:
            return any("amx_tile" in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# GGUF header: hyperparameters and tensor sizes (own minimal reader; the gguf package's
# reader takes seconds on a 262k-token vocabulary).
# ------------------------------------------------------------------------------------------

# ggml type id: (elements per block, bytes per block)
GGML_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8),
    28: (1, 8), 30: (1, 2),
}
GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                10: "<Q", 11: "<q", 12: "<d"}


def gguf_read(path):
    """Returns (metadata of scalars and array lengths, tensors [(name, dims, type, bytes)])."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", m, 4)
        pos = 24

        def u64():
            nonlocal pos
            v = struct.unpack_from("<Q", m, pos)[0]
            pos += 8
            return v

        def string():
            nonlocal pos
            n = u64()
            s = m[pos:pos + n].decode("utf-8", "replace")
            pos += n
            return s

        def value(vtype):
            nonlocal pos
            if vtype in GGUF_SCALARS:
                fmt = GGUF_SCALARS[vtype]
                v = struct.unpack_from(fmt, m, pos)[0]
                pos += struct.calcsize(fmt)
                return v
            if vtype == 8:
                return string()
            if vtype == 9:
                etype = struct.unpack_from("<I", m, pos)[0]
                pos += 4
                count = u64()
                if etype in GGUF_SCALARS:
                    pos += count * struct.calcsize(GGUF_SCALARS[etype])
                else:
                    for _ in range(count):
                        value(etype)
                return ("array", count)
            raise ValueError(f"{path}: byte {pos}: unknown GGUF value type {vtype}")

        meta = {}
        for _ in range(n_kv):
            key = string()
            vtype = struct.unpack_from("<I", m, pos)[0]
            pos += 4
            meta[key] = value(vtype)
        infos = []
        for _ in range(n_tensors):
            name = string()
            n_dims = struct.unpack_from("<I", m, pos)[0]
            pos += 4
            dims = struct.unpack_from(f"<{n_dims}Q", m, pos)
            pos += 8 * n_dims
            ttype, offset = struct.unpack_from("<IQ", m, pos)
            pos += 12
            infos.append((name, dims, ttype, offset))
        align = int(meta.get("general.alignment", 32))
        data_start = (pos + align - 1) // align * align
        file_size = len(m)
    # Sizes from the type table; a type missing from it is sized by the next tensor's offset.
    by_offset = sorted(infos, key=lambda t: t[3])
    next_off = {t[3]: (by_offset[i + 1][3] if i + 1 < len(by_offset)
                       else file_size - data_start) for i, t in enumerate(by_offset)}
    tensors = []
    for name, dims, ttype, offset in infos:
        n_el = 1
        for d in dims:
            n_el *= d
        if ttype in GGML_BLOCKS:
            blk, size = GGML_BLOCKS[ttype]
            n_bytes = n_el // blk * size
        else:
            n_bytes = next_off[offset] - offset
        tensors.append((name, dims, ttype, n_bytes))
    return meta, tensors


def model_shape(path):
    meta, tensors = gguf_read(path)
    arch = meta["general.architecture"]
    g = lambda k, d=None: meta.get(f"{arch}.{k}", d)
    n_head = int(g("attention.head_count"))
    n_head_kv = int(g("attention.head_count_kv", n_head))
    n_embd = int(g("embedding_length"))
    k_len = int(g("attention.key_length", n_embd // n_head))
    v_len = int(g("attention.value_length", k_len))
    names = {t[0]: t for t in tensors}
    weight_bytes = sum(t[3] for t in tensors)
    read_bytes = weight_bytes
    embd = names.get("token_embd.weight")
    if "output.weight" in names and embd is not None:
        # Untied: the input lookup reads one row of the embedding, not all of it.
        read_bytes -= embd[3] - embd[3] // embd[1][1]
    return {
        "arch": arch,
        "n_layer": int(g("block_count")),
        "n_embd": n_embd,
        "n_head": n_head,
        "n_head_kv": n_head_kv,
        "head_dim_k": k_len,
        "head_dim_v": v_len,
        "n_ctx_train": int(g("context_length", 0)),
        "n_vocab": embd[1][1] if embd else None,
        "tied_embedding": "output.weight" not in names,
        "n_tensors": len(tensors),
        "tensor_bytes": weight_bytes,
        "weight_read_bytes_per_token": read_bytes,
        "file_bytes": os.path.getsize(path),
    }


def kv_bytes(shape, n_pos):
    """F16 K and V for n_pos positions, both runtimes' cache layout."""
    per_pos = shape["n_head_kv"] * (shape["head_dim_k"] + shape["head_dim_v"]) * 2
    return shape["n_layer"] * n_pos * per_pos


# ------------------------------------------------------------------------------------------
# Machine load: wait for an idle machine, and measure what others used during a run.
# ------------------------------------------------------------------------------------------

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])  # guest time is already counted in user
    return total - idle, total


def own_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Idle:
    """Waits until the machine has been under `busy` for `window` s, at most `cap` s per wait
    and `budget` s in all (then it only samples 0.5 s to report the load)."""

    def __init__(self, window, busy, cap, budget):
        self.window, self.busy, self.cap, self.budget = window, busy, cap, budget
        self.waited_total = 0.0

    def wait(self):
        cap = max(0.5, min(self.cap, self.budget - self.waited_total))
        start = time.monotonic()
        b, t = cpu_jiffies()
        samples = collections.deque([(start, b, t)])
        ok, frac = False, 1.0
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            b, t = cpu_jiffies()
            samples.append((now, b, t))
            while len(samples) > 2 and now - samples[1][0] >= self.window:
                samples.popleft()
            t0, b0, tt0 = samples[0]
            frac = (b - b0) / max(1, t - tt0)
            if now - t0 >= self.window and frac < self.busy:
                ok = True
                break
            if now - start >= cap:
                break
        waited = time.monotonic() - start
        self.waited_total += waited
        return {"waited_s": round(waited, 2), "idle": ok, "busy_before": round(frac, 3)}


class Meter:
    """Foreign CPU share during a run: machine busy time minus our own and our child's."""

    def __enter__(self):
        self.b0, self.t0 = cpu_jiffies()
        self.own0 = own_cpu_s()
        self.w0 = time.monotonic()
        self.child_cpu = 0.0
        return self

    def __exit__(self, *exc):
        b1, t1 = cpu_jiffies()
        wall = time.monotonic() - self.w0
        busy_s = (b1 - self.b0) / HZ
        own = own_cpu_s() - self.own0 + self.child_cpu
        self.foreign = max(0.0, (busy_s - own) / max(1e-9, wall * NCPU))
        return False


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------

def run_child(cmd, rss=False):
    """Runs cmd; returns (stdout, stderr, rusage, wall s, spawn monotonic ns, exit ns), or
    with rss, (stdout, stderr, peak RSS in KiB measured by GNU time)."""
    with tempfile.TemporaryFile() as errf, tempfile.NamedTemporaryFile("r") as tf:
        if rss:
            cmd = [GNU_TIME, "-f", "%M", "-o", tf.name] + cmd
        t_spawn = time.monotonic_ns()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        t_exit = time.monotonic_ns()
        p.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{err.strip()}")
        if rss:
            return out.decode("utf-8", "replace"), err, int(tf.read().split()[-1])
    return out.decode("utf-8", "replace"), err, ru, (t_exit - t_spawn) / 1e9, t_spawn, t_exit


def kiln_bench(kiln, model, threads, pp, tg, batch, meter, kernels="best"):
    cmd = [kiln, "bench", "-m", model, "-t", str(threads), "-p", str(pp), "-n", str(tg),
           "-b", str(batch), "-r", "1", "--kernels", kernels, "--json"]
    out, _, ru, _, _, _ = run_child(cmd)
    meter.child_cpu = ru.ru_utime + ru.ru_stime
    return json.loads(out)


def token_ids(n, n_vocab):
    """The pseudo-random ids of `kiln bench` (xorshift64)."""
    x, mask, ids = 0x2545F4914F6CDD1D, (1 << 64) - 1, []
    for _ in range(n):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
        ids.append(x % n_vocab)
    return ids


# ------------------------------------------------------------------------------------------
# llama.cpp in this process
# ------------------------------------------------------------------------------------------

class LlamaRunner:
    def __init__(self, model, threads, n_seq):
        self.llm = llama_cpp.Llama(model_path=model, n_ctx=1024, n_batch=512, n_ubatch=512,
                                   n_threads=threads, n_threads_batch=threads,
                                   flash_attn=False, verbose=False)
        self.ctx = self.llm._ctx.ctx
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(
            llama_cpp.llama_model_get_vocab(self.llm._model.model))
        # A second context on the same weights for n_seq sequences decoding together.
        p = llama_cpp.llama_context_default_params()
        p.n_ctx = n_seq * 256
        p.n_batch = p.n_ubatch = 512
        p.n_seq_max = n_seq
        p.n_threads = p.n_threads_batch = threads
        p.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        p.no_perf = True
        self.bctx = llama_cpp.llama_init_from_model(self.llm._model.model, p)
        if not self.bctx:
            raise RuntimeError("llama_init_from_model failed for the batched context")
        self.n_seq = n_seq
        self.batch = llama_cpp.llama_batch_init(n_seq, 0, 1)

    def close(self):
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.bctx)
        self.llm.close()

    def clear(self):
        self.llm.reset()
        self.llm._ctx.kv_cache_clear()

    def pp(self, toks):
        self.clear()
        t0 = time.perf_counter()
        self.llm.eval(toks)
        llama_cpp.llama_synchronize(self.ctx)
        return len(toks) / (time.perf_counter() - t0)

    def tg(self, toks):
        self.clear()
        t0 = time.perf_counter()
        for t in toks:
            self.llm.eval([t])
        llama_cpp.llama_synchronize(self.ctx)
        return len(toks) / (time.perf_counter() - t0)

    def batched(self, toks, n_steps):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.bctx), True)
        b = self.batch
        t0 = time.perf_counter()
        for i in range(n_steps):
            b.n_tokens = self.n_seq
            for s in range(self.n_seq):
                b.token[s] = toks[s]
                b.pos[s] = i
                b.n_seq_id[s] = 1
                b.seq_id[s][0] = s
                b.logits[s] = 1
            rc = llama_cpp.llama_decode(self.bctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode (batched) returned {rc}")
        llama_cpp.llama_synchronize(self.bctx)
        return n_steps * self.n_seq / (time.perf_counter() - t0)

    def call_overhead_us(self, n=1000):
        """Python-side cost of one eval([tok]) besides llama_decode, and a bare Python call."""
        def empty():
            pass
        t0 = time.perf_counter()
        for _ in range(n):
            empty()
        t_empty = (time.perf_counter() - t0) / n
        self.clear()
        ctx = self.llm._ctx
        t0 = time.perf_counter()
        for i in range(n):
            ctx.kv_cache_seq_rm(-1, 0, -1)
            self.llm._batch.set_batch(batch=[1], n_past=0, logits_all=False)
        t_eval = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for _ in range(n):
            llama_cpp.llama_n_ctx(self.ctx)
        t_ctypes = (time.perf_counter() - t0) / n
        return {"empty_call_us": t_empty * 1e6, "ctypes_call_us": t_ctypes * 1e6,
                "eval_wrapper_us": t_eval * 1e6}


# The llama.cpp side of start-to-first-token: a fresh interpreter doing what `kiln run -n 1`
# does (load, tokenize with BOS, prompt in one batch, greedy token, print it).
TTFT_CHILD = r"""
import time
t_start = time.monotonic_ns()
import json, resource, sys
import llama_cpp
import numpy as np
t_import = time.monotonic_ns()
low = llama_cpp.llama_cpp
default = low.llama_model_default_params
def params():
    p = default()
    p.use_extra_bufts = False  # llama-cpp-python 0.3.36 segfaults on AMX CPUs otherwise
    return p
if any(f[0] == "use_extra_bufts" for f in low.llama_model_params._fields_):
    low.llama_model_default_params = params
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model, threads, prompt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
llm = llama_cpp.Llama(model_path=model, n_ctx=512, n_batch=512, n_ubatch=512,
                      n_threads=threads, n_threads_batch=threads, flash_attn=False,
                      verbose=False)
toks = llm.tokenize(prompt.encode(), add_bos=True, special=False)
llm.eval(toks)
n_vocab = llm.n_vocab()
logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1),
                               shape=(n_vocab,))
tok = int(np.argmax(logits))
sys.stdout.write(llm.detokenize([tok]).decode("utf-8", "replace") + "\n")
t_first = time.monotonic_ns()
sys.stdout.write(json.dumps({"t_start": t_start, "t_import": t_import, "t_first": t_first,
                             "rss_import_kb": rss_import, "n_prompt": len(toks)}) + "\n")
sys.stdout.flush()
"""

KILN_STATS = re.compile(r"prompt (\d+) tokens.*first token after ([0-9.]+) ms", re.S)


# ------------------------------------------------------------------------------------------
# Bandwidth
# ------------------------------------------------------------------------------------------

def numpy_bandwidth(mib):
    """Best-of-3 read bandwidth (GB/s) of an int64 sum over mib MiB, 1 and 2 Python threads
    (numpy releases the GIL in the reduction, but it does not always scale)."""
    a = np.empty(mib * MIB // 8, dtype=np.int64)
    a.fill(1)
    res = {}
    for k in (1, 2):
        parts = np.array_split(a, k)
        best = 0.0
        for _ in range(3):
            ths = [threading.Thread(target=np.add.reduce, args=(p,)) for p in parts]
            t0 = time.perf_counter()
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            best = max(best, a.nbytes / (time.perf_counter() - t0) / 1e9)
        res[k] = best
    del a
    return res


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------

def stat(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "values": values}


def find_kiln(arg):
    for cand in (arg, os.environ.get("KILN_BIN"),
                 os.path.join(REPO, "build", "release", "cli", "kiln")):
        if cand:
            if not os.access(cand, os.X_OK):
                sys.exit(f"bench-runtime.py: kiln binary {cand}: not found or not executable")
            return os.path.abspath(cand)
    sys.exit("bench-runtime.py: no kiln binary: build one (cmake --preset release && "
             "cmake --build --preset release --target kiln) or pass --kiln PATH")


def kiln_build_warning(kiln):
    cache = os.path.join(os.path.dirname(os.path.dirname(kiln)), "CMakeCache.txt")
    try:
        text = open(cache).read()
    except OSError:
        return None
    bt = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", text, re.M)
    flags = re.search(r"^CMAKE_C_FLAGS:\w+=(.*)$", text, re.M)
    if bt and bt.group(1) not in ("Release", "RelWithDebInfo"):
        return f"kiln build type is {bt.group(1)}, not Release"
    if flags and "sanitize" in flags.group(1):
        return "kiln is built with sanitizers"
    return None


class Bench:
    def __init__(self, args):
        self.a = args
        self.idle = Idle(args.idle_window, args.idle_busy, args.idle_cap, args.wait_budget)
        self.runs = []  # every measurement, with its load

    def measure(self, name, runtime, threads, fn):
        """Waits for idle, runs fn(meter) and records its load. A run that started on an idle
        machine but met others' load is retried (on a machine that never gets idle, retrying
        only costs time)."""
        for attempt in range(1 + self.a.retries):
            w = self.idle.wait()
            with Meter() as m:
                value = fn(m)
            rec = {"metric": name, "runtime": runtime, "threads": threads, "value": value,
                   "foreign_busy": round(m.foreign, 3), "attempt": attempt, **w}
            self.runs.append(rec)
            shown = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in value.items()) \
                if isinstance(value, dict) else f"{value:.1f}"
            log(f"  {name:<10} t={threads} {runtime:<9} {shown:<44} busy: others "
                f"{100 * m.foreign:4.1f}% during, {100 * w['busy_before']:4.1f}% before "
                f"(waited {w['waited_s']:.1f}s{'' if w['idle'] else ', not idle'})")
            if m.foreign <= self.a.retry_busy or not w["idle"] or \
                    self.idle.waited_total >= self.a.wait_budget:
                break
            log(f"  retrying: others used {100 * m.foreign:.0f}% of the machine")
        rec["kept"] = True
        return value

    def kept(self, name, runtime, threads, key=None):
        vals = [r["value"] if key is None else r["value"][key] for r in self.runs
                if r.get("kept") and r["metric"] == name and r["runtime"] == runtime
                and r["threads"] == threads]
        return stat(vals)

    def busy(self, name, threads):
        vals = [r["foreign_busy"] for r in self.runs if r.get("kept") and r["metric"] == name
                and r["threads"] == threads]
        return statistics.median(vals) if vals else None


def ttft_baseline_lines(b, kiln, baseline):
    """kiln's start to first token against --baseline's, as lines for the report."""
    kw, bw = b.kept("ttft", "kiln", 2, "wall_ms"), b.kept("ttft", "baseline", 2, "wall_ms")
    ko, bo = b.kept("ttft", "kiln", 2, "own_ms"), b.kept("ttft", "baseline", 2, "own_ms")
    if not kw or not bw:
        return ["start to first token against --baseline: no runs kept"]
    return [f"start to first token, kiln {kiln} against baseline {baseline} (same loop): "
            f"process wall {kw['median']:.1f} vs {bw['median']:.1f} ms = "
            f"{bw['median'] / kw['median']:.2f}x; in-process {ko['median']:.1f} vs "
            f"{bo['median']:.1f} ms = {bo['median'] / ko['median']:.2f}x"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", default=DEFAULT_MODEL)
    ap.add_argument("-t", "--threads", default="1,2", help="comma-separated (default 1,2)")
    ap.add_argument("-r", "--reps", type=int, default=None, help="repetitions (default 5)")
    ap.add_argument("--ttft-runs", type=int, default=None, help="start-up runs (default 10)")
    ap.add_argument("--batch", type=int, default=8, help="sequences decoding together")
    ap.add_argument("--kiln", default=None, help="kiln binary (default: $KILN_BIN, then "
                    "build/release/cli/kiln)")
    ap.add_argument("--baseline", default=None, metavar="OLD_KILN",
                    help="another kiln binary whose start to first token is measured beside "
                    "kiln's, alternating, with the ratio")
    ap.add_argument("--ttft-only", action="store_true", help="measure only start to first "
                    "token (kiln, llama.cpp and --baseline); no throughput, memory or bandwidth")
    ap.add_argument("--kernels", default="best", help="kiln's CPU kernels (ref, generic, avx2, "
                    "avx512, amx, best; default best)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 reps, 3 start-up runs")
    ap.add_argument("--json", action="store_true", help="print one JSON object, no table")
    ap.add_argument("--idle-window", type=float, default=None,
                    help="seconds the machine must stay idle before a run (default 2)")
    ap.add_argument("--idle-busy", type=float, default=0.05,
                    help="'idle' means under this share of all CPUs busy (default 0.05)")
    ap.add_argument("--idle-cap", type=float, default=None,
                    help="longest wait for idle before one run, s (default 10)")
    ap.add_argument("--wait-budget", type=float, default=None,
                    help="total seconds spent waiting for idle (default 240)")
    ap.add_argument("--retry-busy", type=float, default=0.10,
                    help="rerun a measurement once if others used more than this share")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="time budget; on a loaded machine repetitions are cut short to keep "
                    "to it (default 10, --quick 4)")
    ap.add_argument("--bw-mib", type=int, default=None,
                    help="array size of the numpy DRAM bandwidth check (default 1024 MiB)")
    a = ap.parse_args()
    a.reps = a.reps or (2 if a.quick else 5)
    a.ttft_runs = a.ttft_runs or (3 if a.quick else 10)
    a.idle_window = a.idle_window or (1.0 if a.quick else 2.0)
    a.idle_cap = a.idle_cap or (3.0 if a.quick else 10.0)
    a.bw_mib = a.bw_mib or 1024
    a.wait_budget = a.wait_budget if a.wait_budget is not None else (40.0 if a.quick else 240.0)
    threads_list = [int(x) for x in a.threads.split(",") if x.strip()]
    kiln = find_kiln(a.kiln)
    baseline = None
    if a.baseline:
        if not os.access(a.baseline, os.X_OK):
            sys.exit(f"bench-runtime.py: --baseline {a.baseline}: not found or not executable")
        baseline = os.path.abspath(a.baseline)
    model = os.path.abspath(a.model)
    if not os.path.exists(model):
        sys.exit(f"bench-runtime.py: model {model}: no such file")
    warn = kiln_build_warning(kiln)
    t_begin = time.monotonic()

    shape = model_shape(model)
    extra_bufts_off = no_extra_bufts()
    sysinfo = llama_cpp.llama_print_system_info().decode()
    amx = "AMX" in sysinfo
    cpu_amx = cpu_has_amx()
    amx_vs = cpu_amx and a.kernels in ("best", "amx")  # measure kiln's AVX-512 pp512 as well
    log(f"model: {model}\n  {shape['arch']}, {shape['n_layer']} layers, {shape['n_embd']} embd,"
        f" {shape['n_head']}/{shape['n_head_kv']} heads, tensors {shape['tensor_bytes'] / 1e6:.2f}"
        f" MB, file {shape['file_bytes'] / 1e6:.2f} MB")
    log(f"kiln: {kiln}" + (f"  WARNING: {warn}" if warn else ""))
    log(f"llama.cpp: llama-cpp-python {llama_cpp.__version__}; {sysinfo.strip()}")
    log(f"  {NO_EXTRA_BUFTS}" if extra_bufts_off else
        "  note: this llama-cpp-python has no use_extra_bufts model parameter")
    log(f"kiln kernels: {a.kernels}; CPU {'has' if cpu_amx else 'lacks'} AMX tiles (amx_tile)")
    if not amx:
        log("  note: this llama.cpp build reports no AMX (the CPU performance reference measured "
            "an AMX build)")
    log(f"machine: {NCPU} CPUs; idle = under {100 * a.idle_busy:.0f}% busy for "
        f"{a.idle_window:.1f}s (cap {a.idle_cap:.0f}s per wait, {a.wait_budget:.0f}s in all)")

    b = Bench(a)
    pp_sizes = (128, 512)
    n_tg = 128
    toks = None
    overhead = {}
    # Time slots: 80 % of the budget for the throughput tests, split between thread counts,
    # the rest for start-up, memory and bandwidth. At least one repetition always runs.
    budget_s = 60 * (a.max_minutes or (4 if a.quick else 10))
    cut = []
    for i_t, T in enumerate([] if a.ttft_only else threads_list):
        slot_end = t_begin + 0.8 * budget_s * (i_t + 1) / len(threads_list)
        log(f"threads {T}: loading llama.cpp")
        lr = LlamaRunner(model, T, a.batch)
        toks = token_ids(max(pp_sizes + (n_tg, a.batch)), lr.n_vocab)
        lr.pp(toks[:16])  # warm-up, as kiln bench does
        lr.batched(toks, 2)
        overhead[T] = lr.call_overhead_us()
        for r in range(a.reps):
            if r > 0 and time.monotonic() > slot_end:
                cut.append(f"threads {T}: {r} of {a.reps} reps")
                log(f"time budget: stopping threads {T} after {r} repetitions")
                break
            log(f"threads {T}, repetition {r + 1}/{a.reps}")
            order = ("kiln", "llama.cpp") if r % 2 == 0 else ("llama.cpp", "kiln")
            for n in pp_sizes:
                for rt in order:
                    if rt == "kiln":
                        b.measure(f"pp{n}", rt, T, lambda m, n=n: kiln_bench(
                            kiln, model, T, n, 1, 1, m, a.kernels)["pp_tok_s"])
                        if amx_vs and n == 512:
                            b.measure("pp512 avx512", rt, T, lambda m: kiln_bench(
                                kiln, model, T, 512, 1, 1, m, "avx512")["pp_tok_s"])
                    else:
                        b.measure(f"pp{n}", rt, T, lambda m, n=n: lr.pp(toks[:n]))
            for rt in order:
                if rt == "kiln":
                    def fn(m):
                        j = kiln_bench(kiln, model, T, 1, n_tg, a.batch, m, a.kernels)
                        return {"tg": j["tg_tok_s"], "batch": j["batch_tok_s"]}
                else:
                    def fn(m):
                        return {"tg": lr.tg(toks[:n_tg]),
                                "batch": lr.batched(toks[:a.batch], n_tg)}
                b.measure(f"tg{n_tg}+b{a.batch}", rt, T, fn)
        lr.close()

    # Start to first token, and peak RSS, alternating the two.
    log(f"start to first token: kiln run -n 1 -t 2 vs a fresh Python process, "
        f"{a.ttft_runs} runs each")
    kiln_cmd = [kiln, "run", "-m", model, "-p", TTFT_PROMPT, "-n", "1", "-t", "2", "--kernels",
                a.kernels, "--stats"]
    py_cmd = [sys.executable, "-c", TTFT_CHILD, model, "2", TTFT_PROMPT]
    n_prompt_kiln = None

    def kiln_ttft(m, cmd=kiln_cmd):
        nonlocal n_prompt_kiln
        out, err, ru, wall, _, _ = run_child(cmd)
        m.child_cpu = ru.ru_utime + ru.ru_stime
        st = KILN_STATS.search(err)
        if cmd is kiln_cmd:
            n_prompt_kiln = int(st.group(1)) if st else None
        return {"wall_ms": wall * 1e3, "own_ms": float(st.group(2)) if st else float("nan")}

    def llama_ttft(m):
        out, _, ru, wall, t_spawn, t_exit = run_child(py_cmd)
        m.child_cpu = ru.ru_utime + ru.ru_stime
        j = json.loads(out.strip().splitlines()[-1])
        return {"wall_ms": wall * 1e3,
                "py_start_ms": (j["t_start"] - t_spawn) / 1e6,
                "import_ms": (j["t_import"] - j["t_start"]) / 1e6,
                "own_ms": (j["t_first"] - j["t_import"]) / 1e6,
                "exit_ms": (t_exit - j["t_first"]) / 1e6, "n_prompt": j["n_prompt"]}

    base_cmd = [baseline] + kiln_cmd[1:] if baseline else None
    ttft_fns = {"kiln": kiln_ttft, "llama.cpp": llama_ttft,
                "baseline": lambda m: kiln_ttft(m, base_cmd)}
    ttft_order = ["kiln", "llama.cpp"] + (["baseline"] if baseline else [])

    run_child(kiln_cmd)  # warm the page cache for all
    run_child(py_cmd)
    if base_cmd:
        run_child(base_cmd)
    for r in range(a.ttft_runs):
        if r > 2 and time.monotonic() > t_begin + 0.95 * budget_s:
            cut.append(f"start-up: {r} of {a.ttft_runs} runs")
            log(f"time budget: stopping start-up runs after {r}")
            break
        for rt in (ttft_order if r % 2 == 0 else ttft_order[::-1]):
            b.measure("ttft", rt, 2, ttft_fns[rt])
    if baseline:
        baseline_lines = ttft_baseline_lines(b, kiln, baseline)
        for line in baseline_lines:
            log(line)
    if a.ttft_only:
        if a.json:
            print(json.dumps({"kiln": kiln, "baseline": baseline, "runs": b.runs}, indent=1))
        out = sys.stderr if a.json else sys.stdout
        print(f"\nstart to first token ({a.ttft_runs} runs each, alternating; "
              f"{' '.join(kiln_cmd[1:])}); median [min-max]:", file=out)
        for rt in ttft_order:
            w, o = b.kept("ttft", rt, 2, "wall_ms"), b.kept("ttft", rt, 2, "own_ms")
            if w:
                print(f"  {rt:9s} process wall {w['median']:.1f} ms [{w['min']:.1f}-"
                      f"{w['max']:.1f}]" + (f", in-process {o['median']:.1f} ms"
                                           if rt != "llama.cpp" else ""), file=out)
        for line in baseline_lines if baseline else []:
            print(line, file=out)
        return

    # Peak RSS through GNU time: a child forked from this (large) Python process inherits its
    # high-water mark, so wait4's ru_maxrss would overstate it.
    rss_big_ctx = 2048
    rss = {"kiln": [], "kiln_c2048": [], "llama.cpp": [], "llama.cpp_python": []}
    if os.access(GNU_TIME, os.X_OK):
        log("peak RSS through /usr/bin/time")
        for _ in range(3):
            rss["kiln"].append(run_child(kiln_cmd, rss=True)[2] / 1024)
            rss["kiln_c2048"].append(
                run_child(kiln_cmd[:-1] + ["-c", str(rss_big_ctx)], rss=True)[2] / 1024)
            out, _, kb = run_child(py_cmd, rss=True)[:3]
            j = json.loads(out.strip().splitlines()[-1])
            rss["llama.cpp"].append(kb / 1024)
            rss["llama.cpp_python"].append(j["rss_import_kb"] / 1024)
        log("  kiln {:.1f} MiB, kiln -c {} {:.1f} MiB, llama.cpp process {:.1f} MiB of which "
            "Python+imports {:.1f} MiB".format(statistics.median(rss["kiln"]), rss_big_ctx,
                                                statistics.median(rss["kiln_c2048"]),
                                                statistics.median(rss["llama.cpp"]),
                                                statistics.median(rss["llama.cpp_python"])))
    else:
        log(f"peak RSS: skipped, {GNU_TIME} is missing (Debian package 'time')")

    # Two working sets: the model's size (the large shared L3 helps, unreliably) and DRAM.
    model_mib = max(16, int(shape["tensor_bytes"] / MIB))
    bw_numpy = {}
    for label, mib in (("model", model_mib), ("dram", max(a.bw_mib, model_mib))):
        b.idle.wait()
        bw_numpy[label] = numpy_bandwidth(mib)
        bw_numpy[label]["mib"] = mib
        log(f"memory bandwidth, numpy int64 sum over {mib} MiB: {bw_numpy[label][1]:.1f} GB/s "
            f"(1 thread), {bw_numpy[label][2]:.1f} GB/s (2 Python threads)")

    # ----- results -----
    kv_mean_tg = kv_bytes(shape, (n_tg + 1) / 2)
    bytes_per_tok = shape["weight_read_bytes_per_token"] + kv_mean_tg
    res = {
        "model": model, "shape": shape, "kiln": kiln, "kiln_build_warning": warn,
        "llama_cpp_python": llama_cpp.__version__, "llama_cpp_system_info": sysinfo.strip(),
        "llama_cpp_amx": amx, "threads": threads_list, "reps": a.reps,
        "ttft_runs": a.ttft_runs, "batch": a.batch, "python_overhead_us": overhead,
        "bytes_per_token": bytes_per_tok, "kv_mean_bytes_tg128": kv_mean_tg,
        "bandwidth_gbs_reference": REF_BW_GBS, "bandwidth_gbs_numpy": bw_numpy,
        "idle_wait_s_total": round(b.idle.waited_total, 1), "metrics": {}, "runs": b.runs,
    }
    rows = []  # (label, kiln stat, llama stat, ratio, better-when, note)

    def add(key, label, ks, ls, higher_better, fmt, note=""):
        ratio = None
        if ks and ls and ks["median"] and ls["median"]:
            ratio = ks["median"] / ls["median"] if higher_better else \
                ls["median"] / ks["median"]
        res["metrics"][key] = {"kiln": ks, "llama.cpp": ls, "ratio_kiln_better_gt1": ratio,
                               "higher_is_better": higher_better, "note": note}
        rows.append((label, ks, ls, ratio, fmt, note))

    for T in threads_list:
        for n in pp_sizes:
            bz = b.busy(f"pp{n}", T)
            add(f"pp{n}_t{T}", f"pp{n} tok/s, {T} thr", b.kept(f"pp{n}", "kiln", T),
                b.kept(f"pp{n}", "llama.cpp", T), True, "{:.1f}",
                f"others busy {100 * bz:.0f}%")
        name = f"tg{n_tg}+b{a.batch}"
        bz = b.busy(name, T)
        ktg, ltg = b.kept(name, "kiln", T, "tg"), b.kept(name, "llama.cpp", T, "tg")
        kb, lb = b.kept(name, "kiln", T, "batch"), b.kept(name, "llama.cpp", T, "batch")
        per_tok_us = 1e6 / ltg["median"]
        ov = overhead[T]["eval_wrapper_us"]
        add(f"tg{n_tg}_t{T}", f"tg{n_tg} tok/s, {T} thr", ktg, ltg, True, "{:.1f}",
            f"others busy {100 * bz:.0f}%; llama.cpp eval() Python overhead {ov:.1f} us/tok "
            f"= {100 * ov / per_tok_us:.2f}%")
        add(f"batch{a.batch}_t{T}", f"batch{a.batch} aggregate tok/s, {T} thr", kb, lb, True,
            "{:.1f}", "llama.cpp: llama_batch, 8 seq ids, 128 steps")
        kr = stat([x / y for x, y in zip(kb["values"], ktg["values"])])
        lrr = stat([x / y for x, y in zip(lb["values"], ltg["values"])])
        add(f"batch_gain_t{T}", f"batch{a.batch} / tg{n_tg}, {T} thr", kr, lrr, True, "{:.2f}x",
            "each runtime's own gain from batching")
        bw = REF_BW_GBS.get(T, REF_BW_GBS[2])
        roof = bw * 1e9 / bytes_per_tok
        ksh = stat([v / roof for v in ktg["values"]])
        lsh = stat([v / roof for v in ltg["values"]])
        add(f"bw_share_t{T}", f"tg{n_tg} share of roof, {T} thr", ksh, lsh, True, "{:.0%}",
            f"DRAM roof {roof:.0f} tok/s = {bw} GB/s (reference) / {bytes_per_tok / 1e6:.2f} "
            "MB/tok")
        bwm = max(bw_numpy["model"][k] for k in range(1, min(T, 2) + 1))  # best of 1 and 2
        roof_m = bwm * 1e9 / bytes_per_tok
        add(f"bw_share_model_t{T}", f"tg{n_tg} share of numpy roof, {T} thr",
            stat([v / roof_m for v in ktg["values"]]), stat([v / roof_m for v in ltg["values"]]),
            True, "{:.0%}", f"roof {roof_m:.0f} tok/s = {bwm:.1f} GB/s measured over "
            f"{bw_numpy['model']['mib']} MiB (L3 helps)")

    kt = b.kept("ttft", "kiln", 2, "wall_ms")
    lown = b.kept("ttft", "llama.cpp", 2, "own_ms")
    lwall = b.kept("ttft", "llama.cpp", 2, "wall_ms")
    lpy = b.kept("ttft", "llama.cpp", 2, "py_start_ms")
    limp = b.kept("ttft", "llama.cpp", 2, "import_ms")
    lexit = b.kept("ttft", "llama.cpp", 2, "exit_ms")
    n_prompt_llama = b.kept("ttft", "llama.cpp", 2, "n_prompt")
    add("ttft_ms", "start->1st token ms", kt, lown, False, "{:.1f}",
        "kiln: process wall; llama.cpp: load+tokenize+prompt+token after Python start+import "
        f"(prompt {n_prompt_kiln} / {n_prompt_llama['median']:.0f} tokens)")
    add("ttft_own_ms", "start->1st token ms, in-process", b.kept("ttft", "kiln", 2, "own_ms"),
        lown, False, "{:.1f}", "kiln --stats 'first token after'")
    add("ttft_wall_ms", "process wall ms, incl. Python", kt, lwall, False, "{:.1f}",
        f"Python start {lpy['median']:.0f} ms + import {limp['median']:.0f} ms + own "
        f"{lown['median']:.0f} ms + exit {lexit['median']:.0f} ms")
    res["rss_mib"] = rss
    if rss["kiln"]:
        krss, krss2 = stat(rss["kiln"]), stat(rss["kiln_c2048"])
        lrss, lpyrss = stat(rss["llama.cpp"]), stat(rss["llama.cpp_python"])
        l_own_rss = stat([x - y for x, y in zip(lrss["values"], lpyrss["values"])])
        add("rss_mib", "peak RSS MiB, run -n 1", krss, l_own_rss, False, "{:.1f}",
            f"llama.cpp (n_ctx 512): process peak {lrss['median']:.0f} minus Python+imports "
            f"{lpyrss['median']:.0f}")
        n_ctx_kiln = (n_prompt_kiln or 0) + 1 + 1
        for label, ks, n_ctx in (("rss_budget", krss, n_ctx_kiln),
                                 ("rss_budget_c2048", krss2, rss_big_ctx)):
            budget = (shape["file_bytes"] + kv_bytes(shape, n_ctx)) / MIB + 64
            add(label, f"kiln RSS / budget, ctx {n_ctx}",
                stat([v / budget for v in ks["values"]]), None, False, "{:.0%}",
                f"peak {ks['median']:.1f} MiB; budget {budget:.1f} MiB = file + KV "
                f"{kv_bytes(shape, n_ctx) / MIB:.1f} + 64 MiB")
    amx_lines = []
    res["amx_vs_avx512"] = {}
    for T in threads_list:
        if not amx_vs:
            break
        ka, kv = b.kept("pp512", "kiln", T), b.kept("pp512 avx512", "kiln", T)
        if ka and kv:
            r = ka["median"] / kv["median"]
            res["amx_vs_avx512"][T] = {"amx": ka, "avx512": kv, "ratio": r}
            amx_lines.append(f"kiln pp512, {T} thr: AMX {ka['median']:.1f} tok/s against "
                             f"AVX-512 {kv['median']:.1f} tok/s = {r:.2f}x")
    if not cpu_amx:
        amx_lines.append("AMX against AVX-512: not measured, this CPU has no AMX tiles "
                         "(no amx_tile in /proc/cpuinfo)")
    res["llama_cpp_use_extra_bufts"] = not extra_bufts_off
    res["kiln_kernels"] = a.kernels
    res["cpu_amx"] = cpu_amx
    res["elapsed_s"] = round(time.monotonic() - t_begin, 1)

    n_busy = sum(1 for r in b.runs if r.get("kept") and r["foreign_busy"] > a.retry_busy)
    n_kept = sum(1 for r in b.runs if r.get("kept"))
    res["runs_busy"] = n_busy
    res["cut_short"] = cut
    if a.json:
        print(json.dumps(res, indent=1))
    out = sys.stderr if a.json else sys.stdout

    def cell(s, fmt):
        if not s:
            return "-"
        if s["n"] == 1:
            return fmt.format(s["median"])
        return f"{fmt.format(s['median'])} [{fmt.format(s['min'])}-{fmt.format(s['max'])}]"

    print(file=out)
    print(f"model {os.path.basename(model)}: {shape['n_layer']} layers, "
          f"{shape['tensor_bytes'] / 1e6:.2f} MB of tensors; decode reads "
          f"{bytes_per_tok / 1e6:.2f} MB/token ({shape['weight_read_bytes_per_token'] / 1e6:.2f}"
          f" weights + {kv_mean_tg / 1e6:.2f} mean KV over tg{n_tg})", file=out)
    print(f"llama.cpp: llama-cpp-python {llama_cpp.__version__}, "
          f"{'AMX' if amx else 'no AMX'} in its system info; "
          f"{NO_EXTRA_BUFTS if extra_bufts_off else 'use_extra_bufts not settable'}", file=out)
    print(f"kiln: --kernels {a.kernels}; CPU: {cpu_model()} ({'AMX' if cpu_amx else 'no AMX'})",
          file=out)
    print(f"bandwidth: reference {REF_BW_GBS[1]} GB/s (1 thr), {REF_BW_GBS[2]} GB/s (2 thr); "
          f"numpy read here {bw_numpy['dram'][1]:.1f} / {bw_numpy['dram'][2]:.1f} GB/s (1 / 2 "
          f"thr, {bw_numpy['dram']['mib']} MiB), {bw_numpy['model'][1]:.1f} / "
          f"{bw_numpy['model'][2]:.1f} GB/s at the model's size ({bw_numpy['model']['mib']} MiB)",
          file=out)
    for T in threads_list:
        o = overhead[T]
        print(f"Python per-call overhead (t={T}): empty call {o['empty_call_us']:.2f} us, ctypes "
              f"call {o['ctypes_call_us']:.2f} us, eval() wrapper {o['eval_wrapper_us']:.1f} us",
              file=out)
    print(f"{a.reps} reps (start-up: {a.ttft_runs}), median [min-max]; ratio > 1 means kiln is "
          f"better (throughput kiln/llama.cpp, time and memory llama.cpp/kiln); waited "
          f"{b.idle.waited_total:.0f}s for idle; total {res['elapsed_s']:.0f}s; 'others busy' = "
          f"share of all {NCPU} CPUs used by other processes during the runs", file=out)
    if n_busy:
        print(f"NOTE: in {n_busy} of {n_kept} runs other processes used more than "
              f"{100 * a.retry_busy:.0f}% of the machine: those figures are noisy", file=out)
    if cut:
        print(f"NOTE: the {budget_s / 60:g}-minute budget cut repetitions short: "
              f"{'; '.join(cut)}", file=out)
    if warn:
        print(f"WARNING: {warn}", file=out)
    table = [("metric", "kiln", "llama.cpp", "ratio", "note")]
    for label, ks, ls, ratio, fmt, note in rows:
        table.append((label, cell(ks, fmt), cell(ls, fmt),
                      "-" if ratio is None else f"{ratio:.2f}", note))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(r[:4], widths))) + "  " + r[4], file=out)
        if i == 0:
            print("-" * (sum(widths) + 8 + max(len(x[4]) for x in table)), file=out)
    for line in amx_lines:
        print(line, file=out)
    for line in baseline_lines if baseline else []:
        print(line, file=out)


if __name__ == "__main__":
    main()

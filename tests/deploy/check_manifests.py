#!/usr/bin/python3
"""Checks the deployment files in deploy/ (README.md, "Running kiln on many machines").

- k8s-eval-job.yaml: the Indexed Job's pods, run with JOB_COMPLETION_INDEX = 0 .. N-1 and a
  stub kiln, ask for shards i/N with N = completions, each once, into distinct files; the
  merge Job waits for exactly those files and merges them all.
- slurm-eval.sh: array tasks 0 .. N-1 (N = the --array size) ask for shards i/N; the merge
  takes every shard's file; submitting chains the merge after the array.
- k8s-serve.yaml: Deployment, Service and HorizontalPodAutoscaler agree on names, labels and
  ports; readiness is /health and liveness another probe; resources and the sandbox's
  privileges are stated.
- nginx-kiln.conf: `nginx -t` accepts it, and it keeps SSE unbuffered and POSTs unretried.
Usage: check_manifests.py DEPLOY_DIR. Exits 77 (skipped) without python3-yaml or nginx.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("skipped: no python3-yaml (scripts/setup.sh installs it)")
    sys.exit(77)

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
if not NGINX:
    print("skipped: no nginx (scripts/setup.sh installs it)")
    sys.exit(77)

deploy = os.path.abspath(sys.argv[1])
tmp = tempfile.mkdtemp(prefix="kiln-deploy-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def stub_bin():
    """A folder with a `kiln` (and `sbatch`) that print their arguments, one per line."""
    d = os.path.join(tmp, "bin")
    os.makedirs(d, exist_ok=True)
    for name in ("kiln", "sbatch"):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            if name == "sbatch":  # logs its arguments, answers a job id as --parsable does
                f.write("#!/bin/sh\nprintf '%s\\n' \"$@\" >>\"$SBATCH_LOG\"\necho 4242\n")
            else:
                f.write("#!/bin/sh\necho %s\nprintf '%%s\\n' \"$@\"\n" % name)
        os.chmod(path, 0o755)
    return d


BIN = stub_bin()


def run(argv, env, cwd=None):
    e = dict(os.environ)
    e.update(env)
    e["PATH"] = BIN + ":" + e["PATH"]
    p = subprocess.run(argv, env=e, cwd=cwd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s exited %d: %s" % (argv[:3], p.returncode, p.stderr[-500:]))
    return p.stdout.splitlines()


def after(args, opt):
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == opt]


def check_shards(kind, n, shards, outs):
    """shards[i]: the --shard values pod/task i asked for."""
    check(n >= 1, "%s: N = %d" % (kind, n))
    for i in range(n):
        check(shards[i] == ["%d/%d" % (i, n)], "%s: task %d asks for %s, not %d/%d" % (kind, i, shards[i], i, n))
    check(len(set(outs)) == n, "%s: the shards' --out files are not distinct: %s" % (kind, outs))
    # every task index 0..T-1 of a file lands in exactly one shard
    for t in range(3 * n + 2):
        owners = [i for i in range(n) if shards[i] and t % n == int(shards[i][0].split("/")[0])]
        check(len(owners) == 1, "%s: task %d is in shards %s" % (kind, t, owners))


def env_of(container):
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


# --- Kubernetes Indexed Job ---------------------------------------------------------------------
docs = [d for d in yaml.safe_load_all(open(os.path.join(deploy, "k8s-eval-job.yaml"))) if d]
jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
shard_job = [j for j in jobs.values() if j["spec"].get("completionMode") == "Indexed"]
check(len(shard_job) == 1, "k8s-eval-job.yaml: one Indexed Job")
spec = shard_job[0]["spec"]
n = spec["completions"]
check(1 <= spec.get("parallelism", n) <= n, "Indexed Job: parallelism within 1..completions")
pod = spec["template"]["spec"]
c = pod["containers"][0]
check(env_of(c).get("SHARDS") == str(n), "Indexed Job: SHARDS %s != completions %d" % (env_of(c).get("SHARDS"), n))
check(c["securityContext"].get("privileged") is True, "Indexed Job: the sandbox's privileges")
check("requests" in c["resources"] and "limits" in c["resources"], "Indexed Job: resources")
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
shards, outs = [], []
for i in range(n):
    env = env_of(c)
    env["JOB_COMPLETION_INDEX"] = str(i)
    args = run(c["command"] + c["args"], env)
    check(args[:3] == ["kiln", "eval", "/tasks/kiln-python.jsonl"], "Indexed Job: runs kiln eval on the tasks")
    shards.append(after(args, "--shard"))
    outs += after(args, "--out")
check_shards("Indexed Job", n, shards, outs)
check(all(o.startswith(mounts["results"] + "/") for o in outs), "Indexed Job: results on the volume")

merge = [j for j in jobs.values() if j is not shard_job[0]]
check(len(merge) == 1, "k8s-eval-job.yaml: one merge Job")
mpod = merge[0]["spec"]["template"]["spec"]
mc = mpod["containers"][0]
check(env_of(mc).get("SHARDS") == str(n), "merge Job: SHARDS != completions")
args = run(mc["command"] + mc["args"], env_of(mc))
check(args[:3] == ["kiln", "eval", "merge"], "merge Job: runs kiln eval merge")
check(sorted(a for a in args if a.startswith("/results/shard-")) == sorted(outs), "merge Job: merges every shard's file: %s" % args)
# The wait loop returns once every shard's file ends with a summary (results moved to tmp).
init = mpod["initContainers"][0]
check(env_of(init).get("SHARDS") == str(n), "merge Job's wait: SHARDS != completions")
res = os.path.join(tmp, "results")
os.makedirs(res)
for i in range(n):
    with open(os.path.join(res, "shard-%d.jsonl" % i), "w") as f:
        f.write('{"task_id":"t"}\n{"summary":{"shard":"%d/%d"}}\n' % (i, n))
script = init["args"][0].replace("/results", res)
p = subprocess.run(["/bin/sh", "-c", script], env=dict(os.environ, **env_of(init)), timeout=20)
check(p.returncode == 0, "merge Job's wait: does not return when every shard has finished")

# --- Slurm array ----------------------------------------------------------------------------------
slurm = os.path.join(deploy, "slurm-eval.sh")
text = open(slurm).read()
m = re.search(r"^#SBATCH --array=(\d+)-(\d+)\s*$", text, re.M)
check(m is not None, "slurm-eval.sh: #SBATCH --array=0-(N-1)")
first, last = int(m.group(1)), int(m.group(2))
check(first == 0, "slurm-eval.sh: the array starts at 0")
n = last - first + 1
m = re.search(r"^SHARDS=(\d+)$", text, re.M)
check(m is not None and int(m.group(1)) == n, "slurm-eval.sh: SHARDS = the array's size %d" % n)
shards, outs = [], []
for i in range(first, last + 1):
    args = run([slurm, "tasks.jsonl", "res", "-n", "4", "-k", "1,4"],
               {"SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_COUNT": str(n), "KILN": "kiln"})
    check(args[:3] == ["kiln", "eval", "tasks.jsonl"] and "-n" in args,
          "slurm-eval.sh: runs kiln eval with the options: %s" % args)
    shards.append(after(args, "--shard"))
    outs += after(args, "--out")
check_shards("Slurm array", n, shards, outs)
args = run([slurm, "tasks.jsonl", "res", "-k", "1,4"], {"KILN_EVAL_MERGE": "1", "KILN": "kiln"})
check(args[:3] == ["kiln", "eval", "merge"] and after(args, "-k") == ["1,4"], "slurm-eval.sh: merge with the shards' -k")
check(sorted(a for a in args if a.startswith("res/shard-")) == sorted(outs), "slurm-eval.sh: the merge takes every shard")
log = os.path.join(tmp, "sbatch.log")
run([slurm, "tasks.jsonl", os.path.join(tmp, "sres")], {"KILN": "kiln", "SBATCH_LOG": log})
lines = open(log).read().splitlines()
check(lines.count("--parsable") == 2, "slurm-eval.sh: submits the array and the merge")
check("--dependency=afterok:4242" in lines, "slurm-eval.sh: the merge waits for the array")
check(any(a.startswith("KILN_EVAL_MERGE=1 ") for a in lines), "slurm-eval.sh: the merge job merges")

# --- kiln serve: Deployment, Service, HPA ---------------------------------------------------------
docs = [d for d in yaml.safe_load_all(open(os.path.join(deploy, "k8s-serve.yaml"))) if d]
kinds = {d["kind"]: d for d in docs}
check(set(kinds) >= {"Deployment", "Service", "HorizontalPodAutoscaler"}, "k8s-serve.yaml: Deployment, Service, HPA")
dep, svc, hpa = kinds["Deployment"], kinds["Service"], kinds["HorizontalPodAutoscaler"]
labels = dep["spec"]["template"]["metadata"]["labels"]
check(dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), "Deployment: selector matches its pods")
check(svc["spec"]["selector"].items() <= labels.items(), "Service: selector matches the pods")
check(hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA: scales the Deployment")
check(hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], "HPA: min <= max")
c = dep["spec"]["template"]["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check(str(ports.get("http")) in c["args"], "Deployment: kiln serve --port is the container port")
check(c["args"][0] == "serve", "Deployment: runs kiln serve")
rp, lp = c["readinessProbe"], c["livenessProbe"]
check(rp.get("httpGet", {}).get("path") == "/health", "Deployment: readiness is /health")
check(lp != rp and lp.get("httpGet", {}).get("path") != "/health", "Deployment: liveness is a separate probe")
check(svc["spec"]["ports"][0]["targetPort"] in ("http", ports.get("http")), "Service: targets the serve port")
check(c["resources"]["requests"]["cpu"] == c["resources"]["limits"]["cpu"], "Deployment: CPU requested as limited")
check(c["securityContext"].get("privileged") is True, "Deployment: the sandbox's privileges")
check(not any("key" in a for a in c["args"]), "Deployment: no API key on the command line")
grace = int(c["args"][c["args"].index("--grace-ms") + 1]) / 1000
check(dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace, "Deployment: grace period above --grace-ms")

# --- nginx ------------------------------------------------------------------------------------------
conf = os.path.join(deploy, "nginx-kiln.conf")
text = re.sub(r"#.*", "", open(conf).read())
up = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", text)
check(up is not None and len(re.findall(r"^\s*server\s", up.group(2), re.M)) == 3, "nginx: three replicas upstream")
for directive in ("proxy_buffering off;", "proxy_http_version 1.1;", "proxy_cache off;"):
    check(directive in text, "nginx: %s" % directive)
nu = re.search(r"proxy_next_upstream\s+([^;]*);", text)
check(nu is not None and set(nu.group(1).split()) == {"error", "timeout", "http_502", "http_503"},
      "nginx: retries on error, timeout, 502, 503 only (no non_idempotent)")
rt = re.search(r"proxy_read_timeout\s+(\d+)s;", text)
check(rt is not None and int(rt.group(1)) >= 300, "nginx: long read timeout for streams")
main = os.path.join(tmp, "nginx.conf")
with open(main, "w") as f:
    f.write("pid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\nhttp {\n"
            "access_log off;\nclient_body_temp_path %s;\nproxy_temp_path %s;\n"
            "fastcgi_temp_path %s;\nuwsgi_temp_path %s;\nscgi_temp_path %s;\ninclude %s;\n}\n"
            % ((tmp, tmp) + (tmp,) * 5 + (conf,)))
p = subprocess.run([NGINX, "-t", "-q", "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", main],
                   capture_output=True, text=True)
check(p.returncode == 0, "nginx -t: %s" % p.stderr.strip())

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("deploy/: Indexed Job and Slurm array shards 0..N-1 of N, merges, serve manifests, nginx -t: ok")

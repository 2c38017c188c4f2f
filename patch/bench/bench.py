#!/usr/bin/env python3
"""kiln patch benchmark: stubs in small fixture repositories, written here with their tests
(4 Python packages, 2 C projects, 36 stubs), each made a git repository and given to
`kiln patch`; prints the share of stubs that get a verified patch, the share where a patch was
proposed but not verified, the median seconds per stub split into generate and test, and the
false-verified count: every verified patch's tests are run again outside the sandbox on a clone
with the diff applied (git apply).

    patch/bench/bench.py [--kiln build/release/cli/kiln] [--quick] [--work DIR] [-- KILN ARGS]

--quick: one stub of one Python repository, few candidates (the test suite runs this). Extra arguments after -- go to kiln patch (default: -n 4 --rounds 1).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

PY = "/usr/bin/python3"


def py_repo(name, module, header, funcs, tests):
    """funcs: (signature, docstring, stub body); tests: {func: [assert lines]}."""
    src = header
    for sig, doc, stub in funcs:
        src += f"\n\n{sig}\n    \"\"\"{doc}\"\"\"\n" + (f"    {stub}\n" if stub else "")
    t = f"from {name}.{module} import *\n"
    for fn, lines in tests.items():
        t += f"\n\ndef test_{fn}():\n" + "".join(f"    {l}\n" for l in lines)
    return {
        "name": name, "lang": "python", "test_cmd": None,
        "files": {f"{name}/__init__.py": "", f"{name}/{module}.py": src,
                  f"tests/test_{module}.py": t},
    }


def c_repo(name, funcs, tests, make=True):
    """funcs: (comment, prototype, stub body); tests: {func: [assert lines]}. The tests run with
    `make test T=NAME` (GNU make in the box), or with make=False through `sh tests/run.sh NAME`."""
    h = "".join(f"{proto};\n" for _, proto, _ in funcs)
    src = f"#include \"{name}.h\"\n"
    for comment, proto, stub in funcs:
        src += f"\n/* {comment} */\n{proto}\n{{\n{stub}}}\n"
    files = {f"src/{name}.h": h, f"src/{name}.c": src}
    if make:
        files["Makefile"] = ("CFLAGS = -std=c11 -O1\n\n.PHONY: test\ntest:\n"
                             "\tgcc $(CFLAGS) -o t tests/test_$(T).c src/*.c\n\t./t\n")
    else:
        files["tests/run.sh"] = "set -e\ngcc -std=c11 -O1 -o t \"tests/test_$1.c\" src/*.c\n./t\n"
    for fn, lines in tests.items():
        files[f"tests/test_{fn}.c"] = (
            f"#include <assert.h>\n#include <string.h>\n#include \"../src/{name}.h\"\n\n"
            "int main(void)\n{\n" + "".join(f"    assert({l});\n" for l in lines) +
            "    return 0;\n}\n")
    test_cmd = "make -s test T={name}" if make else "sh tests/run.sh {name}"
    return {"name": name, "lang": "c", "test_cmd": test_cmd, "files": files}


REPOS = [
    py_repo("textutil", "text", "", [
        ("def reverse_words(s):", "Return the words of s in reverse order, joined by spaces.", "pass"),
        ("def count_vowels(s):", "Return how many vowels (aeiou, lowercase) s contains.", "..."),
        ("def is_palindrome(s):", "Return True when s reads the same backwards.", "pass"),
        ("def capitalize_words(s):", "Return s with the first letter of every word in upper case.",
         "raise NotImplementedError"),
        ("def remove_spaces(s):", "Return s without its space characters.", "pass"),
        ("def repeat_string(s, n):", "Return s repeated n times.", None),
    ], {
        "reverse_words": ["assert reverse_words('a b c') == 'c b a'", "assert reverse_words('hi') == 'hi'"],
        "count_vowels": ["assert count_vowels('banana') == 3", "assert count_vowels('xyz') == 0"],
        "is_palindrome": ["assert is_palindrome('level')", "assert not is_palindrome('abc')"],
        "capitalize_words": ["assert capitalize_words('hello world') == 'Hello World'"],
        "remove_spaces": ["assert remove_spaces('a b  c') == 'abc'"],
        "repeat_string": ["assert repeat_string('ab', 3) == 'ababab'", "assert repeat_string('x', 0) == ''"],
    }),
    py_repo("mathutil", "nums", "", [
        ("def factorial(n):", "Return n! for n >= 0.", "pass"),
        ("def is_even(n):", "Return True when n is even.", "..."),
        ("def gcd(a, b):", "Return the greatest common divisor of a and b.", "pass"),
        ("def sum_list(xs):", "Return the sum of the numbers in xs.", "pass"),
        ("def max_of_three(a, b, c):", "Return the largest of a, b and c.", "raise NotImplementedError()"),
        ("def fibonacci(n):", "Return the n-th Fibonacci number (fibonacci(0) == 0, fibonacci(1) == 1).", "pass"),
    ], {
        "factorial": ["assert factorial(0) == 1", "assert factorial(5) == 120"],
        "is_even": ["assert is_even(4)", "assert not is_even(7)"],
        "gcd": ["assert gcd(12, 18) == 6", "assert gcd(7, 5) == 1"],
        "sum_list": ["assert sum_list([1, 2, 3]) == 6", "assert sum_list([]) == 0"],
        "max_of_three": ["assert max_of_three(1, 5, 3) == 5", "assert max_of_three(-1, -2, -3) == -1"],
        "fibonacci": ["assert fibonacci(0) == 0", "assert fibonacci(10) == 55"],
    }),
    py_repo("listutil", "lists", "", [
        ("def flatten(xss):", "Return one list with the items of the lists in xss, in order.", "pass"),
        ("def unique(xs):", "Return the items of xs without repeats, first occurrences in order.", "pass"),
        ("def last_element(xs):", "Return the last item of xs, or None when xs is empty.", "..."),
        ("def count_positive(xs):", "Return how many numbers in xs are greater than zero.", "pass"),
        ("def double_all(xs):", "Return a list with every number of xs doubled.", "pass"),
        ("def merge_sorted(a, b):", "Merge two sorted lists into one sorted list.", "raise NotImplementedError"),
    ], {
        "flatten": ["assert flatten([[1, 2], [3], []]) == [1, 2, 3]"],
        "unique": ["assert unique([1, 2, 1, 3, 2]) == [1, 2, 3]"],
        "last_element": ["assert last_element([1, 2, 3]) == 3", "assert last_element([]) is None"],
        "count_positive": ["assert count_positive([1, -2, 3, 0]) == 2"],
        "double_all": ["assert double_all([1, 2, 3]) == [2, 4, 6]"],
        "merge_sorted": ["assert merge_sorted([1, 4], [2, 3, 5]) == [1, 2, 3, 4, 5]"],
    }),
    py_repo("shapes", "geometry", "import math\n", [
        ("def rectangle_area(w, h):", "Return the area of a w by h rectangle.", "pass"),
        ("def circle_area(r):", "Return the area of a circle of radius r (use math.pi).", "pass"),
        ("def square_perimeter(s):", "Return the perimeter of a square of side s.", None),
        ("def is_square(w, h):", "Return True when a w by h rectangle is a square.", "..."),
        ("def clamp(x, lo, hi):", "Return x limited to the range lo..hi.", "pass"),
        ("def hypotenuse(a, b):", "Return the hypotenuse of a right triangle with legs a and b.", "pass"),
    ], {
        "rectangle_area": ["assert rectangle_area(2, 3) == 6"],
        "circle_area": ["assert abs(circle_area(1) - 3.14159) < 0.001"],
        "square_perimeter": ["assert square_perimeter(5) == 20"],
        "is_square": ["assert is_square(2, 2)", "assert not is_square(2, 3)"],
        "clamp": ["assert clamp(5, 0, 3) == 3", "assert clamp(-1, 0, 3) == 0", "assert clamp(2, 0, 3) == 2"],
        "hypotenuse": ["assert abs(hypotenuse(3, 4) - 5) < 1e-9"],
    }),
    c_repo("cmath", [
        ("Returns the larger of a and b.", "int max2(int a, int b)", "    /* TODO */\n    return 0;\n"),
        ("Returns the smaller of a and b.", "int min2(int a, int b)", ""),
        ("Returns the absolute value of x.", "int abs_val(int x)", "    // TODO\n    return 0;\n"),
        ("Returns the sum 1 + 2 + ... + n.", "int sum_to(int n)", ""),
        ("Returns 1 when n is a prime number, else 0.", "int is_prime(int n)", "    /* TODO */\n    return 0;\n"),
        ("Returns n times n.", "int square(int n)", ""),
    ], {
        "max2": ["max2(1, 2) == 2", "max2(5, 3) == 5"],
        "min2": ["min2(1, 2) == 1", "min2(5, 3) == 3"],
        "abs_val": ["abs_val(-4) == 4", "abs_val(3) == 3"],
        "sum_to": ["sum_to(4) == 10", "sum_to(1) == 1"],
        "is_prime": ["is_prime(7) == 1", "is_prime(9) == 0", "is_prime(2) == 1"],
        "square": ["square(3) == 9", "square(-2) == 4"],
    }),
    c_repo("cstr", [
        ("Returns the length of the string s.", "int str_len(const char *s)", ""),
        ("Returns how many times c occurs in s.", "int count_char(const char *s, char c)", "    /* TODO */\n    return 0;\n"),
        ("Returns c in upper case when it is a lowercase letter, else c.", "char to_upper(char c)", ""),
        ("Returns 1 when c is a decimal digit, else 0.", "int is_digit(char c)", "    /* TODO */\n    return 0;\n"),
        ("Returns 1 when the strings a and b are equal, else 0.", "int str_eq(const char *a, const char *b)", ""),
        ("Returns the number of words (runs of non-space characters) in s.", "int count_words(const char *s)", ""),
    ], {
        "str_len": ["str_len(\"hello\") == 5", "str_len(\"\") == 0"],
        "count_char": ["count_char(\"banana\", 'a') == 3", "count_char(\"xyz\", 'a') == 0"],
        "to_upper": ["to_upper('a') == 'A'", "to_upper('Q') == 'Q'", "to_upper('1') == '1'"],
        "is_digit": ["is_digit('5') == 1", "is_digit('x') == 0"],
        "str_eq": ["str_eq(\"ab\", \"ab\") == 1", "str_eq(\"ab\", \"abc\") == 0"],
        "count_words": ["count_words(\"one two  three\") == 3", "count_words(\"\") == 0"],
    }, make=False),
]


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def make_repo(repo, root):
    d = os.path.join(root, repo["name"])
    shutil.rmtree(d, ignore_errors=True)
    for path, text in repo["files"].items():
        p = os.path.join(d, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    git("init", "-q", ".", cwd=d)
    git("add", "-A", cwd=d)
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "stubs", cwd=d)
    return d


def recheck(repo, d, diff, targets, root):
    """Reruns each verified target's tests outside the sandbox; returns the false-verified."""
    chk = os.path.join(root, repo["name"] + "-check")
    shutil.rmtree(chk, ignore_errors=True)
    git("clone", "-q", d, chk, cwd=root)
    subprocess.run(["git", "apply", "-"], cwd=chk, input=diff, check=True)
    bad = []
    for t in targets:
        if t["verdict"] != "verified":
            continue
        if repo["lang"] == "python":
            files = [f for f in t["test_files"].split("\n") if f]
            out = subprocess.run([PY, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *files],
                                 cwd=chk, capture_output=True, text=True).stdout
            passed = {l[7:] for l in out.splitlines() if l.startswith("PASSED ")}
            ok = all(i in passed for i in t["fixed"].split("\n") if i)
        else:
            cmd = repo["test_cmd"].replace("{name}", t["name"])
            ok = subprocess.run(["sh", "-c", cmd], cwd=chk, capture_output=True).returncode == 0
        if not ok:
            bad.append(t["name"])
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(os.path.dirname(__file__), "../../build/release/cli/kiln"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--work", default=None)
    ap.add_argument("kiln_args", nargs="*")
    a = ap.parse_args()
    kiln_args = a.kiln_args or (["-n", "2", "--rounds", "0", "--no-plan"] if a.quick
                                else ["-n", "4", "--rounds", "1"])
    root = a.work or tempfile.mkdtemp(prefix="kiln-patch-bench-")
    os.makedirs(root, exist_ok=True)
    repos = REPOS[:1] if a.quick else REPOS
    rows, false_verified = [], []
    for repo in repos:
        d = make_repo(repo, root)
        report = os.path.join(root, repo["name"] + ".json")
        cmd = [a.kiln, "patch", d, "--report", report, *kiln_args]
        if repo["test_cmd"]:
            cmd += ["--test-cmd", repo["test_cmd"]]
        if a.quick:
            for fn in ("is_palindrome",):
                cmd += ["--function", f"{repo['name']}/text.py:{fn}"]
        p = subprocess.run(cmd, capture_output=True)
        if p.returncode not in (0, 1):
            sys.exit(f"bench: {repo['name']}: kiln patch exited {p.returncode}: {p.stderr.decode()[-500:]}")
        with open(report) as f:
            targets = json.load(f)["targets"]
        bad = recheck(repo, d, p.stdout, targets, root) if p.stdout else []
        false_verified += [f"{repo['name']}:{b}" for b in bad]
        for t in targets:
            rows.append((repo["name"], repo["lang"], t["name"], t["verdict"], t["seconds_generate"],
                         t["seconds_test"], t["n_tried"]))
    print(f"{'repository':<10} {'lang':<6} {'function':<18} {'verdict':<16} {'gen s':>7} {'test s':>7} {'tried':>5}")
    for r in rows:
        print(f"{r[0]:<10} {r[1]:<6} {r[2]:<18} {r[3]:<16} {r[4]:7.2f} {r[5]:7.2f} {r[6]:5d}")
    n = len(rows)
    ver = sum(r[3] == "verified" for r in rows)
    prop = sum(r[3] in ("proposed", "no_tests") for r in rows)
    print(f"\nstubs: {n} in {len(repos)} repositories (kiln patch {' '.join(kiln_args)})")
    print(f"verified: {ver}/{n} = {ver / n:.1%}")
    print(f"proposed, not verified: {prop}/{n} = {prop / n:.1%}")
    print(f"no candidate: {n - ver - prop}/{n}")
    print(f"median seconds per stub: generate {statistics.median(r[4] for r in rows):.2f}, "
          f"test {statistics.median(r[5] for r in rows):.2f}")
    print(f"false verified (tests rerun outside the sandbox): {len(false_verified)}"
          + (f" {false_verified}" if false_verified else ""))
    if not a.work:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if false_verified else 0


if __name__ == "__main__":
    sys.exit(main())

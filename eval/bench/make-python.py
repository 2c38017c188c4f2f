# Source of eval/bench/kiln-python.jsonl: each task as (entry, signature, description,
# docstring examples, canonical body, hidden asserts, optional visible assert lines).
# Hidden asserts are written against `candidate`.
import json
import sys

T = []


def task(sig, desc, examples, body, hidden, visible=None, imports=""):
    T.append(dict(sig=sig, desc=desc, examples=examples, body=body, hidden=hidden,
                  visible=visible, imports=imports))


task("def sum_of_squares(nums: list) -> int:",
     "Return the sum of the squares of the numbers in nums.",
     [("sum_of_squares([1, 2, 3])", "14"), ("sum_of_squares([])", "0")],
     "    return sum(x * x for x in nums)\n",
     ["candidate([1, 2, 3]) == 14", "candidate([]) == 0", "candidate([-2]) == 4",
      "candidate([0, 0, 5]) == 25", "candidate([10, -10]) == 200"])

task("def count_vowels(s: str) -> int:",
     "Count the vowels (a, e, i, o, u, in upper or lower case) in s.",
     [("count_vowels('kiln')", "1"), ("count_vowels('AEIOU')", "5"), ("count_vowels('')", "0")],
     "    return sum(1 for ch in s.lower() if ch in 'aeiou')\n",
     ["candidate('kiln') == 1", "candidate('') == 0", "candidate('rhythm') == 0",
      "candidate('Education') == 5", "candidate('AaEe') == 4", "candidate('xyz AbE') == 2"])

task("def reverse_words(s: str) -> str:",
     "Return the words of s in reverse order, joined by single spaces.",
     [("reverse_words('the quick fox')", "'fox quick the'"), ("reverse_words('one')", "'one'")],
     "    return ' '.join(reversed(s.split()))\n",
     ["candidate('the quick fox') == 'fox quick the'", "candidate('one') == 'one'",
      "candidate('') == ''", "candidate('  a   b ') == 'b a'", "candidate('x y z w') == 'w z y x'"])

task("def is_palindrome_number(n: int) -> bool:",
     "Return True if the decimal digits of n read the same backwards. Negative numbers are "
     "never palindromes.",
     [("is_palindrome_number(121)", "True"), ("is_palindrome_number(123)", "False"),
      ("is_palindrome_number(-121)", "False")],
     "    if n < 0:\n        return False\n    s = str(n)\n    return s == s[::-1]\n",
     ["candidate(121) is True", "candidate(123) is False", "candidate(-121) is False",
      "candidate(0) is True", "candidate(7) is True", "candidate(1221) is True",
      "candidate(10) is False"])

task("def max_of_three(a: int, b: int, c: int) -> int:",
     "Return the largest of the three numbers.",
     [("max_of_three(1, 5, 3)", "5"), ("max_of_three(-1, -2, -3)", "-1")],
     "    best = a\n    if b > best:\n        best = b\n    if c > best:\n        best = c\n"
     "    return best\n",
     ["candidate(1, 5, 3) == 5", "candidate(-1, -2, -3) == -1", "candidate(7, 7, 7) == 7",
      "candidate(0, 0, 1) == 1", "candidate(9, 2, 4) == 9"],
     visible=["assert max_of_three(1, 5, 3) == 5", "assert max_of_three(3, 2, 1) == 3"])

task("def celsius_to_fahrenheit(c: float) -> float:",
     "Convert a temperature from degrees Celsius to degrees Fahrenheit.",
     [("celsius_to_fahrenheit(100)", "212.0"), ("celsius_to_fahrenheit(0)", "32.0")],
     "    return c * 9 / 5 + 32\n",
     ["abs(candidate(100) - 212.0) < 1e-9", "abs(candidate(0) - 32.0) < 1e-9",
      "abs(candidate(-40) - (-40.0)) < 1e-9", "abs(candidate(37) - 98.6) < 1e-9",
      "abs(candidate(-10) - 14.0) < 1e-9"])

task("def count_evens(nums: list) -> int:",
     "Return how many numbers in nums are even.",
     [("count_evens([1, 2, 3, 4])", "2"), ("count_evens([])", "0")],
     "    return sum(1 for x in nums if x % 2 == 0)\n",
     ["candidate([1, 2, 3, 4]) == 2", "candidate([]) == 0", "candidate([1, 3, 5]) == 0",
      "candidate([0, -2, -3]) == 2", "candidate([8, 8, 8]) == 3"])

task("def first_word(s: str) -> str:",
     "Return the first word of s (words are separated by whitespace), or an empty string if "
     "s has no words.",
     [("first_word('hello big world')", "'hello'"), ("first_word('   ')", "''")],
     "    words = s.split()\n    if not words:\n        return ''\n    return words[0]\n",
     ["candidate('hello big world') == 'hello'", "candidate('   ') == ''", "candidate('') == ''",
      "candidate('  padded start') == 'padded'", "candidate('single') == 'single'"])

task("def double_each(nums: list) -> list:",
     "Return a new list with every number of nums multiplied by two.",
     [("double_each([1, 2, 3])", "[2, 4, 6]"), ("double_each([])", "[]")],
     "    return [x * 2 for x in nums]\n",
     ["candidate([1, 2, 3]) == [2, 4, 6]", "candidate([]) == []", "candidate([-5, 0]) == [-10, 0]",
      "candidate([100]) == [200]", "candidate([1, 1]) == [2, 2]"])

task("def remove_spaces(s: str) -> str:",
     "Return s with every space character removed.",
     [("remove_spaces('a b c')", "'abc'"), ("remove_spaces('  kiln  ')", "'kiln'")],
     "    return s.replace(' ', '')\n",
     ["candidate('a b c') == 'abc'", "candidate('  kiln  ') == 'kiln'", "candidate('') == ''",
      "candidate('none') == 'none'", "candidate('   ') == ''"])

task("def last_element(items: list):",
     "Return the last element of items, or None if the list is empty.",
     [("last_element([1, 2, 3])", "3"), ("last_element(['a'])", "'a'")],
     "    if not items:\n        return None\n    return items[-1]\n",
     ["candidate([1, 2, 3]) == 3", "candidate(['a']) == 'a'", "candidate([]) is None",
      "candidate([None, 5]) == 5", "candidate([[1], [2]]) == [2]"])

task("def factorial(n: int) -> int:",
     "Return n! (the product 1 * 2 * ... * n) for n >= 0; 0! is 1.",
     [("factorial(5)", "120"), ("factorial(0)", "1")],
     "    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n",
     ["candidate(5) == 120", "candidate(0) == 1", "candidate(1) == 1", "candidate(10) == 3628800",
      "candidate(3) == 6"])

task("def fibonacci(n: int) -> int:",
     "Return the n-th Fibonacci number, where fibonacci(0) is 0 and fibonacci(1) is 1.",
     [("fibonacci(0)", "0"), ("fibonacci(1)", "1"), ("fibonacci(10)", "55")],
     "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
     ["candidate(0) == 0", "candidate(1) == 1", "candidate(2) == 1", "candidate(10) == 55",
      "candidate(20) == 6765", "candidate(30) == 832040"])

task("def is_leap_year(year: int) -> bool:",
     "Return True if year is a leap year in the Gregorian calendar: divisible by 4, except "
     "years divisible by 100 that are not divisible by 400.",
     [("is_leap_year(2024)", "True"), ("is_leap_year(1900)", "False"),
      ("is_leap_year(2000)", "True")],
     "    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
     ["candidate(2024) is True", "candidate(1900) is False", "candidate(2000) is True",
      "candidate(2023) is False", "candidate(2100) is False", "candidate(1600) is True"])

task("def count_char(s: str, ch: str) -> int:",
     "Return how many times the character ch occurs in s.",
     [("count_char('banana', 'a')", "3"), ("count_char('kiln', 'z')", "0")],
     "    return sum(1 for c in s if c == ch)\n",
     ["candidate('banana', 'a') == 3", "candidate('kiln', 'z') == 0", "candidate('', 'a') == 0",
      "candidate('AaA', 'A') == 2", "candidate('   ', ' ') == 3"])

task("def capitalize_words(s: str) -> str:",
     "Return s with the first letter of every space-separated word in upper case and the rest "
     "unchanged. Spaces are kept as they are.",
     [("capitalize_words('hello world')", "'Hello World'"),
      ("capitalize_words('a  b')", "'A  B'")],
     "    return ' '.join(w[:1].upper() + w[1:] for w in s.split(' '))\n",
     ["candidate('hello world') == 'Hello World'", "candidate('a  b') == 'A  B'",
      "candidate('') == ''", "candidate('mIXed case') == 'MIXed Case'",
      "candidate(' lead') == ' Lead'", "candidate('x') == 'X'"])

task("def min_max_diff(nums: list) -> int:",
     "Return the largest number of nums minus the smallest, or 0 for an empty list.",
     [("min_max_diff([3, 9, 1])", "8"), ("min_max_diff([])", "0")],
     "    if not nums:\n        return 0\n    return max(nums) - min(nums)\n",
     ["candidate([3, 9, 1]) == 8", "candidate([]) == 0", "candidate([5]) == 0",
      "candidate([-4, 4]) == 8", "candidate([2, 2, 2]) == 0"],
     visible=["assert min_max_diff([3, 9, 1]) == 8", "assert min_max_diff([]) == 0",
              "assert min_max_diff([7]) == 0"])

task("def average(nums: list) -> float:",
     "Return the arithmetic mean of nums, or 0.0 for an empty list.",
     [("average([1, 2, 3, 4])", "2.5"), ("average([])", "0.0")],
     "    if not nums:\n        return 0.0\n    return sum(nums) / len(nums)\n",
     ["abs(candidate([1, 2, 3, 4]) - 2.5) < 1e-9", "candidate([]) == 0.0",
      "abs(candidate([5]) - 5.0) < 1e-9", "abs(candidate([-1, 1]) - 0.0) < 1e-9",
      "abs(candidate([1, 2]) - 1.5) < 1e-9"])

task("def filter_positive(nums: list) -> list:",
     "Return the numbers of nums that are greater than zero, in their original order.",
     [("filter_positive([-1, 2, 0, 5])", "[2, 5]"), ("filter_positive([])", "[]")],
     "    return [x for x in nums if x > 0]\n",
     ["candidate([-1, 2, 0, 5]) == [2, 5]", "candidate([]) == []", "candidate([-3, -2]) == []",
      "candidate([1, 1, 1]) == [1, 1, 1]", "candidate([0]) == []"])

task("def word_lengths(words: list) -> list:",
     "Return a list with the length of each string in words.",
     [("word_lengths(['kiln', 'a', ''])", "[4, 1, 0]"), ("word_lengths([])", "[]")],
     "    return [len(w) for w in words]\n",
     ["candidate(['kiln', 'a', '']) == [4, 1, 0]", "candidate([]) == []",
      "candidate(['hello', 'world']) == [5, 5]", "candidate(['  ']) == [2]"])

task("def digit_sum(n: int) -> int:",
     "Return the sum of the decimal digits of n; the sign of n is ignored.",
     [("digit_sum(123)", "6"), ("digit_sum(-45)", "9"), ("digit_sum(0)", "0")],
     "    return sum(int(d) for d in str(abs(n)))\n",
     ["candidate(123) == 6", "candidate(-45) == 9", "candidate(0) == 0", "candidate(9999) == 36",
      "candidate(1000) == 1"])

task("def count_words(s: str) -> int:",
     "Return the number of words in s, where words are separated by any amount of whitespace.",
     [("count_words('one two  three')", "3"), ("count_words('')", "0")],
     "    return len(s.split())\n",
     ["candidate('one two  three') == 3", "candidate('') == 0", "candidate('   ') == 0",
      "candidate('word') == 1", "candidate(' a\\tb\\nc ') == 3"])

task("def toggle_case(s: str) -> str:",
     "Return s with upper-case letters changed to lower case and lower-case letters changed to "
     "upper case; other characters stay the same.",
     [("toggle_case('Hello')", "'hELLO'"), ("toggle_case('a1B')", "'A1b'")],
     "    out = []\n    for ch in s:\n        if ch.isupper():\n            out.append(ch.lower())\n"
     "        elif ch.islower():\n            out.append(ch.upper())\n        else:\n"
     "            out.append(ch)\n    return ''.join(out)\n",
     ["candidate('Hello') == 'hELLO'", "candidate('a1B') == 'A1b'", "candidate('') == ''",
      "candidate('123 !') == '123 !'", "candidate('KILN kiln') == 'kiln KILN'"])

task("def repeat_with_dash(s: str, n: int) -> str:",
     "Return s repeated n times with a '-' between the copies; n <= 0 gives an empty string.",
     [("repeat_with_dash('ab', 3)", "'ab-ab-ab'"), ("repeat_with_dash('x', 1)", "'x'")],
     "    if n <= 0:\n        return ''\n    return '-'.join([s] * n)\n",
     ["candidate('ab', 3) == 'ab-ab-ab'", "candidate('x', 1) == 'x'", "candidate('x', 0) == ''",
      "candidate('q', -2) == ''", "candidate('', 3) == '--'", "candidate('hi', 2) == 'hi-hi'"])

task("def is_sorted(nums: list) -> bool:",
     "Return True if nums is sorted in non-decreasing order.",
     [("is_sorted([1, 2, 2, 5])", "True"), ("is_sorted([3, 1])", "False")],
     "    for i in range(1, len(nums)):\n        if nums[i - 1] > nums[i]:\n            return False\n"
     "    return True\n",
     ["candidate([1, 2, 2, 5]) is True", "candidate([3, 1]) is False", "candidate([]) is True",
      "candidate([4]) is True", "candidate([1, 2, 3, 2]) is False", "candidate([-3, -1, 0]) is True"],
     visible=["assert is_sorted([1, 2, 2, 5])", "assert not is_sorted([3, 1])",
              "assert is_sorted([])"])

task("def unique_in_order(items: list) -> list:",
     "Return the items of the list without duplicates, keeping the first occurrence of each "
     "in its original order.",
     [("unique_in_order([3, 1, 3, 2, 1])", "[3, 1, 2]"), ("unique_in_order([])", "[]")],
     "    seen = set()\n    out = []\n    for x in items:\n        if x not in seen:\n"
     "            seen.add(x)\n            out.append(x)\n    return out\n",
     ["candidate([3, 1, 3, 2, 1]) == [3, 1, 2]", "candidate([]) == []",
      "candidate(['a', 'a', 'a']) == ['a']", "candidate([1, 2, 3]) == [1, 2, 3]",
      "candidate([5, 4, 5, 4, 6]) == [5, 4, 6]"])

task("def second_largest(nums: list):",
     "Return the second largest distinct value in nums, or None if there is no such value.",
     [("second_largest([4, 1, 4, 3])", "3"), ("second_largest([2, 2])", "None")],
     "    values = sorted(set(nums), reverse=True)\n    if len(values) < 2:\n        return None\n"
     "    return values[1]\n",
     ["candidate([4, 1, 4, 3]) == 3", "candidate([2, 2]) is None", "candidate([]) is None",
      "candidate([1, 2]) == 1", "candidate([-1, -5, -3]) == -3", "candidate([9, 8, 9, 7, 8]) == 8"])

task("def merge_sorted(a: list, b: list) -> list:",
     "Merge two lists that are each sorted in non-decreasing order into one sorted list.",
     [("merge_sorted([1, 4], [2, 3, 5])", "[1, 2, 3, 4, 5]"), ("merge_sorted([], [1])", "[1]")],
     "    out = []\n    i = j = 0\n    while i < len(a) and j < len(b):\n        if a[i] <= b[j]:\n"
     "            out.append(a[i])\n            i += 1\n        else:\n            out.append(b[j])\n"
     "            j += 1\n    out.extend(a[i:])\n    out.extend(b[j:])\n    return out\n",
     ["candidate([1, 4], [2, 3, 5]) == [1, 2, 3, 4, 5]", "candidate([], [1]) == [1]",
      "candidate([], []) == []", "candidate([1, 1], [1]) == [1, 1, 1]",
      "candidate([5, 6], [1, 2]) == [1, 2, 5, 6]", "candidate([-2, 0], [-1]) == [-2, -1, 0]"])

task("def flatten_once(lists: list) -> list:",
     "Flatten a list of lists by one level.",
     [("flatten_once([[1, 2], [3], []])", "[1, 2, 3]"), ("flatten_once([])", "[]")],
     "    out = []\n    for part in lists:\n        out.extend(part)\n    return out\n",
     ["candidate([[1, 2], [3], []]) == [1, 2, 3]", "candidate([]) == []",
      "candidate([[[1]], [2]]) == [[1], 2]", "candidate([['a'], ['b', 'c']]) == ['a', 'b', 'c']"])

task("def rotate_left(items: list, k: int) -> list:",
     "Return a new list with the items rotated k places to the left; k may be larger than the "
     "list.",
     [("rotate_left([1, 2, 3, 4], 1)", "[2, 3, 4, 1]"), ("rotate_left([1, 2, 3], 5)", "[3, 1, 2]")],
     "    if not items:\n        return []\n    k %= len(items)\n    return items[k:] + items[:k]\n",
     ["candidate([1, 2, 3, 4], 1) == [2, 3, 4, 1]", "candidate([1, 2, 3], 5) == [3, 1, 2]",
      "candidate([], 3) == []", "candidate([1, 2], 0) == [1, 2]", "candidate([7], 9) == [7]",
      "candidate([1, 2, 3], 3) == [1, 2, 3]"])

task("def gcd(a: int, b: int) -> int:",
     "Return the greatest common divisor of two non-negative integers; gcd(0, 0) is 0.",
     [("gcd(12, 18)", "6"), ("gcd(7, 0)", "7")],
     "    while b:\n        a, b = b, a % b\n    return a\n",
     ["candidate(12, 18) == 6", "candidate(7, 0) == 7", "candidate(0, 0) == 0",
      "candidate(0, 5) == 5", "candidate(17, 13) == 1", "candidate(100, 75) == 25"])

task("def lcm(a: int, b: int) -> int:",
     "Return the least common multiple of two positive integers.",
     [("lcm(4, 6)", "12"), ("lcm(5, 5)", "5")],
     "    x, y = a, b\n    while y:\n        x, y = y, x % y\n    return a * b // x\n",
     ["candidate(4, 6) == 12", "candidate(5, 5) == 5", "candidate(1, 9) == 9",
      "candidate(7, 3) == 21", "candidate(12, 18) == 36"])

task("def is_prime(n: int) -> bool:",
     "Return True if n is a prime number.",
     [("is_prime(7)", "True"), ("is_prime(1)", "False"), ("is_prime(9)", "False")],
     "    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n"
     "            return False\n        i += 1\n    return True\n",
     ["candidate(7) is True", "candidate(1) is False", "candidate(9) is False",
      "candidate(2) is True", "candidate(0) is False", "candidate(-7) is False",
      "candidate(97) is True", "candidate(91) is False"],
     visible=["assert is_prime(7)", "assert not is_prime(1)", "assert not is_prime(9)"])

task("def primes_below(n: int) -> list:",
     "Return the list of all prime numbers smaller than n, in increasing order.",
     [("primes_below(10)", "[2, 3, 5, 7]"), ("primes_below(2)", "[]")],
     "    out = []\n    for k in range(2, n):\n        if all(k % p for p in out if p * p <= k):\n"
     "            out.append(k)\n    return out\n",
     ["candidate(10) == [2, 3, 5, 7]", "candidate(2) == []", "candidate(0) == []",
      "candidate(3) == [2]", "candidate(20) == [2, 3, 5, 7, 11, 13, 17, 19]",
      "len(candidate(100)) == 25"])

task("def count_upper(s: str) -> int:",
     "Return the number of upper-case letters in s.",
     [("count_upper('Hello World')", "2"), ("count_upper('abc')", "0")],
     "    return sum(1 for ch in s if ch.isupper())\n",
     ["candidate('Hello World') == 2", "candidate('abc') == 0", "candidate('') == 0",
      "candidate('ABC') == 3", "candidate('a1B2C3') == 2"])

task("def longest_word(s: str) -> str:",
     "Return the longest word of the sentence s (words are separated by spaces). If several "
     "words are equally long, return the first; return '' when there are no words.",
     [("longest_word('a bad cat sat')", "'bad'"), ("longest_word('')", "''")],
     "    best = ''\n    for w in s.split():\n        if len(w) > len(best):\n            best = w\n"
     "    return best\n",
     ["candidate('a bad cat sat') == 'bad'", "candidate('') == ''",
      "candidate('one three five') == 'three'", "candidate('hi') == 'hi'",
      "candidate('ab cd ef') == 'ab'", "candidate('x yy zzz yy') == 'zzz'"])

task("def acronym(s: str) -> str:",
     "Return the acronym of the phrase s: the first letter of each word, in upper case.",
     [("acronym('portable network graphics')", "'PNG'"), ("acronym('Kiln')", "'K'")],
     "    return ''.join(w[0].upper() for w in s.split())\n",
     ["candidate('portable network graphics') == 'PNG'", "candidate('Kiln') == 'K'",
      "candidate('') == ''", "candidate('as soon as possible') == 'ASAP'",
      "candidate('  spaced   out ') == 'SO'"])

task("def index_of_max(nums: list) -> int:",
     "Return the index of the largest number in nums (the first one if it occurs more than "
     "once), or -1 for an empty list.",
     [("index_of_max([3, 8, 1, 8])", "1"), ("index_of_max([])", "-1")],
     "    if not nums:\n        return -1\n    best = 0\n    for i in range(1, len(nums)):\n"
     "        if nums[i] > nums[best]:\n            best = i\n    return best\n",
     ["candidate([3, 8, 1, 8]) == 1", "candidate([]) == -1", "candidate([5]) == 0",
      "candidate([-3, -1, -2]) == 1", "candidate([1, 2, 3]) == 2"])

task("def running_sum(nums: list) -> list:",
     "Return the running sums of nums: element i of the result is nums[0] + ... + nums[i].",
     [("running_sum([1, 2, 3])", "[1, 3, 6]"), ("running_sum([])", "[]")],
     "    out = []\n    total = 0\n    for x in nums:\n        total += x\n        out.append(total)\n"
     "    return out\n",
     ["candidate([1, 2, 3]) == [1, 3, 6]", "candidate([]) == []", "candidate([5]) == [5]",
      "candidate([1, -1, 1]) == [1, 0, 1]", "candidate([0, 0]) == [0, 0]"])

task("def pairwise_diff(nums: list) -> list:",
     "Return the differences between neighbours: element i of the result is "
     "nums[i + 1] - nums[i].",
     [("pairwise_diff([1, 4, 9])", "[3, 5]"), ("pairwise_diff([7])", "[]")],
     "    return [nums[i + 1] - nums[i] for i in range(len(nums) - 1)]\n",
     ["candidate([1, 4, 9]) == [3, 5]", "candidate([7]) == []", "candidate([]) == []",
      "candidate([5, 3, 3]) == [-2, 0]", "candidate([0, 10, 20, 30]) == [10, 10, 10]"])

task("def chunk_list(items: list, size: int) -> list:",
     "Split items into consecutive chunks of length size; the last chunk may be shorter.",
     [("chunk_list([1, 2, 3, 4, 5], 2)", "[[1, 2], [3, 4], [5]]"), ("chunk_list([], 3)", "[]")],
     "    return [items[i:i + size] for i in range(0, len(items), size)]\n",
     ["candidate([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]", "candidate([], 3) == []",
      "candidate([1, 2, 3], 3) == [[1, 2, 3]]", "candidate([1, 2], 5) == [[1, 2]]",
      "candidate(['a', 'b', 'c'], 1) == [['a'], ['b'], ['c']]"],
     visible=["assert chunk_list([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]",
              "assert chunk_list([], 3) == []"])

task("def invert_dict(d: dict) -> dict:",
     "Return a new dictionary that maps each value of d to its key (the values of d are all "
     "different).",
     [("invert_dict({'a': 1, 'b': 2})", "{1: 'a', 2: 'b'}"), ("invert_dict({})", "{}")],
     "    return {v: k for k, v in d.items()}\n",
     ["candidate({'a': 1, 'b': 2}) == {1: 'a', 2: 'b'}", "candidate({}) == {}",
      "candidate({1: 'x'}) == {'x': 1}", "candidate({'k': 'v', 'v': 'k'}) == {'v': 'k', 'k': 'v'}"])

task("def letter_counts(s: str) -> dict:",
     "Count the letters of s, ignoring case and every character that is not a letter. Return a "
     "dictionary from each lower-case letter to its count.",
     [("letter_counts('Aab!')", "{'a': 2, 'b': 1}"), ("letter_counts('12')", "{}")],
     "    counts = {}\n    for ch in s.lower():\n        if ch.isalpha():\n"
     "            counts[ch] = counts.get(ch, 0) + 1\n    return counts\n",
     ["candidate('Aab!') == {'a': 2, 'b': 1}", "candidate('12') == {}", "candidate('') == {}",
      "candidate('Hello') == {'h': 1, 'e': 1, 'l': 2, 'o': 1}",
      "candidate('a A a') == {'a': 3}"])

task("def to_binary(n: int) -> str:",
     "Return the binary representation of the non-negative integer n, without a prefix.",
     [("to_binary(5)", "'101'"), ("to_binary(0)", "'0'")],
     "    if n == 0:\n        return '0'\n    digits = ''\n    while n > 0:\n"
     "        digits = str(n % 2) + digits\n        n //= 2\n    return digits\n",
     ["candidate(5) == '101'", "candidate(0) == '0'", "candidate(1) == '1'",
      "candidate(8) == '1000'", "candidate(255) == '11111111'"])

task("def from_binary(s: str) -> int:",
     "Return the integer value of the binary number written in s (a string of 0s and 1s).",
     [("from_binary('101')", "5"), ("from_binary('0')", "0")],
     "    value = 0\n    for ch in s:\n        value = value * 2 + (1 if ch == '1' else 0)\n"
     "    return value\n",
     ["candidate('101') == 5", "candidate('0') == 0", "candidate('1') == 1",
      "candidate('11111111') == 255", "candidate('0010') == 2"])

task("def caesar_shift(s: str, k: int) -> str:",
     "Shift every lower-case letter of s by k places in the alphabet, wrapping around from "
     "'z' to 'a'; other characters stay the same.",
     [("caesar_shift('abc', 1)", "'bcd'"), ("caesar_shift('xyz', 3)", "'abc'")],
     "    out = []\n    for ch in s:\n        if 'a' <= ch <= 'z':\n"
     "            out.append(chr((ord(ch) - ord('a') + k) % 26 + ord('a')))\n        else:\n"
     "            out.append(ch)\n    return ''.join(out)\n",
     ["candidate('abc', 1) == 'bcd'", "candidate('xyz', 3) == 'abc'", "candidate('', 5) == ''",
      "candidate('Hi there!', 1) == 'Hj uifsf!'", "candidate('abc', 26) == 'abc'",
      "candidate('bcd', -1) == 'abc'"])

task("def is_anagram(a: str, b: str) -> bool:",
     "Return True if a and b contain the same letters the same number of times, ignoring case "
     "and spaces.",
     [("is_anagram('listen', 'silent')", "True"), ("is_anagram('abc', 'abd')", "False")],
     "    def norm(s):\n        return sorted(s.replace(' ', '').lower())\n"
     "    return norm(a) == norm(b)\n",
     ["candidate('listen', 'silent') is True", "candidate('abc', 'abd') is False",
      "candidate('Dormitory', 'dirty room') is True", "candidate('', '') is True",
      "candidate('aab', 'abb') is False", "candidate('a', 'A') is True"])

task("def compress_runs(s: str) -> str:",
     "Compress runs of the same character: each run becomes the character followed by the "
     "length of the run.",
     [("compress_runs('aaabcc')", "'a3b1c2'"), ("compress_runs('')", "''")],
     "    out = []\n    i = 0\n    while i < len(s):\n        j = i\n"
     "        while j < len(s) and s[j] == s[i]:\n            j += 1\n"
     "        out.append(s[i] + str(j - i))\n        i = j\n    return ''.join(out)\n",
     ["candidate('aaabcc') == 'a3b1c2'", "candidate('') == ''", "candidate('a') == 'a1'",
      "candidate('abab') == 'a1b1a1b1'", "candidate('zzzzzzzzzzzz') == 'z12'"],
     visible=["assert compress_runs('aaabcc') == 'a3b1c2'", "assert compress_runs('x') == 'x1'"])

task("def balanced_parens(s: str) -> bool:",
     "Return True if the parentheses '(' and ')' in s are balanced; other characters are "
     "ignored.",
     [("balanced_parens('(a(b))')", "True"), ("balanced_parens(')(')", "False")],
     "    depth = 0\n    for ch in s:\n        if ch == '(':\n            depth += 1\n"
     "        elif ch == ')':\n            depth -= 1\n            if depth < 0:\n"
     "                return False\n    return depth == 0\n",
     ["candidate('(a(b))') is True", "candidate(')(') is False", "candidate('') is True",
      "candidate('((') is False", "candidate('()()') is True", "candidate('(()))(') is False"])

task("def transpose(matrix: list) -> list:",
     "Return the transpose of a rectangular matrix given as a list of rows.",
     [("transpose([[1, 2, 3], [4, 5, 6]])", "[[1, 4], [2, 5], [3, 6]]"),
      ("transpose([])", "[]")],
     "    if not matrix:\n        return []\n"
     "    return [[row[j] for row in matrix] for j in range(len(matrix[0]))]\n",
     ["candidate([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]", "candidate([]) == []",
      "candidate([[1]]) == [[1]]", "candidate([[1, 2]]) == [[1], [2]]",
      "candidate([[1], [2]]) == [[1, 2]]"])

task("def diagonal_sum(matrix: list) -> int:",
     "Return the sum of the main diagonal of a square matrix given as a list of rows.",
     [("diagonal_sum([[1, 2], [3, 4]])", "5"), ("diagonal_sum([[7]])", "7")],
     "    return sum(matrix[i][i] for i in range(len(matrix)))\n",
     ["candidate([[1, 2], [3, 4]]) == 5", "candidate([[7]]) == 7", "candidate([]) == 0",
      "candidate([[1, 0, 0], [0, 2, 0], [0, 0, 3]]) == 6", "candidate([[-1, 5], [5, -1]]) == -2"])

task("def clamp(x: int, lo: int, hi: int) -> int:",
     "Return x limited to the range lo..hi: lo if x is below it, hi if x is above it, else x.",
     [("clamp(5, 0, 10)", "5"), ("clamp(-3, 0, 10)", "0"), ("clamp(42, 0, 10)", "10")],
     "    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n",
     ["candidate(5, 0, 10) == 5", "candidate(-3, 0, 10) == 0", "candidate(42, 0, 10) == 10",
      "candidate(0, 0, 0) == 0", "candidate(-5, -10, -1) == -5", "candidate(3, 3, 8) == 3"],
     visible=["assert clamp(5, 0, 10) == 5", "assert clamp(-3, 0, 10) == 0",
              "assert clamp(42, 0, 10) == 10"])

task("def sign(n: int) -> int:",
     "Return -1 if n is negative, 1 if it is positive and 0 if it is zero.",
     [("sign(-7)", "-1"), ("sign(0)", "0"), ("sign(3)", "1")],
     "    if n < 0:\n        return -1\n    if n > 0:\n        return 1\n    return 0\n",
     ["candidate(-7) == -1", "candidate(3) == 1", "candidate(0) == 0",
      "candidate(-1000000) == -1", "candidate(1) == 1"])

task("def triangle_number(n: int) -> int:",
     "Return the n-th triangle number 1 + 2 + ... + n (0 for n = 0).",
     [("triangle_number(4)", "10"), ("triangle_number(0)", "0")],
     "    return n * (n + 1) // 2\n",
     ["candidate(4) == 10", "candidate(0) == 0", "candidate(1) == 1", "candidate(100) == 5050",
      "candidate(7) == 28"])

task("def count_overlapping(s: str, sub: str) -> int:",
     "Return how many times sub occurs in s, counting overlapping occurrences. sub is never "
     "empty.",
     [("count_overlapping('aaaa', 'aa')", "3"), ("count_overlapping('abc', 'd')", "0")],
     "    count = 0\n    for i in range(len(s) - len(sub) + 1):\n"
     "        if s[i:i + len(sub)] == sub:\n            count += 1\n    return count\n",
     ["candidate('aaaa', 'aa') == 3", "candidate('abc', 'd') == 0", "candidate('', 'a') == 0",
      "candidate('abababa', 'aba') == 3", "candidate('ab', 'abc') == 0",
      "candidate('xyz', 'xyz') == 1"])

task("def camel_to_snake(s: str) -> str:",
     "Convert a CamelCase or camelCase name to snake_case: an underscore before each "
     "upper-case letter except at the start, and everything in lower case.",
     [("camel_to_snake('HelloWorld')", "'hello_world'"),
      ("camel_to_snake('parseHttpLine')", "'parse_http_line'")],
     "    out = []\n    for i, ch in enumerate(s):\n        if ch.isupper() and i > 0:\n"
     "            out.append('_')\n        out.append(ch.lower())\n    return ''.join(out)\n",
     ["candidate('HelloWorld') == 'hello_world'", "candidate('parseHttpLine') == 'parse_http_line'",
      "candidate('') == ''", "candidate('x') == 'x'", "candidate('ABC') == 'a_b_c'",
      "candidate('already') == 'already'"])

task("def snake_to_camel(s: str) -> str:",
     "Convert a snake_case name to camelCase: drop the underscores and put the letter after "
     "each one in upper case.",
     [("snake_to_camel('hello_world')", "'helloWorld'"), ("snake_to_camel('kiln')", "'kiln'")],
     "    parts = s.split('_')\n    return parts[0] + ''.join(p[:1].upper() + p[1:] for p in parts[1:])\n",
     ["candidate('hello_world') == 'helloWorld'", "candidate('kiln') == 'kiln'",
      "candidate('') == ''", "candidate('a_b_c') == 'aBC'",
      "candidate('parse_http_line') == 'parseHttpLine'"],
     visible=["assert snake_to_camel('hello_world') == 'helloWorld'",
              "assert snake_to_camel('kiln') == 'kiln'"])

task("def reverse_digits(n: int) -> int:",
     "Return the integer whose decimal digits are those of n in reverse order, keeping the "
     "sign of n.",
     [("reverse_digits(123)", "321"), ("reverse_digits(-45)", "-54"), ("reverse_digits(120)", "21")],
     "    sign = -1 if n < 0 else 1\n    return sign * int(str(abs(n))[::-1])\n",
     ["candidate(123) == 321", "candidate(-45) == -54", "candidate(120) == 21",
      "candidate(0) == 0", "candidate(7) == 7", "candidate(-100) == -1"])

task("def most_common_char(s: str) -> str:",
     "Return the character that occurs most often in s; on a tie, the one that appears first. "
     "Return '' for an empty string.",
     [("most_common_char('abbccc')", "'c'"), ("most_common_char('abab')", "'a'")],
     "    best = ''\n    best_count = 0\n    for ch in s:\n        c = s.count(ch)\n"
     "        if c > best_count:\n            best, best_count = ch, c\n    return best\n",
     ["candidate('abbccc') == 'c'", "candidate('abab') == 'a'", "candidate('') == ''",
      "candidate('z') == 'z'", "candidate('xyzzy') == 'y'", "candidate('  a') == ' '"])

task("def kiln_buzz(n: int) -> str:",
     "Return 'Kiln' if n is divisible by both 3 and 5, 'Ki' if only by 3, 'Ln' if only by 5, "
     "and otherwise n written in decimal.",
     [("kiln_buzz(9)", "'Ki'"), ("kiln_buzz(10)", "'Ln'"), ("kiln_buzz(30)", "'Kiln'"),
      ("kiln_buzz(7)", "'7'")],
     "    if n % 15 == 0:\n        return 'Kiln'\n    if n % 3 == 0:\n        return 'Ki'\n"
     "    if n % 5 == 0:\n        return 'Ln'\n    return str(n)\n",
     ["candidate(9) == 'Ki'", "candidate(10) == 'Ln'", "candidate(30) == 'Kiln'",
      "candidate(7) == '7'", "candidate(1) == '1'", "candidate(0) == 'Kiln'",
      "candidate(-3) == 'Ki'"])

task("def collatz_steps(n: int) -> int:",
     "Return how many steps the Collatz process takes to reach 1 from n >= 1: halve an even "
     "number, replace an odd one by 3 * n + 1.",
     [("collatz_steps(1)", "0"), ("collatz_steps(6)", "8")],
     "    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
     "        steps += 1\n    return steps\n",
     ["candidate(1) == 0", "candidate(6) == 8", "candidate(2) == 1", "candidate(7) == 16",
      "candidate(27) == 111"],
     visible=["assert collatz_steps(1) == 0", "assert collatz_steps(6) == 8",
              "assert collatz_steps(2) == 1"])

task("def dedupe_chars(s: str) -> str:",
     "Return s with every repeated character removed, keeping only its first occurrence.",
     [("dedupe_chars('banana')", "'ban'"), ("dedupe_chars('')", "''")],
     "    out = ''\n    for ch in s:\n        if ch not in out:\n            out += ch\n    return out\n",
     ["candidate('banana') == 'ban'", "candidate('') == ''", "candidate('abc') == 'abc'",
      "candidate('aAaA') == 'aA'", "candidate('mississippi') == 'misp'"])

task("def even_index_sum(nums: list) -> int:",
     "Return the sum of the elements of nums at even indices (0, 2, 4, ...).",
     [("even_index_sum([1, 2, 3, 4, 5])", "9"), ("even_index_sum([])", "0")],
     "    return sum(nums[0::2])\n",
     ["candidate([1, 2, 3, 4, 5]) == 9", "candidate([]) == 0", "candidate([10]) == 10",
      "candidate([1, 100]) == 1", "candidate([-1, 0, -1, 0]) == -2"])

task("def max_subarray_sum(nums: list) -> int:",
     "Return the largest sum of a non-empty contiguous run of nums, or 0 for an empty list.",
     [("max_subarray_sum([2, -5, 3, 4, -1])", "7"), ("max_subarray_sum([-3, -1])", "-1")],
     "    if not nums:\n        return 0\n    best = cur = nums[0]\n    for x in nums[1:]:\n"
     "        cur = max(x, cur + x)\n        best = max(best, cur)\n    return best\n",
     ["candidate([2, -5, 3, 4, -1]) == 7", "candidate([-3, -1]) == -1", "candidate([]) == 0",
      "candidate([5]) == 5", "candidate([1, 2, 3]) == 6", "candidate([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6"])

task("def two_sum(nums: list, target: int) -> list:",
     "Return the indices [i, j] with i < j of the first pair of numbers in nums (ordered by i, "
     "then j) whose sum is target, or [] if there is none.",
     [("two_sum([2, 7, 11, 15], 9)", "[0, 1]"), ("two_sum([1, 2], 7)", "[]")],
     "    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n"
     "            if nums[i] + nums[j] == target:\n                return [i, j]\n    return []\n",
     ["candidate([2, 7, 11, 15], 9) == [0, 1]", "candidate([1, 2], 7) == []",
      "candidate([], 0) == []", "candidate([3, 3], 6) == [0, 1]",
      "candidate([1, 5, 2, 4], 6) == [0, 1]", "candidate([0, 4, 3, 0], 0) == [0, 3]"])

task("def roman_to_int(s: str) -> int:",
     "Return the value of the Roman numeral s (letters I, V, X, L, C, D, M; a smaller value "
     "before a larger one is subtracted).",
     [("roman_to_int('XIV')", "14"), ("roman_to_int('MMXXVI')", "2026")],
     "    values = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\n"
     "    total = 0\n    for i, ch in enumerate(s):\n        v = values[ch]\n"
     "        if i + 1 < len(s) and values[s[i + 1]] > v:\n            total -= v\n        else:\n"
     "            total += v\n    return total\n",
     ["candidate('XIV') == 14", "candidate('MMXXVI') == 2026", "candidate('I') == 1",
      "candidate('IV') == 4", "candidate('XCIX') == 99", "candidate('MCMXC') == 1990"])

task("def pad_left(s: str, width: int, fill: str) -> str:",
     "Return s padded on the left with the character fill until it is width characters long; "
     "a longer s is returned unchanged.",
     [("pad_left('7', 3, '0')", "'007'"), ("pad_left('kiln', 2, '*')", "'kiln'")],
     "    if len(s) >= width:\n        return s\n    return fill * (width - len(s)) + s\n",
     ["candidate('7', 3, '0') == '007'", "candidate('kiln', 2, '*') == 'kiln'",
      "candidate('', 2, 'x') == 'xx'", "candidate('ab', 2, '-') == 'ab'",
      "candidate('5', 0, '0') == '5'"],
     visible=["assert pad_left('7', 3, '0') == '007'", "assert pad_left('kiln', 2, '*') == 'kiln'"])

task("def median(nums: list) -> float:",
     "Return the median of a non-empty list of numbers: the middle value after sorting, or "
     "the mean of the two middle values when the length is even.",
     [("median([3, 1, 2])", "2"), ("median([4, 1, 3, 2])", "2.5")],
     "    s = sorted(nums)\n    mid = len(s) // 2\n    if len(s) % 2 == 1:\n        return s[mid]\n"
     "    return (s[mid - 1] + s[mid]) / 2\n",
     ["candidate([3, 1, 2]) == 2", "candidate([4, 1, 3, 2]) == 2.5", "candidate([5]) == 5",
      "candidate([1, 2]) == 1.5", "candidate([7, 7, 1, 9, 2]) == 7"])

task("def vowel_words(words: list) -> list:",
     "Return the words of the list that start with a vowel (a, e, i, o or u, either case), in "
     "their original order.",
     [("vowel_words(['apple', 'kiln', 'Egg'])", "['apple', 'Egg']"), ("vowel_words(['by'])", "[]")],
     "    return [w for w in words if w[:1].lower() in ('a', 'e', 'i', 'o', 'u')]\n",
     ["candidate(['apple', 'kiln', 'Egg']) == ['apple', 'Egg']", "candidate([]) == []",
      "candidate(['', 'ox']) == ['ox']", "candidate(['by', 'my']) == []",
      "candidate(['Under', 'idea', 'zoo']) == ['Under', 'idea']"])

task("def sum_between(a: int, b: int) -> int:",
     "Return the sum of all integers from a to b inclusive, whichever of the two is smaller.",
     [("sum_between(1, 4)", "10"), ("sum_between(4, 1)", "10"), ("sum_between(3, 3)", "3")],
     "    lo, hi = min(a, b), max(a, b)\n    return sum(range(lo, hi + 1))\n",
     ["candidate(1, 4) == 10", "candidate(4, 1) == 10", "candidate(3, 3) == 3",
      "candidate(-2, 2) == 0", "candidate(0, 100) == 5050"])

task("def words_longer_than(s: str, n: int) -> list:",
     "Return the words of s (separated by whitespace) that have more than n characters.",
     [("words_longer_than('a tiny kiln fired', 4)", "['fired']"),
      ("words_longer_than('', 0)", "[]")],
     "    return [w for w in s.split() if len(w) > n]\n",
     ["candidate('a tiny kiln fired', 4) == ['fired']", "candidate('', 0) == []",
      "candidate('a bb ccc', 1) == ['bb', 'ccc']", "candidate('short', 10) == []",
      "candidate('x y', 0) == ['x', 'y']"],
     visible=["assert words_longer_than('a tiny kiln fired', 4) == ['fired']",
              "assert words_longer_than('a bb ccc', 1) == ['bb', 'ccc']"])

task("def hamming_distance(a: str, b: str) -> int:",
     "Return the number of positions at which the equally long strings a and b differ.",
     [("hamming_distance('karolin', 'kathrin')", "3"), ("hamming_distance('', '')", "0")],
     "    return sum(1 for x, y in zip(a, b) if x != y)\n",
     ["candidate('karolin', 'kathrin') == 3", "candidate('', '') == 0",
      "candidate('abc', 'abc') == 0", "candidate('abc', 'xyz') == 3",
      "candidate('1011101', '1001001') == 2"])

task("def product_of_list(nums: list) -> int:",
     "Return the product of the numbers in nums; the product of an empty list is 1.",
     [("product_of_list([2, 3, 4])", "24"), ("product_of_list([])", "1")],
     "    result = 1\n    for x in nums:\n        result *= x\n    return result\n",
     ["candidate([2, 3, 4]) == 24", "candidate([]) == 1", "candidate([5]) == 5",
      "candidate([1, 0, 9]) == 0", "candidate([-2, 3]) == -6"])


def make_prompt(t):
    lines = [t["sig"], '    """' + t["desc"]]
    # wrap description at ~90 columns
    words = t["desc"].split()
    out = []
    cur = '    """'
    for w in words:
        if len(cur) + 1 + len(w) > 92 and cur.strip() != '"""':
            out.append(cur)
            cur = "    " + w
        else:
            cur = cur + ("" if cur.endswith('"""') else " ") + w
    out.append(cur)
    body = [t["sig"]] + out + [""]
    for src, res in t["examples"]:
        body.append("    >>> " + src)
        body.append("    " + res)
    body.append('    """')
    return t["imports"] + "\n".join(body) + "\n"


def main():
    out = open(sys.argv[1], "w")
    for i, t in enumerate(T):
        entry = t["sig"].split()[1].split("(")[0]
        test = "def check(candidate):\n" + "".join("    assert " + h + "\n" for h in t["hidden"])
        obj = {"task_id": "kiln/py/%d" % i, "language": "python", "prompt": make_prompt(t),
               "entry_point": entry, "canonical_solution": t["body"], "test": test}
        if t["visible"]:
            obj["visible_tests"] = "\n".join(t["visible"]) + "\n"
        out.write(json.dumps(obj) + "\n")
    print(len(T), "python tasks", file=sys.stderr)


main()

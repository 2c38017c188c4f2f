# Source of eval/bench/kiln-c.jsonl: each task as (comment, prototype, includes, canonical
# definition, visible checks, hidden checks, extra test setup lines).
import json
import sys

T = []


def task(comment, proto, body, visible, hidden, includes="", setup=""):
    T.append(dict(comment=comment, proto=proto, body=body, visible=visible, hidden=hidden,
                  includes=includes, setup=setup))


task("Returns the sum of the n integers in a (0 when n is 0).",
     "int sum_array(const int *a, int n);",
     "int sum_array(const int *a, int n)\n{\n    int sum = 0;\n    for (int i = 0; i < n; i++) {\n"
     "        sum += a[i];\n    }\n    return sum;\n}\n",
     ["int a[] = {1, 2, 3};", "CHECK(sum_array(a, 3) == 6);", "CHECK(sum_array(a, 0) == 0);"],
     ["int a[] = {1, 2, 3};", "int b[] = {-5, 5, -7};", "int c[] = {100};",
      "CHECK(sum_array(a, 3) == 6);", "CHECK(sum_array(a, 0) == 0);",
      "CHECK(sum_array(b, 3) == -7);", "CHECK(sum_array(c, 1) == 100);",
      "CHECK(sum_array(a, 2) == 3);"])

task("Returns the largest of the n integers in a (n >= 1).",
     "int max_array(const int *a, int n);",
     "int max_array(const int *a, int n)\n{\n    int best = a[0];\n    for (int i = 1; i < n; i++) {\n"
     "        if (a[i] > best) {\n            best = a[i];\n        }\n    }\n    return best;\n}\n",
     ["int a[] = {3, 9, 2};", "CHECK(max_array(a, 3) == 9);"],
     ["int a[] = {3, 9, 2};", "int b[] = {-4, -2, -8};", "int c[] = {7};", "int d[] = {1, 2, 3, 4};",
      "CHECK(max_array(a, 3) == 9);", "CHECK(max_array(b, 3) == -2);", "CHECK(max_array(c, 1) == 7);",
      "CHECK(max_array(d, 4) == 4);", "CHECK(max_array(d, 2) == 2);"])

task("Returns how many times the character c occurs in the NUL-terminated string s.",
     "int count_char(const char *s, char c);",
     "int count_char(const char *s, char c)\n{\n    int n = 0;\n    for (; *s != '\\0'; s++) {\n"
     "        if (*s == c) {\n            n++;\n        }\n    }\n    return n;\n}\n",
     ["CHECK(count_char(\"banana\", 'a') == 3);", "CHECK(count_char(\"kiln\", 'z') == 0);"],
     ["CHECK(count_char(\"banana\", 'a') == 3);", "CHECK(count_char(\"kiln\", 'z') == 0);",
      "CHECK(count_char(\"\", 'a') == 0);", "CHECK(count_char(\"AaA\", 'A') == 2);",
      "CHECK(count_char(\"   \", ' ') == 3);"])

task("Returns the number of characters before the terminating NUL of s, without calling "
     "strlen.",
     "int str_length(const char *s);",
     "int str_length(const char *s)\n{\n    int n = 0;\n    while (s[n] != '\\0') {\n        n++;\n"
     "    }\n    return n;\n}\n",
     ["CHECK(str_length(\"kiln\") == 4);", "CHECK(str_length(\"\") == 0);"],
     ["CHECK(str_length(\"kiln\") == 4);", "CHECK(str_length(\"\") == 0);",
      "CHECK(str_length(\"a\") == 1);", "CHECK(str_length(\"hello world\") == 11);",
      "CHECK(str_length(\"tab\\there\") == 8);"])

task("Returns 1 if n is even and 0 if it is odd.",
     "int is_even(int n);",
     "int is_even(int n)\n{\n    return n % 2 == 0;\n}\n",
     ["CHECK(is_even(4) == 1);", "CHECK(is_even(7) == 0);"],
     ["CHECK(is_even(4) == 1);", "CHECK(is_even(7) == 0);", "CHECK(is_even(0) == 1);",
      "CHECK(is_even(-3) == 0);", "CHECK(is_even(-8) == 1);"])

task("Returns n! (1 * 2 * ... * n) for 0 <= n <= 20; 0! is 1.",
     "long long factorial(int n);",
     "long long factorial(int n)\n{\n    long long r = 1;\n    for (int i = 2; i <= n; i++) {\n"
     "        r *= i;\n    }\n    return r;\n}\n",
     ["CHECK(factorial(5) == 120);", "CHECK(factorial(0) == 1);"],
     ["CHECK(factorial(5) == 120);", "CHECK(factorial(0) == 1);", "CHECK(factorial(1) == 1);",
      "CHECK(factorial(10) == 3628800);", "CHECK(factorial(20) == 2432902008176640000LL);"])

task("Returns the greatest common divisor of the non-negative integers a and b; gcd(0, 0) is 0.",
     "int gcd(int a, int b);",
     "int gcd(int a, int b)\n{\n    while (b != 0) {\n        int t = a % b;\n        a = b;\n"
     "        b = t;\n    }\n    return a;\n}\n",
     ["CHECK(gcd(12, 18) == 6);", "CHECK(gcd(7, 0) == 7);"],
     ["CHECK(gcd(12, 18) == 6);", "CHECK(gcd(7, 0) == 7);", "CHECK(gcd(0, 0) == 0);",
      "CHECK(gcd(0, 5) == 5);", "CHECK(gcd(17, 13) == 1);", "CHECK(gcd(100, 75) == 25);"])

task("Returns 1 if n is a prime number and 0 otherwise.",
     "int is_prime(int n);",
     "int is_prime(int n)\n{\n    if (n < 2) {\n        return 0;\n    }\n"
     "    for (int i = 2; i * i <= n; i++) {\n        if (n % i == 0) {\n            return 0;\n"
     "        }\n    }\n    return 1;\n}\n",
     ["CHECK(is_prime(7) == 1);", "CHECK(is_prime(9) == 0);"],
     ["CHECK(is_prime(7) == 1);", "CHECK(is_prime(9) == 0);", "CHECK(is_prime(1) == 0);",
      "CHECK(is_prime(2) == 1);", "CHECK(is_prime(0) == 0);", "CHECK(is_prime(-7) == 0);",
      "CHECK(is_prime(97) == 1);", "CHECK(is_prime(91) == 0);"])

task("Reverses the n integers of a in place.",
     "void reverse_array(int *a, int n);",
     "void reverse_array(int *a, int n)\n{\n    for (int i = 0, j = n - 1; i < j; i++, j--) {\n"
     "        int t = a[i];\n        a[i] = a[j];\n        a[j] = t;\n    }\n}\n",
     ["int a[] = {1, 2, 3};", "reverse_array(a, 3);", "CHECK(a[0] == 3 && a[1] == 2 && a[2] == 1);"],
     ["int a[] = {1, 2, 3};", "int b[] = {1, 2, 3, 4};", "int c[] = {5};", "int d[] = {9, 8};",
      "reverse_array(a, 3);", "CHECK(a[0] == 3 && a[1] == 2 && a[2] == 1);",
      "reverse_array(b, 4);", "CHECK(b[0] == 4 && b[1] == 3 && b[2] == 2 && b[3] == 1);",
      "reverse_array(c, 1);", "CHECK(c[0] == 5);", "reverse_array(d, 0);",
      "CHECK(d[0] == 9 && d[1] == 8);", "reverse_array(d, 2);", "CHECK(d[0] == 8 && d[1] == 9);"])

task("Returns the number of vowels (a, e, i, o, u in either case) in the string s.",
     "int count_vowels(const char *s);",
     "int count_vowels(const char *s)\n{\n    int n = 0;\n    for (; *s != '\\0'; s++) {\n"
     "        if (strchr(\"aeiouAEIOU\", *s) != NULL) {\n            n++;\n        }\n    }\n"
     "    return n;\n}\n",
     ["CHECK(count_vowels(\"kiln\") == 1);", "CHECK(count_vowels(\"AEIOU\") == 5);"],
     ["CHECK(count_vowels(\"kiln\") == 1);", "CHECK(count_vowels(\"AEIOU\") == 5);",
      "CHECK(count_vowels(\"\") == 0);", "CHECK(count_vowels(\"rhythm\") == 0);",
      "CHECK(count_vowels(\"Education\") == 5);"],
     includes="#include <string.h>\n")

task("Returns 1 if the string s reads the same forwards and backwards, 0 otherwise. The empty "
     "string is a palindrome.",
     "int is_palindrome(const char *s);",
     "int is_palindrome(const char *s)\n{\n    size_t n = strlen(s);\n"
     "    for (size_t i = 0; i < n / 2; i++) {\n        if (s[i] != s[n - 1 - i]) {\n"
     "            return 0;\n        }\n    }\n    return 1;\n}\n",
     ["CHECK(is_palindrome(\"level\") == 1);", "CHECK(is_palindrome(\"kiln\") == 0);"],
     ["CHECK(is_palindrome(\"level\") == 1);", "CHECK(is_palindrome(\"kiln\") == 0);",
      "CHECK(is_palindrome(\"\") == 1);", "CHECK(is_palindrome(\"a\") == 1);",
      "CHECK(is_palindrome(\"abba\") == 1);", "CHECK(is_palindrome(\"abca\") == 0);"],
     includes="#include <string.h>\n")

task("Returns the n-th Fibonacci number (fib(0) = 0, fib(1) = 1) for 0 <= n <= 40.",
     "int fib(int n);",
     "int fib(int n)\n{\n    int a = 0;\n    int b = 1;\n    for (int i = 0; i < n; i++) {\n"
     "        int t = a + b;\n        a = b;\n        b = t;\n    }\n    return a;\n}\n",
     ["CHECK(fib(0) == 0);", "CHECK(fib(10) == 55);"],
     ["CHECK(fib(0) == 0);", "CHECK(fib(1) == 1);", "CHECK(fib(2) == 1);", "CHECK(fib(10) == 55);",
      "CHECK(fib(20) == 6765);", "CHECK(fib(40) == 102334155);"])

task("Returns the sum of the decimal digits of n, ignoring its sign.",
     "int digit_sum(int n);",
     "int digit_sum(int n)\n{\n    int sum = 0;\n    if (n < 0) {\n        n = -n;\n    }\n"
     "    while (n > 0) {\n        sum += n % 10;\n        n /= 10;\n    }\n    return sum;\n}\n",
     ["CHECK(digit_sum(123) == 6);", "CHECK(digit_sum(-45) == 9);"],
     ["CHECK(digit_sum(123) == 6);", "CHECK(digit_sum(-45) == 9);", "CHECK(digit_sum(0) == 0);",
      "CHECK(digit_sum(9999) == 36);", "CHECK(digit_sum(1000) == 1);"])

task("Converts the lower-case ASCII letters of the string s to upper case, in place.",
     "void to_upper(char *s);",
     "void to_upper(char *s)\n{\n    for (; *s != '\\0'; s++) {\n        if (*s >= 'a' && *s <= 'z') {\n"
     "            *s = (char)(*s - 'a' + 'A');\n        }\n    }\n}\n",
     ["char s[] = \"kiln\";", "to_upper(s);", "CHECK(strcmp(s, \"KILN\") == 0);"],
     ["char s[] = \"kiln\";", "char t[] = \"Hello, World 42!\";", "char u[] = \"\";",
      "char v[] = \"az{`\";", "to_upper(s);", "CHECK(strcmp(s, \"KILN\") == 0);", "to_upper(t);",
      "CHECK(strcmp(t, \"HELLO, WORLD 42!\") == 0);", "to_upper(u);", "CHECK(u[0] == '\\0');",
      "to_upper(v);", "CHECK(strcmp(v, \"AZ{`\") == 0);"])

task("Returns the index of the first element of a (n elements) equal to x, or -1 if there is "
     "none.",
     "int index_of(const int *a, int n, int x);",
     "int index_of(const int *a, int n, int x)\n{\n    for (int i = 0; i < n; i++) {\n"
     "        if (a[i] == x) {\n            return i;\n        }\n    }\n    return -1;\n}\n",
     ["int a[] = {4, 7, 7};", "CHECK(index_of(a, 3, 7) == 1);", "CHECK(index_of(a, 3, 5) == -1);"],
     ["int a[] = {4, 7, 7};", "int b[] = {0, 1, 2, 3};", "CHECK(index_of(a, 3, 7) == 1);",
      "CHECK(index_of(a, 3, 5) == -1);", "CHECK(index_of(a, 0, 4) == -1);",
      "CHECK(index_of(b, 4, 3) == 3);", "CHECK(index_of(b, 4, 0) == 0);"])

task("Returns how many of the n integers in a are greater than zero.",
     "int count_positive(const int *a, int n);",
     "int count_positive(const int *a, int n)\n{\n    int c = 0;\n    for (int i = 0; i < n; i++) {\n"
     "        if (a[i] > 0) {\n            c++;\n        }\n    }\n    return c;\n}\n",
     ["int a[] = {-1, 2, 0, 5};", "CHECK(count_positive(a, 4) == 2);"],
     ["int a[] = {-1, 2, 0, 5};", "int b[] = {-3, -2};", "int c[] = {1, 1, 1};",
      "CHECK(count_positive(a, 4) == 2);", "CHECK(count_positive(b, 2) == 0);",
      "CHECK(count_positive(c, 3) == 3);", "CHECK(count_positive(c, 0) == 0);"])

task("Returns base raised to the power exp (exp >= 0); the result fits in a long long.",
     "long long power_int(long long base, int exp);",
     "long long power_int(long long base, int exp)\n{\n    long long r = 1;\n"
     "    for (int i = 0; i < exp; i++) {\n        r *= base;\n    }\n    return r;\n}\n",
     ["CHECK(power_int(2, 10) == 1024);", "CHECK(power_int(5, 0) == 1);"],
     ["CHECK(power_int(2, 10) == 1024);", "CHECK(power_int(5, 0) == 1);",
      "CHECK(power_int(-3, 3) == -27);", "CHECK(power_int(0, 5) == 0);",
      "CHECK(power_int(10, 12) == 1000000000000LL);", "CHECK(power_int(1, 1000) == 1);"])

task("Returns the index of x in the array a of n integers sorted in increasing order, using "
     "binary search, or -1 if x is not in a.",
     "int binary_search(const int *a, int n, int x);",
     "int binary_search(const int *a, int n, int x)\n{\n    int lo = 0;\n    int hi = n - 1;\n"
     "    while (lo <= hi) {\n        int mid = lo + (hi - lo) / 2;\n        if (a[mid] == x) {\n"
     "            return mid;\n        }\n        if (a[mid] < x) {\n            lo = mid + 1;\n"
     "        } else {\n            hi = mid - 1;\n        }\n    }\n    return -1;\n}\n",
     ["int a[] = {1, 3, 5, 7, 9};", "CHECK(binary_search(a, 5, 7) == 3);",
      "CHECK(binary_search(a, 5, 4) == -1);"],
     ["int a[] = {1, 3, 5, 7, 9};", "int b[] = {2};", "CHECK(binary_search(a, 5, 7) == 3);",
      "CHECK(binary_search(a, 5, 4) == -1);", "CHECK(binary_search(a, 5, 1) == 0);",
      "CHECK(binary_search(a, 5, 9) == 4);", "CHECK(binary_search(a, 0, 1) == -1);",
      "CHECK(binary_search(b, 1, 2) == 0);", "CHECK(binary_search(a, 5, 10) == -1);"])

task("Returns the number of words in the string s; words are runs of characters other than "
     "spaces.",
     "int count_words(const char *s);",
     "int count_words(const char *s)\n{\n    int n = 0;\n    int in_word = 0;\n"
     "    for (; *s != '\\0'; s++) {\n        if (*s == ' ') {\n            in_word = 0;\n"
     "        } else if (!in_word) {\n            in_word = 1;\n            n++;\n        }\n    }\n"
     "    return n;\n}\n",
     ["CHECK(count_words(\"one two three\") == 3);", "CHECK(count_words(\"\") == 0);"],
     ["CHECK(count_words(\"one two three\") == 3);", "CHECK(count_words(\"\") == 0);",
      "CHECK(count_words(\"   \") == 0);", "CHECK(count_words(\"  lead and trail  \") == 3);",
      "CHECK(count_words(\"word\") == 1);", "CHECK(count_words(\"a  b\") == 2);"])

task("Returns the larger of a and b.",
     "int max_int(int a, int b);",
     "int max_int(int a, int b)\n{\n    return a > b ? a : b;\n}\n",
     ["CHECK(max_int(3, 9) == 9);", "CHECK(max_int(4, -1) == 4);"],
     ["CHECK(max_int(3, 9) == 9);", "CHECK(max_int(4, -1) == 4);", "CHECK(max_int(-5, -2) == -2);",
      "CHECK(max_int(7, 7) == 7);", "CHECK(max_int(0, 1) == 1);"])


HEAD = ("#include <stdio.h>\n#include <string.h>\n\n"
        "#define CHECK(x)                                                          \\\n"
        "    do {                                                                  \\\n"
        "        if (!(x)) {                                                       \\\n"
        "            fprintf(stderr, \"line %d: check failed: %s\\n\", __LINE__, #x); \\\n"
        "            return 1;                                                     \\\n"
        "        }                                                                 \\\n"
        "    } while (0)\n\n")


def test_file(t, checks):
    return (HEAD + t["proto"] + "\n\nint main(void)\n{\n" +
            "".join("    " + c + "\n" for c in checks) + "    return 0;\n}\n")


def prompt(t):
    words = t["comment"].split()
    lines = []
    cur = "/*"
    for w in words:
        if len(cur) + 1 + len(w) > 96:
            lines.append(cur)
            cur = " *"
        cur += " " + w
    if len(lines) == 0:
        return t["includes"] + cur + " */\n" + t["proto"] + "\n"
    lines.append(cur)
    return t["includes"] + "\n".join(lines) + "\n */\n" + t["proto"] + "\n"


def main():
    out = open(sys.argv[1], "w")
    for i, t in enumerate(T):
        entry = t["proto"].split("(")[0].split()[-1].lstrip("*")
        obj = {"task_id": "kiln/c/%d" % i, "language": "c", "prompt": prompt(t),
               "entry_point": entry, "canonical_solution": "\n" + t["body"],
               "test": test_file(t, t["hidden"]), "visible_tests": test_file(t, t["visible"])}
        out.write(json.dumps(obj) + "\n")
    print(len(T), "c tasks", file=sys.stderr)


main()

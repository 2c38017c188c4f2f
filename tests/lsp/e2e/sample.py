def area(width, height):
    """Area of a rectangle."""
    return width * height


def fib(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def main():
    total = 
    print(total)


def add(a, b):
    """Return the sum of a and b.
    >>> add(2, 3)
    5
    >>> add(-1, 1)
    0
    """
    pass

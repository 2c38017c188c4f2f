# kiln sandbox wire codec, shared by both harness scripts (pasted in front of each).
# Frames are 8 hex digits of length, then the payload. Values are encoded with exact types
# only (a subclass of int is refused, so an object whose __eq__ always returns True cannot
# cross): N T F None/True/False, i<hex>; int, f<float.hex>; float, c<re>;<im>; complex,
# s<n>:<utf-8> str, b<n>:<bytes> bytes, l<n>; t<n>; S<n>; Z<n>; list/tuple/set/frozenset of
# n items, d<n>; dict of n key/value pairs.
import os


class Unsupported(Exception):
    pass


def _read_exact(fd, n):
    parts = []
    while n > 0:
        b = os.read(fd, min(n, 1 << 20))
        if not b:
            raise EOFError('channel closed')
        parts.append(b)
        n -= len(b)
    return b''.join(parts)


def read_frame(fd, limit=1 << 26):
    n = int(_read_exact(fd, 8), 16)
    if n > limit:
        raise ValueError('frame of %d bytes is too large' % n)
    return _read_exact(fd, n)


def write_frame(fd, data):
    data = b'%08x' % len(data) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


_SEQ = {list: b'l', tuple: b't', set: b'S', frozenset: b'Z'}


def _enc(x, out, depth):
    if depth > 100:
        raise Unsupported('value nested too deeply')
    t = type(x)
    if x is None:
        out.append(b'N')
    elif t is bool:
        out.append(b'T' if x else b'F')
    elif t is int:
        out.append(b'i%x;' % x)
    elif t is float:
        out.append(b'f' + x.hex().encode() + b';')
    elif t is complex:
        out.append(b'c' + x.real.hex().encode() + b';' + x.imag.hex().encode() + b';')
    elif t is str:
        e = x.encode('utf-8', 'surrogatepass')
        out.append(b's%d:' % len(e))
        out.append(e)
    elif t is bytes:
        out.append(b'b%d:' % len(x))
        out.append(x)
    elif t in _SEQ:
        out.append(_SEQ[t] + b'%d;' % len(x))
        for v in x:
            _enc(v, out, depth + 1)
    elif t is dict:
        out.append(b'd%d;' % len(x))
        for k, v in x.items():
            _enc(k, out, depth + 1)
            _enc(v, out, depth + 1)
    else:
        raise Unsupported(t.__name__)


def encode(x):
    out = []
    _enc(x, out, 0)
    return b''.join(out)


def _count(b, i):
    j = b.index(b';', i)
    n = int(b[i:j])
    if n < 0 or n > len(b):
        raise ValueError('bad count')
    return n, j + 1


def _dec(b, i, depth):
    if depth > 100:
        raise ValueError('value nested too deeply')
    c = b[i:i + 1]
    i += 1
    if c == b'N':
        return None, i
    if c == b'T':
        return True, i
    if c == b'F':
        return False, i
    if c == b'i':
        j = b.index(b';', i)
        return int(b[i:j], 16), j + 1
    if c == b'f':
        j = b.index(b';', i)
        return float.fromhex(b[i:j].decode('ascii')), j + 1
    if c == b'c':
        j = b.index(b';', i)
        k = b.index(b';', j + 1)
        return complex(float.fromhex(b[i:j].decode('ascii')),
                       float.fromhex(b[j + 1:k].decode('ascii'))), k + 1
    if c == b's' or c == b'b':
        j = b.index(b':', i)
        n = int(b[i:j])
        if n < 0 or j + 1 + n > len(b):
            raise ValueError('truncated string')
        s = b[j + 1:j + 1 + n]
        return (s.decode('utf-8', 'surrogatepass') if c == b's' else s), j + 1 + n
    if c in (b'l', b't', b'S', b'Z'):
        n, i = _count(b, i)
        items = []
        for _ in range(n):
            v, i = _dec(b, i, depth + 1)
            items.append(v)
        if c == b'l':
            return items, i
        if c == b't':
            return tuple(items), i
        return (set(items) if c == b'S' else frozenset(items)), i
    if c == b'd':
        n, i = _count(b, i)
        d = {}
        for _ in range(n):
            k, i = _dec(b, i, depth + 1)
            v, i = _dec(b, i, depth + 1)
            d[k] = v
        return d, i
    raise ValueError('bad tag %r' % c)


def decode(b):
    v, i = _dec(b, 0, 0)
    if i != len(b):
        raise ValueError('trailing bytes')
    return v

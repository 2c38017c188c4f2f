# kiln sandbox: the tests side. Runs the tests in this process and calls the candidate's
# functions through proxies that send plain values to the candidate's process and decode its
# answers, so every assert is evaluated here, where the candidate's code never runs. Reports
# one record per test on fd 3. fd 0: the job, fd 4: answers from the candidate, fd 5: requests
# to it. Tests are: a check(candidate) function (HumanEval), test_* functions, or top-level
# assert statements (MBPP), each assert its own test.
import sys
import time
import builtins
import _ast

RES = 3


class CandidateGone(BaseException):
    """The candidate's process died or stopped answering; derived from BaseException so that a
    test's `except Exception` cannot swallow it."""


class CandidateProtocolError(BaseException):
    """The candidate answered with something that is not a plain value."""


class CandidateError(Exception):
    """An exception of a type that is not a builtin, raised in the candidate."""


def _esc(s):
    return s.replace('\\', '\\\\').replace('\t', '\\t').replace('\n', '\\n')


def _record(*fields):
    line = '\t'.join(_esc(str(f)) for f in fields) + '\n'
    data = line.encode('utf-8', 'replace')
    while data:
        n = os.write(RES, data)
        data = data[n:]


_state = {'gone': None}


def _call(name, args, kwargs):
    if _state['gone'] is not None:
        raise CandidateGone(_state['gone'])
    try:
        req = encode(('c', name, list(args), dict(kwargs)))
    except Unsupported as u:
        raise TypeError('kiln proxy: an argument of type %s cannot be sent to the candidate'
                        % u) from None
    try:
        write_frame(5, req)
        ans = decode(read_frame(4))
    except (OSError, EOFError, ValueError, IndexError, TypeError, RecursionError) as e:
        _state['gone'] = 'the candidate process exited or sent garbage (%s)' % type(e).__name__
        raise CandidateGone(_state['gone']) from None
    kind = ans[0] if type(ans) is tuple and ans else None
    if kind == 'r' and len(ans) == 2:
        return ans[1]
    if kind == 'x' and len(ans) == 3 and type(ans[1]) is str:
        cls = getattr(builtins, ans[1], None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = CandidateError
        raise cls('%s (raised in the candidate)' % (ans[2],))
    if kind == 'u':
        raise CandidateProtocolError('the candidate returned a value of unsupported type %s'
                                     % (ans[1],))
    if kind == 'g':
        _state['gone'] = 'the candidate raised %s' % (ans[1],)
        raise CandidateGone(_state['gone'])
    _state['gone'] = 'the candidate sent a malformed answer'
    raise CandidateGone(_state['gone'])


def _proxy(name):
    def proxy(*args, **kwargs):
        return _call(name, args, kwargs)
    proxy.__name__ = name
    proxy.__qualname__ = name
    return proxy


def _where(tb, lines):
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == 'tests.py':
            line = tb.tb_lineno
        tb = tb.tb_next
    if 0 < line <= len(lines):
        return 'line %d: %s' % (line, lines[line - 1].strip())
    return ''


def _run(name, fn, lines):
    t0 = time.perf_counter()
    try:
        fn()
        status, msg = 'passed', ''
    except AssertionError as e:
        status = 'failed'
        msg = _where(e.__traceback__, lines)
        if str(e):
            msg += ': ' + str(e)[:2000]
    except BaseException as e:
        status = 'error'
        msg = '%s: %s' % (type(e).__name__, str(e)[:2000])
        w = _where(e.__traceback__, lines)
        if w:
            msg = w + ': ' + msg
    _record('test', status, '%.3f' % ((time.perf_counter() - t0) * 1000.0), name, msg)


def _main():
    job = decode(read_frame(0))
    src, entry = job[0], job[1]
    lines = src.splitlines()
    try:
        tree = compile(src, 'tests.py', 'exec', _ast.PyCF_ONLY_AST)
    except SyntaxError as e:
        _record('tests_error', 'line %s: %s' % (e.lineno, e.msg))
        return
    try:
        hello = decode(read_frame(4))
    except (OSError, EOFError, ValueError, IndexError, TypeError, RecursionError) as e:
        _record('load_error', 'the candidate process exited while loading')
        return
    if type(hello) is not tuple or len(hello) != 2 or hello[0] not in ('ok', 'err'):
        _record('load_error', 'the candidate process sent a malformed greeting')
        return
    if hello[0] == 'err':
        _record('load_error', str(hello[1]))
        return
    names = hello[1] if type(hello[1]) is list else []
    if entry not in names:
        _record('load_error', 'the candidate does not define %s' % entry)
        return
    g = {'__name__': '__kiln_tests__', '__builtins__': builtins}
    for n in names:
        if type(n) is str and n.isidentifier():
            g[n] = _proxy(n)
    g['candidate'] = _proxy(entry)
    n_tests = 0
    for node in tree.body:
        code = compile(_ast.Module(body=[node], type_ignores=[]), 'tests.py', 'exec')
        if isinstance(node, _ast.Assert):
            n_tests += 1
            _run('assert@L%d' % node.lineno, lambda c=code: exec(c, g), lines)
            continue
        try:
            exec(code, g)
        except BaseException as e:
            n_tests += 1
            msg = '%s: %s' % (type(e).__name__, str(e)[:2000])
            _record('test', 'error', '0', 'line@L%d' % node.lineno,
                    'line %d: %s' % (node.lineno, msg))
    check = g.get('check')
    if callable(check) and getattr(check, '__module__', None) == '__kiln_tests__':
        n_tests += 1
        _run('check', lambda: check(_proxy(entry)), lines)
    else:
        for k, v in list(g.items()):
            if k.startswith('test') and callable(v) and \
                    getattr(v, '__module__', None) == '__kiln_tests__':
                n_tests += 1
                _run(k, v, lines)
    if n_tests == 0:
        _record('tests_error', 'no tests: define check(candidate), test_* functions or '
                'top-level asserts')
        return
    _record('done')


try:
    _main()
finally:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
os._exit(0)

# kiln sandbox: the candidate side. Loads the candidate's source into a fresh namespace and
# answers call requests from the tests process with plain values of exact types. Nothing this
# process sends can decide a verdict: the tests process only ever treats it as a return value
# or an exception. fd 0: the job (read once), fd 1/2: captured output, fd 3: requests from the
# tests process, fd 4: answers to it.
import sys


def _main():
    job = decode(read_frame(0))
    # Python ignores SIGXFSZ; the default action lets the sandbox report the file size limit.
    import _signal
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    src, entry = job[0], job[1]
    try:
        devnull = os.open('/dev/null', os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
    except OSError:
        pass
    g = {'__name__': 'candidate', '__builtins__': __builtins__}
    try:
        code = compile(src, 'candidate.py', 'exec')
        exec(code, g)
    except BaseException as e:
        msg = '%s: %s' % (type(e).__name__, e)
        _flush()
        write_frame(4, encode(('err', msg[:4000])))
        os._exit(0)
    names = [k for k, v in list(g.items()) if type(k) is str and callable(v)
             and not k.startswith('__')]
    _flush()
    write_frame(4, encode(('ok', names)))
    while True:
        try:
            req = decode(read_frame(3))
        except EOFError:
            os._exit(0)
        name, args, kwargs = req[1], req[2], req[3]
        try:
            fn = g[name]
            r = fn(*args, **kwargs)
            try:
                ans = encode(('r', r))
            except Unsupported as u:
                ans = encode(('u', str(u)))
            except RecursionError:
                ans = encode(('u', 'value nested too deeply'))
        except Exception as e:
            try:
                m = str(e)[:4000]
            except BaseException:
                m = '?'
            ans = encode(('x', type(e).__name__, m))
        except BaseException as e:
            ans = encode(('g', type(e).__name__))
        _flush()
        write_frame(4, ans)


def _flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass


_main()

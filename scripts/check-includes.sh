#!/usr/bin/env bash
# Rejects cross-module includes of private headers: outside a module, only its public headers
# may be included: <folder>/<prefix>.h, plus the CUDA engine's interface (kernels/cuda/
# kern_cuda.h, which gen/ drives). Tests of a module (tests/<module>/) and the fuzz
# targets may include the private headers of the module they test.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A public=([core]=core.h [kernels]="kern.h cuda/kern_cuda.h" [gen]=gen.h [solve]=solve.h
                   [grammar]=gram.h [sandbox]=sbx.h [eval]=eval.h [lsp]=lsp.h [cli]=cli.h
                   [http]=http.h [patch]=patch.h)
bad=0
while IFS=: read -r file _ inc; do
    target=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$inc")
    mod=${target%%/*}
    [[ -n ${public[$mod]+x} ]] || continue
    ok=0
    for name in ${public[$mod]}; do
        [[ $target == "$mod/$name" ]] && ok=1
    done
    [[ $ok == 1 ]] && continue
    src=${file%%/*}
    [[ $src == "$mod" ]] && continue
    [[ $file == tests/$mod/* || $file == tests/fuzz/* ]] && continue
    [[ $mod == kernels && $file == kernels/* ]] && continue
    echo "$file includes $target: outside $mod/, include only ${public[$mod]} of $mod/" >&2
    bad=1
done < <(git ls-files '*.c' '*.h' '*.cu' | xargs grep -Hn '^#include "' || true)
exit $bad

# Writes OUT, a C file defining the harness scripts as byte arrays (codec.py in front of each
# side's script) and the C stub's runtime (cstub/rt.c), so the library needs no installed
# files. Run by sandbox/CMakeLists.txt.
function(kiln_embed_one var)
    set(text "")
    foreach(f ${ARGN})
        file(READ ${f} hex HEX)
        string(APPEND text "${hex}")
    endforeach()
    string(LENGTH "${text}" n_hex)
    math(EXPR n "${n_hex} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${text}")
    string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
        body "${body}")
    set(code "const char ${var}[] = {\n${body}0x00};\nconst size_t ${var}_len = ${n};\n")
    set(out_text "${out_text}${code}" PARENT_SCOPE)
endfunction()

set(out_text "/* Generated from the scripts in sandbox/harness by sandbox/embed.cmake; do not edit. */\n")
string(APPEND out_text "#include \"sandbox/sbx_int.h\"\n\n")
kiln_embed_one(sbx__harness_tests_py ${DIR}/codec.py ${DIR}/tests.py)
kiln_embed_one(sbx__harness_cand_py ${DIR}/codec.py ${DIR}/cand.py)
kiln_embed_one(sbx__harness_zygote_py ${DIR}/zygote.py)
kiln_embed_one(sbx__cstub_rt_c ${DIR}/../cstub/rt.c)
file(WRITE ${OUT}.tmp "${out_text}")
file(RENAME ${OUT}.tmp ${OUT})

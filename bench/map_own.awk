# Bytes of .text and .rodata that a GNU ld map file (-Wl,-Map=...) shows as
# kept from the objects whose file name matches the regular expression OBJ:
#   awk -v OBJ='^(ih|x)_' -f bench/map_own.awk app.map
# The size benches use it for their "own" column (our code without the C
# library). Input sections are listed either on one line (name, address,
# size, object) or, for long names, with the name alone and the rest on the
# next line.
function hex(s,  i, v) {
    v = 0
    s = tolower(substr(s, 3))
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
}
/^Linker script and memory map/ { m = 1; next }
!m { next }
$1 ~ /^\.(text|rodata)/ && NF == 1 { p = 1; next }
$1 ~ /^\.(text|rodata)/ && NF >= 4 && $2 ~ /^0x/ { f = $4; z = $3 }
p && NF == 3 && $1 ~ /^0x/ { f = $3; z = $2 }
{ p = 0 }
f != "" { n = split(f, a, "/"); if (a[n] ~ OBJ) t += hex(z); f = "" }
END { print t + 0 }

# Sourced by bench/run and bench/instructions.
#
# A server on this machine is reached without TLS unless the URL chooses
# (`sslmode=`): Debian's PostgreSQL has ssl = on, and libpq's default
# (`prefer`) then encrypted every statement and row over loopback, which
# cost a third of the PostgreSQL figures (docs/BENCHMARKS.md, session 48). Across a
# network keep TLS; the bench measures Patron, not the cipher.
plain_on_loopback() {
    local url=$1 rest host
    rest=${url#*://}
    rest=${rest%%/*}
    host=${rest##*@}
    if [[ $host == \[* ]]; then host=${host%%]*}]; else host=${host%:*}; fi
    if [[ $url != *sslmode=* && ($host == 127.0.0.1 || $host == localhost || $host == "[::1]") ]]; then
        [[ $url == *\?* ]] && url="$url&sslmode=disable" || url="$url?sslmode=disable"
    fi
    echo "$url"
}

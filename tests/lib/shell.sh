# Helpers every bash test script shares (sourced).
#
# grep_all GREP-ARGS...: grep that reads all of its standard input before it
# answers. Test scripts run with `set -o pipefail`, where `cmd | grep -q x`
# fails at random: grep -q exits at the first match, and if cmd is still
# writing it dies of SIGPIPE, which pipefail turns into the pipeline's status
# (hub_c2d failed in CI this way). `cmd | grep_all -q x` keeps cmd's own exit
# status and never closes the pipe early.
grep_all() { local in; in=$(cat); grep "$@" <<<"$in"; }

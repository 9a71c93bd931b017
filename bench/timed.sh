# Sourced by the bench scripts. `timed LABEL CMD...` runs CMD under GNU time (exit 0 or 1 is a
# result; anything else stops the bench with CMD's errors), its output in $work/out-LABEL.txt,
# and leaves its wall time in seconds in WALL and its peak resident memory in MiB in RSS.
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time (GNU time) is needed: apt-get install time" >&2; exit 2; }
timed() {
  local label=$1
  shift
  set +e
  /usr/bin/time -v -o "$work/time-$label.txt" "$@" > "$work/out-$label.txt" 2> "$work/err-$label.txt"
  local code=$?
  set -e
  [ "$code" -le 1 ] || { cat "$work/err-$label.txt" >&2; exit "$code"; }
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {
      n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$work/time-$label.txt")
  RSS=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$work/time-$label.txt")
}

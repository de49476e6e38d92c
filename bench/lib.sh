# Shared by the benchmark scripts: source it.

# The port a server started on port 0 printed in its log: the first match of
# the sed pattern (one \( \) group around the digits).
port_in() {
  local log=$1 pattern=$2 port
  for _ in $(seq 400); do
    port=$(sed -n "s/$pattern/\1/p" "$log" 2>/dev/null | head -n 1)
    [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.05
  done
  echo "no listening port in $log" >&2
  exit 1
}

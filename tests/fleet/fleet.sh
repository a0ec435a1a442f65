#!/usr/bin/env bash
# A fire-drill fleet: test hosts as Linux network namespaces on a private bridge, each with its own
# address, hostname (a UTS namespace), sshd and host key, named like the manuals' servers.
# Root only. Everything it starts is recorded under DIR and stopped by `down`.
#
#   fleet.sh up DIR K NAME...       bridge mcbrK, subnet 10.213.K.0/24, one namespace per NAME
#   fleet.sh start DIR NAME UNIT    start a service unit on a host (through the systemctl stand-in)
#   fleet.sh exec DIR NAME CMD...   run a command inside a host's namespace
#   fleet.sh link DIR NAME up|down  cut a host off the network, or reconnect it
#   fleet.sh fs DIR NAME MB PATH     mount a small ext4 file system (a loop device) at PATH, on
#                                   that host only (its own mount namespace)
#   fleet.sh down DIR               stop everything started here, delete namespaces and bridge
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need() { command -v "$1" >/dev/null || { echo "fleet: \`$1\` is missing: $2" >&2; exit 2; }; }

up() {
  local dir=$1 k=$2; shift 2
  [ "$(id -u)" -eq 0 ] || { echo "fleet: network namespaces need root (CI runs as root)" >&2; exit 2; }
  need ip "apt-get install -y iproute2"; need unshare "apt-get install -y util-linux"
  need /usr/sbin/sshd "apt-get install -y openssh-server"; need openssl "apt-get install -y openssl"
  mkdir -p "$dir/bin" "$dir/run"
  echo "$k" > "$dir/k"
  local br="mcbr$k" net="10.213.$k"
  ip link add "$br" type bridge
  echo "link $br" >> "$dir/created"
  ip addr add "$net.1/24" dev "$br"
  ip link set "$br" up
  # The subnet exists only on this bridge: nothing for it may leave the machine.
  ip route add unreachable "10.213.$k.0/24" metric 4000 2>/dev/null || true
  # A gateway that goes nowhere: every host has a default route, as a real one does, through
  # a namespace of the fleet's own with no uplink and no forwarding, so nothing leaves.
  ip netns add "mc$k-gw"
  echo "netns mc$k-gw" >> "$dir/created"
  ip link add "mc${k}vgw" type veth peer name eth0 netns "mc$k-gw"
  echo "link mc${k}vgw" >> "$dir/created"
  ip link set "mc${k}vgw" master "$br" up
  ip -n "mc$k-gw" addr add "$net.254/24" dev eth0
  ip -n "mc$k-gw" link set eth0 up
  # The fleet's own certificate authority: services' certificates are signed by it, and curl on
  # the hosts (CURL_CA_BUNDLE) trusts it and nothing else.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=megacity fleet test CA $k" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  cp "$here/systemctl" "$dir/bin/systemctl"
  cp "$here/nginx" "$dir/bin/nginx"
  cp "$here/journalctl" "$dir/bin/journalctl"
  cp "$here/nvidia-smi" "$dir/bin/nvidia-smi"
  cp "$here/modprobe" "$dir/bin/modprobe"
  cp "$here/app-server" "$dir/bin/app-server"
  chmod +x "$dir/bin/"*
  : > "$dir/known_hosts"; : > "$dir/ssh_config"; : > "$dir/hosts"
  mkdir -p /run/sshd
  if [ -f /usr/share/base-files/dot.bashrc ]; then cp /usr/share/base-files/dot.bashrc "$dir/bashrc"; else : > "$dir/bashrc"; fi
  printf '127.0.0.1 localhost\n' > "$dir/etc-hosts"
  local i=10
  for name in "$@"; do
    i=$((i + 1))
    echo "$net.$i $name" >> "$dir/etc-hosts"
  done
  i=10
  for name in "$@"; do
    i=$((i + 1))
    local ns="mc$k-$name" ip="$net.$i" h="$dir/$name"
    mkdir -p "$h/units" "$h/run"
    echo "$name $ip" >> "$dir/hosts"
    ip netns add "$ns"
    echo "netns $ns" >> "$dir/created"
    ip link add "mc${k}v$i" type veth peer name eth0 netns "$ns"
    echo "link mc${k}v$i" >> "$dir/created"
    ip link set "mc${k}v$i" master "$br" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$net.254"
    ssh-keygen -q -t ed25519 -N '' -f "$h/host_key"
    cat > "$h/sshd_config" <<CONF
ListenAddress $ip
Port 22
HostKey $h/host_key
PidFile $h/run/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
MaxSessions 20
MaxStartups 200
LogLevel VERBOSE
SetEnv PATH=$dir/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin FLEET_DIR=$dir FLEET_HOST=$name CURL_CA_BUNDLE=$dir/ca.pem MEGACITY_LOCK_DIR=$h/run
CONF
    # Its own hostname (UTS namespace), its own /etc/hosts naming the fleet, and root's stock
    # Debian ~/.bashrc in place of this machine's (mount namespace): sshd runs every command
    # through `bash -c`, which reads ~/.bashrc, and a developer's one (pyenv, cargo) costs
    # ~130 ms per session that a server's would not.
    setsid ip netns exec "$ns" unshare --uts --mount --propagation private sh -c \
      "mount --bind $dir/etc-hosts /etc/hosts && { [ ! -f /root/.bashrc ] || mount --bind $dir/bashrc /root/.bashrc; } && hostname $name && exec /usr/sbin/sshd -D -f $h/sshd_config -E $h/sshd.log" \
      </dev/null >/dev/null 2>&1 &
    echo "$!" >> "$dir/pids"
    echo "$ip $(cut -d' ' -f1,2 "$h/host_key.pub")" >> "$dir/known_hosts"
    printf 'Host %s\n  HostName %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 3\n  LogLevel ERROR\n' \
      "$name" "$ip" "$dir/client_key" "$dir/known_hosts" >> "$dir/ssh_config"
  done
  # Wait until every sshd answers.
  for name in "$@"; do
    local ip; ip=$(awk -v n="$name" '$1 == n {print $2}' "$dir/hosts")
    for _ in $(seq 1 100); do
      ip netns exec "mc$k-$name" bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null && break
      sleep 0.05
    done
  done
}

ns_of() { echo "mc$(cat "$1/k")-$2"; }
ip_of() { awk -v n="$2" '$1 == n {print $2}' "$1/hosts"; }

start() {
  local dir=$1 name=$2 unit=$3
  ip netns exec "$(ns_of "$dir" "$name")" env FLEET_DIR="$dir" FLEET_HOST="$name" "$dir/bin/systemctl" start "$unit"
}

down() {
  local dir=$1
  # Services first (their pid files, each with its unit's stop signal), then the sshds, then the
  # namespaces and the bridge. PostgreSQL gets a moment to shut down cleanly (and remove its
  # shared memory); whatever is left in a namespace is killed with it.
  local waitfor=()
  for pidfile in "$dir"/*/run/*.pid; do
    [ -f "$pidfile" ] || continue
    local unit host sig=TERM pid
    unit=$(basename "$pidfile" .pid); host=$(basename "$(dirname "$(dirname "$pidfile")")")
    [ -f "$dir/$host/units/$unit.signal" ] && sig=$(cat "$dir/$host/units/$unit.signal")
    pid=$(cat "$pidfile")
    kill -s "$sig" "$pid" 2>/dev/null && waitfor+=("$pid")
  done
  if [ -f "$dir/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$dir/pids"
  fi
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${waitfor[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  if [ -f "$dir/created" ]; then
    tac "$dir/created" | while read -r kind name; do
      case $kind in
        netns) ip netns pids "$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns del "$name" 2>/dev/null || true ;;
        link) ip link del "$name" 2>/dev/null || true ;;
      esac
    done
  fi
  [ -f "$dir/k" ] && ip route del unreachable "10.213.$(cat "$dir/k").0/24" 2>/dev/null || true
}

case ${1:-} in
  up) shift; up "$@" ;;
  start) shift; start "$@" ;;
  exec) dir=$2 name=$3; shift 3; ip netns exec "$(ns_of "$dir" "$name")" env FLEET_DIR="$dir" FLEET_HOST="$name" PATH="$dir/bin:$PATH" "$@" ;;
  link) ip -n "$(ns_of "$2" "$3")" link set eth0 "$4" ;;
  ip) ip_of "$2" "$3" ;;
  fs)
    dir=$2 name=$3 mb=$4 target=$5
    img="$dir/$name/fs-$mb.img"
    dd if=/dev/zero of="$img" bs=1M count="$mb" status=none
    mkfs.ext4 -q -F "$img"
    # The loop mount lives in the host's mount namespace and goes when the host goes.
    nsenter -t "$(cat "$dir/$name/run/sshd.pid")" -m sh -c "mkdir -p $target && mount -o loop $img $target"
    ;;
  nsexec) dir=$2 name=$3; shift 3; nsenter -t "$(cat "$dir/$name/run/sshd.pid")" -m -n -u "$@" ;;
  down) down "$2" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
